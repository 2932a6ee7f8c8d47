"""Fuzzing with schemathesis against infra/openapi.yaml on the local stack, authenticated as the
administrator: no 5xx, every answer conforms to the documented status codes, content types and
schemas, and the table holds no half-written operation afterwards (invariants.py)."""
import json
import subprocess

import requests

from conftest import ROOT
from invariants import violations

# Where each operation is aimed at in the seeded run: real resources, so the fuzzer gets past the
# 404s into validation and business logic. Deletes aim at a subtree of their own.
SEEDED = {
    "api-keys-create": "fuzz.key1", "api-keys-delete": "fuzz.key1", "api-keys-list": "fuzz",
    "status-credential-create": "fuzz.t.status.c2", "status-credential-entries": "fuzz.t.status.c",
    "status-credential-update": "fuzz.t.status.c", "status-credential-view": "fuzz.t.status.c",
    "keys-delete": "fuzz.scratch.kms.k", "keys-generate": "fuzz.t.kms.k2", "keys-import-aws": "fuzz.t.kms.k3",
    "keys-list": "fuzz.t.kms", "keys-view": "fuzz.t.kms.k",
    "resources-delete": "fuzz.scratch.x", "resources-delete-recursive": "fuzz.scratch",
    "resources-list": "fuzz.t", "services-create": "fuzz.t.svc", "tenants-create": "fuzz.t.sub",
    "roles-create": "fuzz.r1", "roles-list": "fuzz",
    "x509-document-signers-issue": "fuzz.t.x509", "x509-iacas-issue": "fuzz.t.x509",
    "store-certificates-delete": "fuzz.t.store.c1", "store-certificates-get": "fuzz.t.store.c1",
    "store-certificates-add": "fuzz.t.store", "store-certificates-update": "fuzz.t.store.c1",
    "store-certificates-ids": "fuzz.t.store",
    "configuration-update": "fuzz.t.status", "configuration-view": "fuzz.t.status",
    "dependencies-add": "fuzz.t.x509", "dependencies-list": "fuzz.t.x509", "dependencies-remove": "fuzz.t.x509",
}
API = {"configuration-update": "credential-status-service-api", "configuration-view": "credential-status-service-api",
       "dependencies-add": "x509-service-api", "dependencies-list": "x509-service-api",
       "dependencies-remove": "x509-service-api"}
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def seed(api, stack):
    api.org("fuzz")
    for t in ("fuzz.t", "fuzz.scratch"):
        api.tenant(t)
    api.service("fuzz.t.kms", "kms")
    api.service("fuzz.scratch.kms", "kms")
    api.service("fuzz.t.store", "x509-store")
    api.service("fuzz.t.x509", "x509-service", dependencies=["fuzz.t.kms", "fuzz.t.store"])
    api.service("fuzz.t.status", "credential-status", dependencies=["fuzz.t.kms"], config={"registry": {
        "type": "aws", "bucketName": "status-lists", "region": "us-east-1", "endpointUrl": stack.moto_url,
        "accessKeyId": "test", "secretKey": "test"}})
    for k in ("fuzz.t.kms.k", "fuzz.scratch.kms.k"):
        assert api.post(f"/v1/{k}/kms-service-api/keys/generate", json={"keyType": "secp256r1"}).status_code == 201
    r = api.post("/v1/fuzz.t.status.c/credential-status-service-api/status-credential/create",
                 json={"kid": "fuzz.t.kms.k", "config": {"type": "TokenStatusList"}})
    assert r.status_code == 201, r.text
    assert api.post("/v1/fuzz.t.status.c/credential-status-service-api/status-credential/entries",
                    json={"count": 10}).status_code == 201


def invocations(stack):
    m = requests.get(f"{stack.api_url}/_local/metrics", timeout=10).json()
    return sum(i["invocations"] for instances in m.values() for i in instances)


def schemathesis(stack, tmp_path, name, config, examples):
    cfg = tmp_path / f"{name}.toml"
    cfg.write_text(config)
    r = subprocess.run([str(ROOT / ".tools/venv/bin/schemathesis"), "--config-file", str(cfg), "run",
                        str(ROOT / "infra/openapi.yaml"), "--url", stack.api_url,
                        "-H", f"Authorization: Bearer {stack.admin_token}", "--checks", CHECKS,
                        "--phases", "examples,fuzzing", "--max-examples", str(examples), "--workers", "2",
                        "--seed", "20261124", "--suppress-health-check", "all", "--no-color"],
                       capture_output=True, text=True, timeout=1800, cwd=ROOT)
    (stack.log_dir / f"schemathesis-{name}.log").write_text(r.stdout + r.stderr)
    return r


def test_fuzzing_finds_no_server_error_and_no_schema_violation(api, stack, ddb, tmp_path):
    seed(api, stack)
    before = invocations(stack)
    seeded = ""
    for op, target in SEEDED.items():
        params = {"target": target, **({"api": API[op]} if op in API else {})}
        inline = ", ".join(f"{k} = {json.dumps(v)}" for k, v in params.items())
        seeded += f'[[operations]]\ninclude-operation-id = "{op}"\nparameters = {{ {inline} }}\n\n'
    runs = {"seeded": (seeded, 40), "random": ("", 20)}
    for name, (config, examples) in runs.items():
        r = schemathesis(stack, tmp_path, name, config, examples)
        assert r.returncode == 0, f"schemathesis ({name}) found problems:\n{r.stdout[-6000:]}"
    sent = invocations(stack) - before
    print(f"fuzzing: {sent} requests answered by the functions")
    assert sent >= 1000, sent
    assert violations(ddb) == []

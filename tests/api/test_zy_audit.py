"""The audit log (README "Audit"): every change leaves an entry in its organization's hash chain in
the same transaction, refusals are recorded in the caller's own chain, and tampering with a stored
entry is found by the service's verify and by the offline verifier. Runs near the end of the
suite: its last test checks every chain written by every other test."""
import hashlib
import json
import re
import subprocess
import sys
import threading
import uuid

import routes
from conftest import ROOT, assert_error, table_items
from test_x509 import ds_body, iaca_body, key, seed

sys.path.insert(0, str(ROOT / "infra" / "scripts"))
import audit_verify  # noqa: E402

VENV_PY = str(ROOT / ".tools" / "venv" / "bin" / "python")


def entries(api, target, token="admin", **q):
    out, cursor = [], None
    while True:
        body = {"target": target, **q}
        if cursor:
            body["cursor"] = cursor
        r = api.post("/v1/audit/query", json=body, token=token)
        assert r.status_code == 200, r.text
        out.extend(r.json())
        cursor = r.headers.get("x-next-cursor")
        if not cursor:
            return out


def verify(api, org):
    r = api.post("/v1/audit/verify", json={"target": org})
    assert r.status_code == 200, r.text
    return r.json()


def test_changes_leave_entries_with_what_identifies_the_artefact(api):
    org, t = seed(api, stores=0)
    k = key(api, t, "iaca")
    issued = api.post(f"/v1/{t}.x509/x509-service-api/iso/iacas", json=iaca_body(t))
    assert issued.status_code == 201, issued.text
    log = entries(api, org)
    assert [e["sequenceNumber"] for e in log] == list(range(1, len(log) + 1))
    assert log[0]["prevEntryHash"] == "GENESIS"
    for a, b in zip(log, log[1:]):
        assert b["prevEntryHash"] == a["entryHash"]
    assert log[0]["action"] == "organization-create"
    gen = [e for e in log if e["action"] == "kms-key-generate"]
    assert len(gen) == 1 and gen[0]["actor"] == {"type": "admin"} and gen[0]["outcome"] == "success"
    created = [c for c in gen[0]["changes"] if c["op"] == "create"][0]
    assert created["id"] == f"{t}.kms.iaca" and created["kmsKeyArn"] == k["kmsKeyArn"]
    iaca = [e for e in log if e["action"] == "x509-iaca-issue"]
    assert len(iaca) == 1 and iaca[0]["requestId"]
    rec = [c for c in iaca[0]["changes"] if c.get("profile") == "iaca"][0]
    der = _der(issued.json()["certificatePEM"])
    assert rec["sha256Fingerprint"].replace(":", "").lower() == hashlib.sha256(der).hexdigest()
    # A target below the organization shows only its subtree.
    sub = entries(api, f"{t}.kms")
    assert sub and all(e["target"].startswith(f"{t}.kms") for e in sub)
    v = verify(api, org)
    assert v == {"valid": True, "entries": len(log), "head": {"sequenceNumber": len(log), "entryHash": log[-1]["entryHash"]},
                 "firstBrokenSequence": None}


def _der(pem):
    import base64
    body = "".join(line for line in pem.strip().splitlines() if not line.startswith("-----"))
    return base64.b64decode(body)


def test_a_refusal_is_recorded_in_the_callers_organization_and_nowhere_else(api):
    org_a, org_b = api.org(), api.org()
    api.tenant(f"{org_a}.t1")
    api.tenant(f"{org_b}.t1")
    role = api.role(org_a, "lister", [{"target": f"{org_a}.t1", "action": "resource-list", "operation": "ADD"}])
    token, key_id = api.key(org_a, [role])
    before_b = len(entries(api, org_b))
    assert_error(api.post(f"/v1/{org_a}.t1.x/resource-api/tenants/create", json={"name": "x"}, token=token), 403)
    assert_error(api.post(f"/v1/{org_b}.t1.x/resource-api/tenants/create", json={"name": "x"}, token=token), 403)
    denied = [e for e in entries(api, org_a) if e["outcome"] == "denied"]
    assert [(e["target"], e["action"]) for e in denied] == [(f"{org_a}.t1.x", "tenant-create"),
                                                          (f"{org_b}.t1.x", "tenant-create")]
    assert all(e["actor"]["type"] == "api-key" and e["actor"]["keyId"] == key_id and e["changes"] == [] for e in denied)
    assert all(token not in json.dumps(e) for e in denied)
    assert len(entries(api, org_b)) == before_b, "nothing is written into another organization's log"
    # 401: nothing is written anywhere.
    n = len(entries(api, org_a))
    assert api.post(f"/v1/{org_a}.t1.y/resource-api/tenants/create", json={"name": "y"}, token="tfk_nope").status_code == 401
    assert len(entries(api, org_a)) == n
    # The log is read with view-audit-log: the key has none.
    assert_error(api.post("/v1/audit/query", json={"target": org_a}, token=token), 403)
    viewer = api.role(org_a, "auditor", [{"target": org_a, "action": "view-audit-log", "operation": "ADD"}])
    auditor, _ = api.key(org_a, [viewer])
    assert entries(api, org_a, token=auditor)
    assert_error(api.post("/v1/audit/query", json={"target": org_b}, token=auditor), 403)


def test_bad_queries_are_refused(api):
    org = api.org()
    for body, status in [({"target": org, "from": 5, "to": 4}, 400), ({"target": org, "limit": 0}, 400),
                         ({"target": org, "limit": 1001}, 400), ({"target": org, "action": "nope"}, 400),
                         ({"target": org, "cursor": "x"}, 400), ({"target": org, "color": "red"}, 400),
                         ({"target": "bad target"}, 400), ({}, 400)]:
        assert_error(api.post("/v1/audit/query", json=body), status)
    assert_error(api.post("/v1/audit/verify", json={"target": f"{org}.t1"}), 400)
    # Paging: three entries, one at a time.
    for i in range(2):
        api.tenant(f"{org}.p{i}")
    r = api.post("/v1/audit/query", json={"target": org, "limit": 1})
    assert len(r.json()) == 1 and r.headers["x-next-cursor"] == "1"
    r = api.post("/v1/audit/query", json={"target": org, "limit": 1, "cursor": "2"})
    assert [e["sequenceNumber"] for e in r.json()] == [3] and "x-next-cursor" not in r.headers


def test_concurrent_changes_keep_the_chain_gapless(api):
    org = api.org()
    errors = []

    def make(i):
        r = api.post(f"/v1/{org}.c{i}/resource-api/tenants/create", json={"name": f"c{i}"})
        if r.status_code != 201:
            errors.append(r.text)

    threads = [threading.Thread(target=make, args=(i,)) for i in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    log = entries(api, org)
    assert [e["sequenceNumber"] for e in log] == list(range(1, 18))
    assert verify(api, org)["valid"]


def test_tampering_is_found_by_verify_and_by_the_offline_verifier(api, ddb, tmp_path):
    org = api.org()
    for i in range(3):
        api.tenant(f"{org}.t{i}")
    export = tmp_path / "export.json"
    export.write_text(json.dumps(entries(api, org)))
    run = lambda *a: subprocess.run([VENV_PY, str(ROOT / "infra/scripts/audit_verify.py"), *a],  # noqa: E731
                                    capture_output=True, text=True)
    ok = run("verify", str(export))
    assert ok.returncode == 0 and json.loads(ok.stdout)["entries"] == 4, ok.stdout + ok.stderr
    items = {i["sk"]["S"]: i for i in table_items(ddb, audit=True) if i["pk"]["S"] == f"L#{org}"}
    second = items[f"{2:020}"]
    original = second["e"]["S"]
    edited = original.replace(f"{org}.t0", f"{org}.tX")
    assert edited != original
    try:
        ddb.put_item(TableName="trustfn", Item={**second, "e": {"S": edited}})
        v = verify(api, org)
        assert (v["valid"], v["firstBrokenSequence"]) == (False, 2), v
        export.write_text(json.dumps(entries(api, org)))
        bad = run("verify", str(export))
        assert bad.returncode == 1 and json.loads(bad.stdout)["firstBrokenSequence"] == 2, bad.stdout
    finally:
        ddb.put_item(TableName="trustfn", Item=second)
    assert verify(api, org)["valid"]
    # Reordered or cut short: found too (offline, on the export).
    log = entries(api, org)
    export.write_text(json.dumps([log[0], log[2], log[1], log[3]]))
    assert run("verify", str(export)).returncode == 1
    export.write_text(json.dumps(log[:3]))
    head = f"{log[-1]['sequenceNumber']}:{log[-1]['entryHash']}"
    assert run("verify", str(export), "--head", head).returncode == 1
    export.write_text(json.dumps(log))
    assert run("verify", str(export), "--head", head).returncode == 0


def test_signed_checkpoints_catch_a_chain_rewritten_with_its_head(api, ddb, stack, tmp_path):
    """Someone able to write the table rewrites an entry and recomputes every later hash and the
    head: the chain is consistent in itself; only the KMS-signed checkpoint of its head tells."""
    from test_status import invoke_refresh
    org = api.org()
    for i in range(3):
        api.tenant(f"{org}.t{i}")
    # Every chain changed since its last checkpoint is due (the oldest first, 1,000 a run).
    for _ in range(5):
        out = invoke_refresh(stack)
        assert out["checkpoints"]["failed"] == 0, out
        r = api.get(f"/v1/audit/checkpoints?organization={org}")
        assert r.status_code == 200, r.text
        cps = r.json()
        if cps["checkpoints"]:
            break
    assert [c["sequenceNumber"] for c in cps["checkpoints"]] == [4]
    # The public key is the stack's checkpoint key in KMS, and the JWS verifies with it.
    import boto3
    from cryptography.hazmat.primitives.serialization import load_der_public_key
    kms = boto3.client("kms", endpoint_url=stack.moto_url, region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test")
    der = kms.get_public_key(KeyId=stack.checkpoint_key)["PublicKey"]
    nums = load_der_public_key(der).public_numbers()
    jwk = cps["publicKey"]
    assert int.from_bytes(audit_verify._b64d(jwk["x"]), "big") == nums.x
    claims = audit_verify.open_checkpoint(cps["checkpoints"][0]["jws"], jwk)
    log = entries(api, org)
    assert claims == {"organization": org, "sequenceNumber": 4, "entryHash": log[3]["entryHash"],
                      "timestamp": claims["timestamp"]}
    v = verify(api, org)
    assert v["valid"] and v["checkpoint"]["sequenceNumber"] == 4, v
    (tmp_path / "cps.json").write_text(json.dumps(cps))
    (tmp_path / "key.jwk").write_text(json.dumps(jwk))
    (tmp_path / "export.json").write_text(json.dumps(log))
    run = lambda: subprocess.run([VENV_PY, str(ROOT / "infra/scripts/audit_verify.py"), "verify",  # noqa: E731
                                  str(tmp_path / "export.json"), "--checkpoints", str(tmp_path / "cps.json"),
                                  "--public-key", str(tmp_path / "key.jwk")], capture_output=True, text=True)
    ok = run()
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # Rewrite entry 2, recompute 2..4 and the head.
    items = {i["pk"]["S"] + i["sk"]["S"]: i for i in table_items(ddb, audit=True)
             if i["pk"]["S"] in (f"L#{org}", f"H#{org}")}
    originals = list(items.values())
    forged = [dict(e) for e in log]
    forged[1]["changes"] = [dict(forged[1]["changes"][0], id=f"{org}.tX")] + forged[1]["changes"][1:]
    assert forged[1]["changes"] != log[1]["changes"]
    for i in range(1, 4):
        forged[i]["prevEntryHash"] = forged[i - 1]["entryHash"]
        forged[i]["entryHash"] = audit_verify.entry_hash(forged[i])
    try:
        for e in forged[1:]:
            item = items[f"L#{org}{e['sequenceNumber']:020}"]
            ddb.put_item(TableName="trustfn", Item={**item, "e": {"S": audit_verify.canonical(e)}})
        head = items[f"H#{org}H"]
        ddb.put_item(TableName="trustfn", Item={**head, "hash": {"S": forged[3]["entryHash"]}})
        (tmp_path / "export.json").write_text(json.dumps(entries(api, org)))
        assert audit_verify.verify(entries(api, org))["valid"], "consistent in itself"
        v = verify(api, org)
        assert (v["valid"], v["firstBrokenSequence"]) == (False, 4), v
        bad = run()
        assert bad.returncode == 1 and json.loads(bad.stdout)["firstBrokenSequence"] == 4, bad.stdout
    finally:
        for item in originals:
            ddb.put_item(TableName="trustfn", Item=item)
    assert verify(api, org)["valid"]

    # The first four entries leave the table. Past the retention period after the checkpoint that
    # signed entry 4, that is expiry: the offline verifier starts at entry 5. Now, it is a cut, and
    # the service says so too.
    api.tenant(f"{org}.t9")
    log = entries(api, org)
    (tmp_path / "expired.json").write_text(json.dumps(log[4:]))
    offline = lambda now: subprocess.run(  # noqa: E731
        [VENV_PY, str(ROOT / "infra/scripts/audit_verify.py"), "verify", str(tmp_path / "expired.json"),
         "--checkpoints", str(tmp_path / "cps.json"), "--public-key", str(tmp_path / "key.jwk"),
         "--retention-days", "30", "--now", str(now)], capture_output=True, text=True)
    later = offline(claims["timestamp"] + 31 * 86_400_000)
    assert later.returncode == 0, later.stdout + later.stderr
    assert json.loads(later.stdout)["expiredBefore"] == 5
    cut = offline(claims["timestamp"] + 86_400_000)
    assert cut.returncode == 1 and "was cut" in json.loads(cut.stdout)["reason"], cut.stdout
    gone = [i for i in table_items(ddb, audit=True) if i["pk"]["S"] == f"L#{org}" and int(i["sk"]["S"]) <= 4]
    assert len(gone) == 4
    try:
        for item in gone:
            ddb.delete_item(TableName="trustfn", Key={"pk": item["pk"], "sk": item["sk"]})
        v = verify(api, org)
        assert (v["valid"], v["firstBrokenSequence"]) == (False, 1) and "was cut" in v["reason"], v
    finally:
        for item in gone:
            ddb.put_item(TableName="trustfn", Item=item)
    assert verify(api, org)["valid"]


def test_events_follow_the_walt_id_shape_and_count_by_group(api):
    """POST /v1/events/query (walt.id "Events and Metrics"): operational events derived from the
    audit log; `{}` gives all, a field maps to accepted values, groupBy counts."""
    org, t = seed(api, stores=0)
    key(api, t, "iaca")
    assert api.post(f"/v1/{t}.x509/x509-service-api/iso/iacas", json=iaca_body(t)).status_code == 201
    role = api.role(org, "nokeys", [{"target": org, "action": "x509-iaca-issue", "operation": "ADD"}])
    token, _ = api.key(org, [role])
    # Refused later (the key is not the caller's to use): a failed issuance.
    r = api.post(f"/v1/{t}.x509/x509-service-api/iso/iacas", json=iaca_body(t), token=token)
    assert r.status_code == 403, r.text
    r = api.post(f"/v1/events/query?organization={org}", json={})
    assert r.status_code == 200, r.text
    issued = [e for e in r.json() if e["type"] == "IssuanceEvent"]
    assert {e["status"]["type"] for e in issued} == {"Success", "Failure"}
    ok = [e for e in issued if e["status"]["type"] == "Success"][0]
    assert ok["organization"] == org and ok["target"] == f"{t}.x509" and ok["action"] == {"type": "x509-iaca-issue"}
    assert ok["profile"] == "iaca" and ok["serialNumber"] and ok["callId"] and isinstance(ok["timestamp"], int)
    r = api.post(f"/v1/events/query?organization={org}", json={"type": ["IssuanceEvent"], "status.type": ["Failure"]})
    assert len(r.json()) == 1
    r = api.post(f"/v1/events/query?organization={org}&groupBy=status.type", json={"type": ["IssuanceEvent"]})
    assert sorted((g["_id"], g["count"]) for g in r.json()) == [("Failure", 1), ("Success", 1)]
    for url, body in [(f"/v1/events/query?organization={org}&groupBy=color", {}),
                      (f"/v1/events/query?organization={org}", {"color": ["red"]}),
                      (f"/v1/events/query?organization={org}", {"type": "IssuanceEvent"}),
                      ("/v1/events/query", {})]:
        assert_error(api.post(url, json=body), 400)
    assert_error(api.post(f"/v1/events/query?organization={org}", json={}, token=token), 403)


def test_the_offline_verifier_computes_the_hash_of_the_fixed_vector():
    # The entry of shared/domain/src/audit/entry.rs's test: both implementations agree.
    e = {"organization": "acme", "sequenceNumber": 1, "timestamp": 1796083200000,
         "actor": {"type": "api-key", "keyId": "acme.ci", "roles": ["acme.admin#0a1b"]},
         "action": "kms-key-generate", "target": "acme.t1.kms.k1", "outcome": "success", "requestId": "r-1",
         "changes": [{"op": "create", "id": "acme.t1.kms.k1", "kind": "key"}], "prevEntryHash": "GENESIS"}
    assert audit_verify.entry_hash(e) == "976548825f97b2f236ef587983ada44925f21c6fe6c2d21b2b090f2130c79f38"


def _serial(pem):
    from cryptography import x509
    return format(x509.load_pem_x509_certificate(pem.encode()).serial_number, "x")


def _hex(serial):
    return serial.replace(":", "").lower().lstrip("0")


def test_the_certificate_report_lists_what_was_issued_and_its_hash_is_on_the_log(api):
    org, t = seed(api, stores=0)
    key(api, t, "iaca")
    key(api, t, "ds")
    base = f"/v1/{t}.x509/x509-service-api"
    iaca = api.post(f"{base}/iso/iacas", json=iaca_body(t))
    assert iaca.status_code == 201, iaca.text
    serials = []
    for _ in range(2):
        r = api.post(f"{base}/iso/document-signers", json=ds_body(t, iaca.json()["certificatePEM"]))
        assert r.status_code == 201, r.text
        serials.append(_serial(r.json()["certificatePEM"]))
    r = api.post(f"{base}/certificates/revoke", json={"serialNumber": serials[0], "reason": "keyCompromise"})
    assert r.status_code == 200, r.text

    csv_page = api.get(f"{base}/certificates/report")
    assert csv_page.status_code == 200, csv_page.text
    assert csv_page.headers["content-type"].startswith("text/csv")
    assert csv_page.headers["x-report-sha256"] == hashlib.sha256(csv_page.content).hexdigest()
    assert "x-next-cursor" not in csv_page.headers
    import csv as csv_mod
    import io
    rows = list(csv_mod.DictReader(io.StringIO(csv_page.text)))
    assert [r["profile"] for r in rows] == ["iaca", "document-signer", "document-signer"]
    iaca_serial = _serial(iaca.json()["certificatePEM"])
    assert _hex(rows[0]["serialNumber"]) == iaca_serial and rows[0]["iacaSerialNumber"] == ""
    state = {_hex(r["serialNumber"]): (r["state"], r["revocationReason"]) for r in rows[1:]}
    assert state == {serials[0]: ("revoked", "keyCompromise"), serials[1]: ("valid", "")}
    assert all(_hex(r["iacaSerialNumber"]) == iaca_serial and r["sha256Fingerprint"] for r in rows[1:])
    assert all(r["keyPath"] == f"{t}.kms.ds" for r in rows[1:])

    # JSON, one row a page: the cursor walks the same rows, and every page's hash is on the log.
    pages, cursor = [], None
    while True:
        q = "?format=json&limit=1" + (f"&cursor={cursor}" if cursor else "")
        p = api.get(f"{base}/certificates/report{q}")
        assert p.status_code == 200, p.text
        assert p.headers["x-report-sha256"] == hashlib.sha256(p.content).hexdigest()
        pages.append(p)
        cursor = p.headers.get("x-next-cursor")
        if not cursor:
            break
    got = [row for p in pages for row in p.json()]
    assert [r["serialNumber"] for r in got] == [r["serialNumber"] for r in rows]
    dates = {_hex(r["serialNumber"]): r["revocationDate"] for r in got[1:]}
    assert dates[serials[0]] and dates[serials[1]] is None
    logged = [c for e in entries(api, org) for c in e["changes"] if c.get("op") == "report"]
    assert [c["reportSha256"] for c in logged] == [csv_page.headers["x-report-sha256"]] + [
        p.headers["x-report-sha256"] for p in pages]
    assert [c["rows"] for c in logged] == [3] + [len(p.json()) for p in pages]
    assert logged[0]["complete"] and logged[-1]["complete"] and not logged[1]["complete"]
    assert verify(api, org)["valid"]

    # Bad input: 400 and nothing logged; another organization's key: 403.
    n = len(entries(api, org))
    for q in ["format=xml", "limit=0", "limit=10001", "cursor=bogus", "offset=1"]:
        assert_error(api.get(f"{base}/certificates/report?{q}"), 400)
    assert len(entries(api, org)) == n
    other = api.org()
    role = api.role(other, "lister", [{"target": other, "action": "x509-issued-certificate-list", "operation": "ADD"}])
    token, _ = api.key(other, [role])
    assert_error(api.get(f"{base}/certificates/report", token=token), 403)
    assert all(c.get("op") != "report" for e in entries(api, org)[n:] for c in e["changes"])


def test_zz_every_chain_verifies_and_every_change_route_left_entries(api, ddb):
    """After the whole suite (fuzzing and faults included): every organization's chain verifies,
    no entry holds a secret's shape, and every state-changing route of docs/API.md (generated from
    its table, so a new route without auditing fails here) appears as an action."""
    items = table_items(ddb, audit=True)
    chains = sorted(i["pk"]["S"][2:] for i in items if i["pk"]["S"].startswith("H#"))
    assert chains
    for chain in chains:
        v = verify(api, chain) if chain != "admin" else {"valid": True}
        assert v["valid"], (chain, v)
    texts = [i["e"]["S"] for i in items if i["pk"]["S"].startswith("L#")]
    actions = {json.loads(t)["action"].split(" ")[0] for t in texts}
    # Publishes (status lists and CRLs), with the hash of what was uploaded.
    pubs = [c for t in texts for c in json.loads(t)["changes"] if c["op"] == "publish"]
    assert pubs and all(len(c["payloadSha256"]) == 64 and c["expiresAt"] > c["issuedAt"] for c in pubs)
    # Status changes are recorded by the folds that took them in, with their authors.
    folds = [c for t in texts for c in json.loads(t)["changes"] if c["op"] == "status-changes"]
    assert folds and all(len(c["changesSha256"]) == 64 and c["changes"] >= 1 for c in folds)
    assert any(p["by"] for c in folds for p in c["pending"])
    for t in texts:
        assert not re.search(r"tfk_[A-Za-z0-9_-]{20,}|sig=|BEGIN [A-Z ]*PRIVATE KEY", t), t[:200]
    doc = routes.yaml.load((ROOT / "template.yaml").read_text(), Loader=routes._CfnLoader)
    changing = sorted(r["Metadata"]["BuildProperties"]["Binary"] for r in doc["Resources"].values()
                      if r["Type"] == "AWS::Serverless::Function" and r["Properties"].get("Events", {}).get("Api")
                      and r["Properties"]["Events"]["Api"]["Properties"]["Method"] != "GET")
    unknown = [f for f in changing if f not in FUNCTION_ACTIONS]
    assert not unknown, f"routes the audit test does not know (add them to FUNCTION_ACTIONS): {unknown}"
    missing = sorted({f for f in changing if FUNCTION_ACTIONS[f] and FUNCTION_ACTIONS[f] not in actions})
    assert not missing, f"state-changing routes with no audit entry: {missing}"


# Each non-GET route's action (its first authorization); None: it changes nothing.
FUNCTION_ACTIONS = {
    "organizations-create": "organization-create", "tenants-create": "tenant-create",
    "services-create": "service-create", "resources-delete": "resource-delete",
    "resources-delete-recursive": "resource-delete", "configuration-update": "service-configuration-update",
    "dependencies-add": "service-dependency-add", "dependencies-remove": "service-dependency-remove",
    "api-keys-create": "apikey-create", "api-keys-delete": "apikey-delete", "roles-create": "role-create",
    "roles-apikey-assign": "apikey-role-assign", "roles-apikey-unassign": "apikey-role-assign",
    "roles-external-mappings": "role-external-mapping-update",
    "keys-generate": "kms-key-generate", "keys-import-aws": "kms-key-import", "keys-delete": "kms-key-delete",
    "x509-iacas-issue": "x509-iaca-issue", "x509-document-signers-issue": "x509-document-signer-issue",
    "x509-status-list-signers-issue": "x509-status-list-signer-issue",
    "x509-vical-signers-issue": "x509-vical-signer-issue", "vical-publish": "vical-publish",
    "x509-csrs": "x509-csr-create", "default-requests": "update-default-requests",
    "vical-default-requests": "update-default-requests",
    "x509-certificates-revoke": "x509-certificate-revoke", "store-certificates-add": "x509-store-certificate-add",
    "store-certificates-update": "x509-store-certificate-update",
    "store-certificates-delete": "x509-store-certificate-delete",
    "status-credential-create": "credential-status-config-create",
    "status-credential-entries": "credential-status-entry-allocate",
    "status-credential-update": "credential-status-update",
    "audit-query": None, "audit-verify": None, "not-found": None, "events-query": None,
}

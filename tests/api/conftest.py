"""Black-box API tests: they start the local stack (emulators + `cargo lambda watch`) on free
ports and speak HTTP to it, as a client would."""
import json
import sys
import uuid
from pathlib import Path

import boto3
import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "infra" / "local"))
sys.path.insert(0, str(ROOT / "infra" / "scripts"))

import stack as stack_mod  # noqa: E402


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    s = stack_mod.Stack(
        moto_port=stack_mod.free_port(), azurite_port=stack_mod.free_port(), gcs_port=stack_mod.free_port(),
        api_port=stack_mod.free_port(), oidc_port=stack_mod.free_port(), workdir=tmp_path_factory.mktemp("stack"),
        # DynamoDB and KMS behind proxies the fault tests cut; a short publish lease so a publisher
        # that died holding it is taken over within seconds. Up to 8 instances of a function (Lambda
        # runs as many as requests come): an update waits until its change is published, so the
        # instances a burst of updates may use bound how many changes one publish takes.
        fault_proxies=True, function_env={"TRUSTFN_PUBLISH_LEASE_SECONDS": "10"}, concurrency=8,
    )
    s.start(progress=lambda m: print(m, file=sys.stderr))
    yield s
    s.stop()


# Every answer the tests received, and every secret they handed over or were given: checked by
# test_zz_secrets.py at the end of the run.
RECORDED = []
SECRETS = set()


class Api:
    """A tiny client: `api.post(path, json=..., token=...)`; the admin token by default."""

    def __init__(self, base, admin_token):
        self.base, self.admin_token = base, admin_token
        self.s = requests.Session()

    def request(self, method, path, token="admin", headers=None, **kw):
        h = dict(headers or {})
        if token == "admin":
            token = self.admin_token
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        r = self.s.request(method, self.base + path, headers=h, timeout=60, **kw)
        if token and len(token) >= 16:
            SECRETS.add(token)
        RECORDED.append((method, path, r.status_code, dict(r.headers), r.text))
        if path.endswith("/apikeys-api/api-keys/create") and r.status_code == 201:
            SECRETS.add(r.json()["token"])
        return r

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    # Seed helpers -------------------------------------------------------------------------
    def org(self, org_id=None):
        org_id = org_id or "o" + uuid.uuid4().hex[:10]
        r = self.post("/v1/admin/organizations", json={"_id": org_id, "profile": {"name": f"Org {org_id}"}})
        assert r.status_code == 201, r.text
        return org_id

    def tenant(self, path):
        r = self.post(f"/v1/{path}/resource-api/tenants/create", json={"name": path})
        assert r.status_code == 201, r.text
        return path

    def service(self, path, type_, **body):
        r = self.post(f"/v1/{path}/resource-api/services/create", json={"type": type_, **body})
        assert r.status_code == 201, r.text
        return r.json()

    def role(self, org, role_id, permissions):
        r = self.post(f"/v1/{org}.{role_id}/roles-api/roles/create", json={"name": role_id, "permissions": permissions})
        assert r.status_code == 201, r.text
        return f"{org}.{role_id}"

    def key(self, org, roles, expiration=None, key_id=None):
        key_id = key_id or "k" + uuid.uuid4().hex[:8]
        body = {"name": key_id, "roles": roles}
        if expiration:
            body["expiration"] = expiration
        r = self.post(f"/v1/{org}.{key_id}/apikeys-api/api-keys/create", json=body)
        assert r.status_code == 201, r.text
        return r.json()["token"], f"{org}.{key_id}"


@pytest.fixture(scope="session")
def api(stack):
    return Api(stack.api_url, stack.admin_token)


@pytest.fixture(scope="session")
def ddb(stack):
    return boto3.client("dynamodb", endpoint_url=stack.moto_url, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def backup(ddb, name):
    """A copy of the live table, as a point-in-time restore would make it (the restore drills):
    the copy's name."""
    from table_sync import sync
    copy = f"trustfn-{name}-{uuid.uuid4().hex[:8]}"
    ddb.create_table(TableName=copy, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
    sync(ddb, "trustfn", copy, apply=True, progress=lambda m: None)
    return copy


def table_items(ddb, table="trustfn", audit=False):
    """Every stored item; the audit log's (`L#`, `H#`) only with `audit`: a refused request
    (403) adds its entry there by design, and "nothing changed" means the data."""
    items, start = [], None
    while True:
        kw = {"TableName": table}
        if start:
            kw["ExclusiveStartKey"] = start
        r = ddb.scan(**kw)
        items += r["Items"]
        start = r.get("LastEvaluatedKey")
        if not start:
            return [i for i in items if audit or not i["pk"]["S"].startswith(("L#", "H#"))]


def table_text(ddb, table="trustfn"):
    """Every stored item as one JSON text (binary attributes, the status chunks, as hex), to
    search for what must never be stored."""
    return json.dumps(table_items(ddb, table, audit=True), default=lambda v: v.hex() if isinstance(v, bytes) else str(v))


def mentions(item, path):
    """True when a stored item is, or points into, the subtree at `path` (keys, ids, edge ends).
    What outlives a deleted subtree by design is left out: an organization id's claim (ids are
    never given out again) and the audit log (kept for its retention period)."""
    import re
    pk = item.get("pk", {}).get("S", "")
    if pk.startswith(("C#organization-id:", "L#", "H#")):
        return False
    for v in item.values():
        text = v.get("S") if isinstance(v, dict) else None
        if text is None:
            continue
        text = re.sub(r"^[RDUT]#", "", text)
        if text == path or text.startswith(path + "."):
            return True
    return False


def assert_error(r, status, id_=None, contains=None):
    assert r.status_code == status, f"{r.status_code} {r.text}"
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["exception"] is True
    assert body["code"] == str(status)
    assert isinstance(body["status"], str) and body["status"]
    assert isinstance(body["message"], str) and body["message"]
    if id_:
        assert body["id"] == id_, body
    if contains:
        assert contains in body["message"], body
    return body

"""Fault injection: DynamoDB and KMS (behind proxies, faults.py), the S3 registry (a proxy),
Azurite and fake-gcs-server (stopped and restarted) go away before and in the middle of
operations. Every answer is a clean error JSON, nothing is half-written (invariants.py), no
update that was answered 200 is lost, and once the service is back the refresh publishes it."""
import contextlib
import threading
import time
import uuid
import zlib

import pytest

from conftest import assert_error, backup
from invariants import violations
from test_status import b64d, invoke_refresh, make_registry, s3, tsl_status  # noqa: F401 (s3 is a fixture)
from test_x509 import iaca_body, key, seed

LEASE = 10  # TRUSTFN_PUBLISH_LEASE_SECONDS of the test stack


@contextlib.contextmanager
def outage(stack, what):
    if what in stack.proxies:
        stack.proxies[what].down()
    else:
        stack.stop_service(what)
    try:
        yield
    finally:
        if what in stack.proxies:
            stack.proxies[what].up()
        else:
            stack.start_service(what)


def clean_5xx(r):
    assert 500 <= r.status_code < 600, (r.status_code, r.text)
    body = assert_error(r, r.status_code)
    assert "127.0.0.1" not in body["message"] and "Traceback" not in r.text, body
    return body


def store_ids(api, t, store):
    r = api.get(f"/v1/{t}.{store}/x509-store-api/certificates/ids")
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("what", ["dynamodb", "kms"])
def test_issuing_with_two_stores_while_a_service_is_down(api, stack, ddb, what):
    org, t = seed(api, stores=2)
    key(api, t, "iaca")
    with outage(stack, what):
        clean_5xx(api.post(f"/v1/{t}.x509/x509-service-api/iso/iacas", json=iaca_body(t)))
        clean_5xx(api.post(f"/v1/{t}.kms.k2/kms-service-api/keys/generate", json={"keyType": "secp256r1"}))
    assert store_ids(api, t, "store1") == store_ids(api, t, "store2") == [], "nothing stored"
    assert api.get(f"/v1/{t}.kms.k2/kms-service-api/keys/view").status_code == 404, "no key record"
    r = api.post(f"/v1/{t}.x509/x509-service-api/iso/iacas", json=iaca_body(t))
    assert r.status_code == 201, "works again once the service is back"
    assert violations(ddb) == []


def test_dynamodb_goes_away_while_kms_signs_a_certificate(api, stack, ddb):
    org, t = seed(api, stores=2)
    key(api, t, "iaca")
    out = {}
    stack.proxies["kms"].delay = 1.5
    try:
        th = threading.Thread(target=lambda: out.setdefault("r", api.post(
            f"/v1/{t}.x509/x509-service-api/iso/iacas", json=iaca_body(t))))
        th.start()
        time.sleep(0.7)
        with outage(stack, "dynamodb"):
            th.join(60)
    finally:
        stack.proxies["kms"].delay = 0
    clean_5xx(out["r"])
    assert store_ids(api, t, "store1") == store_ids(api, t, "store2") == []
    assert violations(ddb) == []


@pytest.fixture()
def status_env(api, stack, s3):
    org = api.org()
    t = api.tenant(f"{org}.t1")
    api.service(f"{t}.kms", "kms")
    assert api.post(f"/v1/{t}.kms.k/kms-service-api/keys/generate", json={"keyType": "secp256r1"}).status_code == 201
    name = "faults-" + uuid.uuid4().hex[:10]
    registry, fetch = make_registry("aws", stack, s3, name)
    api.service(f"{t}.status", "credential-status", config={"registry": registry}, dependencies=[f"{t}.kms"])
    return t, fetch


def create_config(api, t, name):
    return api.post(f"/v1/{t}.status.{name}/credential-status-service-api/status-credential/create",
                    json={"kid": f"{t}.kms.k", "config": {"type": "TokenStatusList"}})


def published(fetch, entries):
    _, _, body = fetch(entries[0]["uri"])
    claims = __import__("json").loads(b64d(body.decode().split(".")[1]))
    raw = zlib.decompress(b64d(claims["status_list"]["lst"]))
    return [tsl_status(raw, 1, e["index"]) for e in entries]


def test_status_operations_while_dynamodb_is_down(api, stack, ddb, status_env):
    t, fetch = status_env
    assert create_config(api, t, "c").status_code == 201
    cfg = f"/v1/{t}.status.c/credential-status-service-api/status-credential"
    entries = api.post(f"{cfg}/entries", json={"count": 2}).json()["entries"]
    with outage(stack, "dynamodb"):
        clean_5xx(create_config(api, t, "c2"))
        clean_5xx(api.post(f"{cfg}/entries", json={"count": 1}))
        clean_5xx(api.put(f"{cfg}/status/update", json={"entry": entries[0]["id"], "status": "0x1"}))
        report = invoke_refresh(stack, expect_error=True)
        assert "error" in report, report
    assert api.get(f"/v1/{t}.status.c2/credential-status-service-api/status-credential/view").status_code == 404
    view = api.get(f"{cfg}/view").json()
    assert [l["allocated"] for l in view["lists"]] == [2], "the failed allocation allocated nothing"
    assert published(fetch, entries) == [0, 0]
    assert violations(ddb) == []


def test_status_operations_while_kms_is_down(api, stack, ddb, status_env):
    t, fetch = status_env
    assert create_config(api, t, "c").status_code == 201
    cfg = f"/v1/{t}.status.c/credential-status-service-api/status-credential"
    entries = api.post(f"{cfg}/entries", json={"count": 3}).json()["entries"]
    updates = {"updates": [{"entry": e["id"], "status": "0x1"} for e in entries[:2]]}
    with outage(stack, "kms"):
        # A function instance that has opened the list's index key (KMS Decrypt) keeps it and
        # accepts the change; one that has not answers a clean 503 and changes nothing (README).
        r = api.post(f"{cfg}/entries", json={"count": 1})
        if r.status_code != 201:
            clean_5xx(r)
        else:
            assert r.json().get("published") in (None, False), r.text
        r = api.put(f"{cfg}/status/update", json=updates)
        accepted = r.status_code == 200
        if accepted:
            assert r.json()["published"] is False, r.text
            (lst,) = api.get(f"{cfg}/view").json()["lists"]
            assert lst["publishError"], lst
        else:
            clean_5xx(r)
    if not accepted:  # the client retries what was refused
        assert api.put(f"{cfg}/status/update", json=updates).status_code == 200
    # A failed list is retried a minute after the failure (backing off): the run looks ahead.
    report = invoke_refresh(stack, lookahead=300)
    assert report["failed"] == 0, report
    assert published(fetch, entries) == [1, 1, 0], "every update answered 200 is published"
    assert violations(ddb) == []


def test_dynamodb_goes_away_while_an_update_is_being_published(api, stack, ddb, status_env):
    t, fetch = status_env
    assert create_config(api, t, "c").status_code == 201
    cfg = f"/v1/{t}.status.c/credential-status-service-api/status-credential"
    entries = api.post(f"{cfg}/entries", json={"count": 2}).json()["entries"]
    # Warm the update function's copy of the list's index key, so the slow KMS below is the
    # publish's signature and not the opening of that key.
    assert api.put(f"{cfg}/status/update", json={"entry": entries[1]["id"], "status": "0x0"}).status_code == 200
    out = {}
    stack.proxies["kms"].delay = 1.5  # the publish is signing when DynamoDB goes away
    try:
        th = threading.Thread(target=lambda: out.setdefault("r", api.put(
            f"{cfg}/status/update", json={"entry": entries[0]["id"], "status": "0x1"})))
        th.start()
        time.sleep(0.7)
        with outage(stack, "dynamodb"):
            th.join(60)
    finally:
        stack.proxies["kms"].delay = 0
    r = out["r"]
    if r.status_code == 200:
        assert r.json()["published"] is False, r.text
    else:
        clean_5xx(r)
    # Taking the lease made the list due two lease periods later: a plain scheduled run (no
    # lookahead) must take it over, not only one that looks hours ahead to its expiry.
    time.sleep(2 * LEASE + 1)
    report = invoke_refresh(stack)
    assert report["failed"] == 0, report
    if r.status_code == 200:
        # (A 5xx may come before the lease: another function instance opening the list's index
        # key while DynamoDB is gone. Then nothing was accepted and nothing is due.)
        assert report["republished"] >= 1, report
        assert published(fetch, entries) == [1, 0], "the update answered 200 is published"
    (lst,) = api.get(f"{cfg}/view").json()["lists"]
    assert lst["publishedVersion"] == lst["statusVersion"] and lst["publishError"] is None, lst
    assert violations(ddb) == []


def test_a_restore_loses_no_revocation_and_hands_out_no_index_twice(api, stack, ddb, status_env):
    """The restore drill of docs/RELIABILITY.md: revoke, back up, revoke and allocate more, restore
    the backup with infra/scripts/table_sync.py, refresh. Nothing revoked is valid again, and no
    index handed out before the restore is handed out after it."""
    import sys
    from conftest import ROOT
    sys.path.insert(0, str(ROOT / "infra" / "scripts"))
    import table_sync
    t, fetch = status_env
    assert create_config(api, t, "drill").status_code == 201
    cfg = f"/v1/{t}.status.drill/credential-status-service-api/status-credential"
    before = api.post(f"{cfg}/entries", json={"count": 10}).json()["entries"]
    assert api.put(f"{cfg}/status/update", json={"entry": before[0]["id"], "status": "0x1"}).status_code == 200
    copy = backup(ddb, "drill")
    quiet = lambda m: None  # noqa: E731
    # After the backup: another revocation and more entries, one of them revoked at once.
    assert api.put(f"{cfg}/status/update", json={"entry": before[1]["id"], "status": "0x1"}).status_code == 200
    after = api.post(f"{cfg}/entries", json={"count": 5, "initialStatus": "0x1"}).json()["entries"]
    # The restore, as the runbook runs it (statuses merged), then the refresh.
    table_sync.sync(ddb, copy, "trustfn", apply=True, progress=quiet, merge_statuses=True)
    report = invoke_refresh(stack)
    assert report["failed"] == 0 and report["republished"] >= 1, report
    assert published(fetch, before[:3]) == [1, 1, 0], "the revocation made after the backup survives"
    assert published(fetch, after) == [1] * 5
    fresh = api.post(f"{cfg}/entries", json={"count": 50}).json()["entries"]
    handed_out = {(e["uri"], e["index"]) for e in before + after}
    assert not handed_out & {(e["uri"], e["index"]) for e in fresh}, "no index handed out twice"
    assert violations(ddb) == []
    ddb.delete_table(TableName=copy)

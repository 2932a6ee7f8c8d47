"""Metrics (README "Operations"): the functions write CloudWatch Embedded Metric Format lines to
stdout, which CloudWatch Logs turns into metrics of namespace `trustfn`; the alarms of
template.yaml watch them. Asserted here in the local stack's function logs, for a publish that
succeeds, one that fails, and a refresh run."""
import json
import time
import uuid

from test_status import invoke_refresh, make_registry, s3  # noqa: F401


def emf(stack, fn, since_ms):
    """The EMF documents function `fn` wrote since `since_ms`, each checked for the shape
    CloudWatch requires (every metric declared has a value, every dimension a value)."""
    out = []
    path = stack.log_dir / f"fn-{fn}.log"
    for line in path.read_text(errors="replace").splitlines():
        if '"_aws":' not in line:
            continue
        doc = json.loads(line[line.index("{"):])
        meta = doc["_aws"]
        if meta["Timestamp"] < since_ms:
            continue
        (cw,) = meta["CloudWatchMetrics"]
        assert cw["Namespace"] == "trustfn"
        for dims in cw["Dimensions"]:
            assert all(isinstance(doc[d], str) and doc[d] for d in dims), doc
        assert all(isinstance(doc[m["Name"]], (int, float)) for m in cw["Metrics"]), doc
        assert {m["Unit"] for m in cw["Metrics"]} <= {"Count", "Milliseconds", "Seconds", "None"}
        out.append(doc)
    return out


def test_publishes_failures_and_refresh_runs_are_metrics(api, stack, s3):  # noqa: F811
    since = int(time.time() * 1000) - 1000
    org = api.org()
    t = api.tenant(f"{org}.t1")
    api.service(f"{t}.kms", "kms")
    assert api.post(f"/v1/{t}.kms.k/kms-service-api/keys/generate", json={"keyType": "secp256r1"}).status_code == 201
    name = "metrics-" + uuid.uuid4().hex[:10]
    registry, _ = make_registry("aws", stack, s3, name)
    proxy = stack.registry_fakes["s3"]
    registry["endpointUrl"] = proxy.url
    api.service(f"{t}.st", "credential-status", config={"registry": registry}, dependencies=[f"{t}.kms"])
    cfg = f"{t}.st.c"
    r = api.post(f"/v1/{cfg}/credential-status-service-api/status-credential/create",
                 json={"kid": f"{t}.kms.k", "config": {"type": "TokenStatusList", "validity": 3600, "ttl": 60}})
    assert r.status_code == 201, r.text
    r = api.post(f"/v1/{cfg}/credential-status-service-api/status-credential/entries", json={"count": 2})
    assert r.status_code == 201, r.text
    entries = r.json()["entries"]

    # A publish that succeeds: count, duration, and all of a fresh list's validity left.
    ok = [d for d in emf(stack, "status-credential-entries", since) if d.get("Kind") == "status-list"]
    assert ok and ok[-1]["Published"] == 1 and ok[-1]["PublishFailed"] == 0, ok
    assert ok[-1]["ConsecutiveFailures"] == 0 and ok[-1]["PublishDuration"] > 0
    assert 0.9 < ok[-1]["HeadroomRatio"] <= 1 and 3000 < ok[-1]["HeadroomSeconds"] <= 3600
    signs = [d for d in emf(stack, "status-credential-entries", since) if "KmsSignLatency" in d]
    assert signs and signs[-1]["Kind"] == "kms" and signs[-1]["KmsSignFailed"] == 0

    # The registry goes away: the failure is a metric, with the headroom of the copy verifiers
    # still read (what the headroom alarm watches).
    proxy.down()
    try:
        r = api.put(f"/v1/{cfg}/credential-status-service-api/status-credential/status/update",
                    json={"entry": entries[0]["id"], "status": "0x1"})
        assert r.status_code == 200 and r.json()["published"] is False, r.text
    finally:
        proxy.up()
    failed = [d for d in emf(stack, "status-credential-update", since) if d.get("PublishFailed") == 1]
    assert failed and failed[-1]["Kind"] == "status-list" and failed[-1]["ConsecutiveFailures"] >= 1, failed
    assert failed[-1]["Published"] == 0 and 0 < failed[-1]["HeadroomRatio"] < 1

    # The refresh republishes it: the run's own metrics, and a publish with no failure left.
    report = invoke_refresh(stack, lookahead=300)
    assert report["republished"] >= 1, report
    runs = [d for d in emf(stack, "status-refresh", since) if "RefreshRun" in d]
    assert runs and runs[-1]["RefreshRun"] == 1 and runs[-1]["RefreshRepublished"] >= 1, runs
    assert runs[-1]["RefreshDuration"] > 0 and "Kind" not in runs[-1]
    again = [d for d in emf(stack, "status-refresh", since) if d.get("Kind") == "status-list"]
    assert again and again[-1]["Published"] == 1 and again[-1]["ConsecutiveFailures"] == 0
    assert any("CheckpointsSigned" in d for d in emf(stack, "status-refresh", since))


def test_the_cost_model_counts_every_metric_the_functions_emit(stack):
    """docs/COST.md bills each custom metric: a metric emitted but not in bench/cost.py's list
    would be missing from the stack's monthly cost."""
    import sys
    from conftest import ROOT
    sys.path.insert(0, str(ROOT / "bench"))
    import cost
    known = {(n, k) for n, k in cost.METRICS}
    seen = set()
    for path in stack.log_dir.glob("fn-*.log"):
        for doc in emf(stack, path.stem[3:], 0):
            (cw,) = doc["_aws"]["CloudWatchMetrics"]
            for m in cw["Metrics"]:
                seen.add((m["Name"], doc.get("Kind")))
    assert seen, "the functions emitted metrics"
    assert seen <= known, f"metrics the cost model does not count: {sorted(seen - known)}"


def test_the_local_dynamodb_bills_request_units_as_dynamodb_does():
    import sys
    from conftest import ROOT
    sys.path.insert(0, str(ROOT / "infra" / "local"))
    from moto_serial import item_size, units
    small = {"pk": {"S": "abc"}, "n": {"N": "12345"}}
    assert item_size(small) == 2 + 3 + 1 + 3
    big = {"pk": {"S": "x" * 1500}}
    assert units("PutItem", {"Item": small}, {}) == (1, 0)
    assert units("PutItem", {"Item": big}, {}) == (2, 0)
    tx = {"TransactItems": [{"Put": {"Item": big}}, {"Update": {"Key": small}}, {"ConditionCheck": {"Key": small}}]}
    assert units("TransactWriteItems", tx, {}) == (2 * 2 + 2 + 2, 0)
    assert units("GetItem", {}, {"Item": {"b": {"S": "y" * 5000}}}) == (0, 2)
    assert units("Query", {}, {"Items": [small] * 3}) == (0, 1)
    assert units("GetItem", {}, {}) == (0, 1), "a miss still costs a read unit"

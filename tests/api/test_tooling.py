"""Route consistency (template.yaml is the source of truth), the template lint, the OpenAPI
document, and the event fixtures invoked through `cargo lambda invoke`."""
import json
import subprocess
import sys
import uuid

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

import events
import openapi
import routes
from conftest import ROOT

VENV_BIN = ROOT / ".tools" / "venv" / "bin"


def test_routes_agree_with_template():
    assert routes.check() == []
    assert len(routes.template_routes()) >= 17


def test_route_check_catches_drift(tmp_path):
    cargo = (ROOT / "Cargo.toml").read_text().replace(
        '"/v1/{target}/roles-api/roles/list" = [{ method = "GET", function = "roles-list" }]\n', "")
    (tmp_path / "Cargo.toml").write_text(cargo)
    missing = routes.diff("router", routes.template_routes(), routes.cargo_routes(tmp_path / "Cargo.toml"))
    assert missing == ["router: missing ('GET', '/v1/{target}/roles-api/roles/list', 'roles-list')"]


def test_generated_files_are_fresh():
    assert openapi.OUT.read_text() == openapi.render(), "run: python infra/scripts/openapi.py write"
    assert subprocess.run([sys.executable, str(ROOT / "infra/scripts/events.py"), "check"]).returncode == 0


def test_every_function_has_a_fixture_and_a_cold_start_entry():
    """`make bench PARTS=coldstart` starts every function of template.yaml with its fixture (it
    crashed once on the catch-all, which had none)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import run as bench
    functions = routes.template_functions()
    fixtures = {p.stem for p in (ROOT / "infra" / "events").glob("*.json")}
    assert functions - fixtures == set(), "functions without an event fixture"
    evs = bench._events("token")
    assert functions | {bench.BASELINE} <= set(evs), "functions the cold-start bench cannot invoke"


def test_sam_builds_every_function_from_one_workspace_build(tmp_path):
    """template.yaml builds each function through the Makefile (BuildMethod makefile, in source per
    samconfig.toml), whose build-<LogicalId> target copies that function's binary out of one shared
    cargo lambda build."""
    import tomllib
    doc = routes.yaml.load((ROOT / "template.yaml").read_text(), Loader=routes._CfnLoader)
    functions = {k: r for k, r in doc["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    assert functions
    for logical, res in functions.items():
        assert res["Metadata"]["BuildMethod"] == "makefile", logical
        r = subprocess.run(["make", "-n", f"build-{logical}", f"ARTIFACTS_DIR={tmp_path}"], cwd=ROOT,
                           capture_output=True, text=True)
        assert r.returncode == 0 and f'sam_build.sh {logical} "{tmp_path}"' in r.stdout, r.stdout + r.stderr
    one = next(iter(functions))
    r = subprocess.run([sys.executable, str(ROOT / "infra/scripts/routes.py"), "binary", one], capture_output=True,
                       text=True)
    assert r.stdout.strip() == functions[one]["Metadata"]["BuildProperties"]["Binary"]
    cfg = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert cfg["default"]["build"]["parameters"]["build_in_source"] is True
    assert cfg["default"]["deploy"]["parameters"]["capabilities"] == "CAPABILITY_IAM"


def test_openapi_is_valid():
    spec, _ = read_from_filename(str(openapi.OUT))
    validate(spec)


def test_template_passes_cfn_lint():
    r = subprocess.run([str(VENV_BIN / "cfn-lint"), str(ROOT / "template.yaml")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


# (fixture, expected statusCode); run in this order after seeding two services over HTTP.
INVOKES = [
    ("health", 200), ("console", 200), ("organizations-create", 201), ("tenants-create", 201), ("SEED", None),
    ("services-create", 201), ("resources-list", 200), ("configuration-view", 200), ("configuration-update", 200),
    ("dependencies-add", 201), ("SEED-STORE", None), ("keys-generate", 201), ("keys-import-aws", 400),
    ("keys-list", 200), ("keys-view", 200), ("x509-iacas-issue", 201), ("x509-document-signers-issue", 201),
    ("x509-status-list-signers-issue", 201), ("x509-vical-signers-issue", 201), ("SEED-VICAL", None),
    ("vical-default-requests", 200), ("vical-publish", 201), ("vical-versions", 200), ("vical-registry", 200),
    ("UNSEED-VICAL", None), ("x509-certificates-issued", 200),
    ("x509-certificates-report", 200), ("x509-crls", 200), ("x509-csrs", 201), ("default-requests", 200),
    ("x509-certificates-revoke", 404),
    ("store-certificates-add", 201), ("store-certificates-get", 200), ("store-certificates-ids", 200),
    ("store-certificates-update", 200), ("store-certificates-delete", 202),
    ("SEED-STATUS", None), ("status-credential-create", 201), ("status-credential-entries", 201),
    ("status-credential-update", 200), ("status-credential-view", 200), ("status-lists-get", 200),
    ("UNSEED-STATUS", None),
    ("dependencies-list", 200), ("dependencies-remove", 204), ("roles-create", 201),
    ("roles-list", 200), ("roles-external-mappings", 201), ("api-keys-create", 201), ("api-keys-list", 200),
    ("roles-apikey-assign", 200), ("roles-apikey-unassign", 200), ("api-keys-delete", 204),
    ("audit-query", 200), ("audit-verify", 200), ("audit-checkpoints", 200),
    ("events-query", 200), ("not-found", 404),
    # The recorded IACA holds its key (and the kms dependency): they go with the x509-service.
    ("UNSEED-X509", None), ("keys-delete", 202), ("resources-delete", 202), ("resources-delete-recursive", 202), ("status-refresh", None),
]


def test_every_fixture_invokes(stack, api, tmp_path):
    assert {f for f, _ in INVOKES if "SEED" not in f} == set(events.SAMPLES) | set(events.SCHEDULED) | {"not-found"}
    for fn, status in INVOKES:
        if fn == "SEED":
            api.service("demo.tenant1.kms1", "kms")
            api.service("demo.tenant1.x509", "x509-service")
            continue
        if fn == "SEED-STATUS":
            import boto3
            boto3.client("s3", endpoint_url=stack.moto_url, region_name="us-east-1", aws_access_key_id="test",
                         aws_secret_access_key="test").create_bucket(Bucket="demo-status-lists")
            api.service("demo.tenant1.status", "credential-status", dependencies=["demo.tenant1.kms1"], config={
                "registry": {"type": "aws", "bucketName": "demo-status-lists", "region": "us-east-1",
                             "endpointUrl": stack.moto_url, "accessKeyId": "test", "secretKey": "test"}})
            continue
        if fn == "UNSEED-STATUS":
            assert api.delete("/v1/demo.tenant1.status/resource-api/resources/delete-recursive").status_code == 202
            continue
        if fn == "SEED-VICAL":
            api.service("demo.tenant1.vical", "vical-service", signingKeyId="demo.tenant1.kms1.iaca-key",
                        signerCertificateId="demo.tenant1.store1.vical-signer",
                        signerCertificateChainIds=["demo.tenant1.store1.iaca"],
                        dependencies=["demo.tenant1.kms1", "demo.tenant1.store1"])
            continue
        if fn == "UNSEED-VICAL":
            assert api.delete("/v1/demo.tenant1.vical/resource-api/resources/delete-recursive").status_code == 202
            continue
        if fn == "UNSEED-X509":
            assert api.delete("/v1/demo.tenant1.x509/resource-api/resources/delete-recursive").status_code == 202
            continue
        if fn == "SEED-STORE":
            r = api.post("/v1/demo.tenant1.x509/x509-service-api/dependencies/add", json="demo.tenant1.store1")
            assert r.status_code == 201, r.text
            continue
        ev = (ROOT / "infra/events" / f"{fn}.json").read_text().replace(events.TOKEN, stack.admin_token)
        if fn == "status-credential-update":
            ev = ev.replace("REPLACE_WITH_ENTRY_ID", entry_id)
        if fn == "status-lists-get":
            ev = ev.replace("REPLACE_WITH_LIST_ID", entry_id.split(":")[0])
        data = tmp_path / f"{fn}.json"
        data.write_text(ev)
        r = subprocess.run([str(VENV_BIN / "cargo-lambda"), "lambda", "invoke", "-A", "127.0.0.1", "-P",
                            str(stack.api_port), fn, "--data-file", str(data)],
                           capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        if fn == "status-refresh":
            assert {"due", "republished", "failed", "more"} <= set(out), out
            continue
        assert out["statusCode"] == status, (fn, out)
        if fn == "status-credential-entries":
            entry_id = json.loads(out["body"])["entries"][0]["id"]


def test_template_pages_an_operator_and_keeps_logs_bounded():
    """Alarms notify the stack's topic (publish failures and headroom per artefact kind, the
    refresh failing or not running, API 5xx, near-timeouts, throttling), every function has a log
    group with retention, the API is throttled and the refresh has reserved concurrency."""
    doc = routes.yaml.load((ROOT / "template.yaml").read_text(), Loader=routes._CfnLoader)
    res = doc["Resources"]
    alarms = {k: r["Properties"] for k, r in res.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    for name, a in alarms.items():
        assert a["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
    watched = {(a.get("Namespace"), a.get("MetricName"), tuple(d["Value"] for d in a.get("Dimensions", [])
                                                             if isinstance(d["Value"], str)))
               for a in alarms.values()}
    for kind in ("status-list", "crl", "vical"):
        assert ("trustfn", "PublishFailed", (kind,)) in watched
        assert ("trustfn", "HeadroomRatio", (kind,)) in watched
    assert ("trustfn", "RefreshRun", ()) in watched and ("trustfn", "NearTimeout", ()) in watched
    assert ("AWS/Lambda", "Throttles", ()) in watched
    not_running = next(a for a in alarms.values() if a.get("MetricName") == "RefreshRun")
    assert not_running["TreatMissingData"] == "breaching", "no run at all must page"
    metric_math = [m["MetricStat"]["Metric"]["MetricName"] for a in alarms.values() for m in a.get("Metrics", [])
                   if "MetricStat" in m]
    assert {"5xx", "Count", "ReadThrottleEvents", "WriteThrottleEvents"} <= set(metric_math)
    assert res["AlarmTopic"]["Type"] == "AWS::SNS::Topic"
    assert res["AlarmEmailSubscription"]["Condition"] == "HasAlarmEmail"
    functions = [k for k, r in res.items() if r["Type"] == "AWS::Serverless::Function"]
    groups = {r["Properties"]["LogGroupName"]["Sub"]: r["Properties"] for r in res.values()
              if r["Type"] == "AWS::Logs::LogGroup"}
    for fn in functions:
        g = groups.get(f"/aws/lambda/${{{fn}}}")
        assert g and g["RetentionInDays"] == {"Ref": "LogRetentionDays"}, f"{fn} has no log group with retention"
    throttle = res["HttpApi"]["Properties"]["DefaultRouteSettings"]
    assert throttle["ThrottlingRateLimit"] and throttle["ThrottlingBurstLimit"]
    assert res["StatusRefreshFunction"]["Properties"]["ReservedConcurrentExecutions"] >= 1
    assert res["Dashboard"]["Type"] == "AWS::CloudWatch::Dashboard"
    import json as _json
    body = res["Dashboard"]["Properties"]["DashboardBody"]["Sub"]
    _json.loads(body.replace("${AWS::Region}", "r").replace("${HttpApi}", "a").replace("${Table}", "t")
                .replace("${HeadroomAlarmRatio}", "0.25"))


def test_template_protects_the_data():
    """Point-in-time recovery and deletion protection on the table, kept on stack deletion; the
    secrets key retained and only ever scheduled for deletion (30 days)."""
    doc = routes.yaml.load((ROOT / "template.yaml").read_text(), Loader=routes._CfnLoader)
    res = doc["Resources"]
    tables = [r for r in res.values() if r["Type"] == "AWS::DynamoDB::Table"]
    assert len(tables) == 1
    (table,) = tables
    assert table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["Properties"]["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    keys = [r for r in res.values() if r["Type"] == "AWS::KMS::Key"]
    assert keys
    for k in keys:
        assert k["DeletionPolicy"] == "Retain" and k["Properties"]["PendingWindowInDays"] >= 7
    # No function holds a KMS wildcard or a delete: retiring a key is ScheduleKeyDeletion (30 days,
    # shared/kms), which KMS itself never shortens below 7.
    for name, r in res.items():
        if r["Type"] != "AWS::Serverless::Function":
            continue
        for policy in r["Properties"].get("Policies") or []:
            for st in policy.get("Statement", []) if isinstance(policy, dict) else []:
                actions = st.get("Action", [])
                for a in [actions] if isinstance(actions, str) else actions:
                    assert a != "kms:*" and not a.startswith("kms:Delete"), (name, a)


def iam_findings(template):
    """What grants more than the code needs (see docs/RELIABILITY.md, trust boundaries)."""
    doc = routes.yaml.load(template, Loader=routes._CfnLoader)
    out = []
    for name, r in doc["Resources"].items():
        if r["Type"] != "AWS::Serverless::Function":
            continue
        methods = {e["Properties"].get("Method") for e in r["Properties"].get("Events", {}).values()}
        for policy in r["Properties"].get("Policies") or []:
            if not (isinstance(policy, dict) and set(policy) == {"Statement"}):
                # SAM's DynamoDB policy templates include Scan and every table write.
                out.append(f"{name}: policy template {policy}: write the statement out")
                continue
            for st in policy["Statement"]:
                actions = st.get("Action", [])
                actions = [actions] if isinstance(actions, str) else actions
                resources = st.get("Resource", [])
                resources = [resources] if not isinstance(resources, list) else resources
                cond = st.get("Condition", {})
                wide = any("*" in str(x) for x in resources)  # '*', key/*, arn:aws:s3:::*/...
                for a in actions:
                    svc = a.split(":")[0]
                    if a.endswith("*"):
                        out.append(f"{name}: wildcard action {a}")
                    if a == "dynamodb:Scan":
                        out.append(f"{name}: dynamodb:Scan")
                    audit_only = a == "dynamodb:PutItem" and \
                        cond.get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys") == ["L#*", "H#*"]
                    if svc == "dynamodb" and methods == {"GET"} and not audit_only and a not in (
                            "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"):
                        out.append(f"{name}: a read-only route may {a}")
                    if svc in ("kms", "s3", "dynamodb") and wide and not cond:
                        out.append(f"{name}: {a} on {resources} without a condition")
                    if a in ("kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:EnableKey") and \
                            "aws:ResourceTag/trustfn:stack" not in str(cond):
                        out.append(f"{name}: {a} on keys not tagged with this stack")
                    if a == "kms:TagResource":
                        # IAM tagging rights reach every key they name, so tagging at creation
                        # (which needs them on all keys) would let the function tag any key
                        # trustfn:path and sign with it. New keys' own policies grant it.
                        out.append(f"{name}: {a} in an IAM policy (tag through the new key's policy)")
                    if a == "kms:CreateKey":
                        if "kms:KeyUsage" not in str(cond) or "kms:KeySpec" not in str(cond):
                            out.append(f"{name}: {a} of any key usage or spec")
                        env = r["Properties"].get("Environment", {}).get("Variables", {})
                        if "TRUSTFN_KEY_CREATOR_ROLE" not in env:
                            out.append(f"{name}: {a} without TRUSTFN_KEY_CREATOR_ROLE (no one may tag its keys)")
                    if wide and a in ("kms:Sign", "kms:DescribeKey", "kms:ListResourceTags") and \
                            "aws:ResourceTag/trustfn:" not in str(cond):
                        out.append(f"{name}: {a} on keys trustfn neither manages nor was granted")
    return out


def test_template_grants_least_privilege():
    """No KMS, S3 or DynamoDB action on a wildcard resource without a condition, no Scan, no
    write from a read-only route, key retirement only for this stack's keys, tagging only at
    creation, signing only with keys trustfn generated or was granted (trustfn:adopt-by)."""
    assert iam_findings((ROOT / "template.yaml").read_text()) == []


def test_the_iam_lint_finds_what_it_looks_for():
    wide = """
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties:
      Events: {Api: {Type: HttpApi, Properties: {Method: GET, Path: /x}}}
      Policies:
        - DynamoDBReadPolicy: { TableName: !Ref Table }
        - Statement:
            - {Effect: Allow, Action: [kms:Sign], Resource: '*'}
            - {Effect: Allow, Action: [dynamodb:PutItem, dynamodb:Scan], Resource: !GetAtt Table.Arn}
            - Effect: Allow
              Action: [kms:ScheduleKeyDeletion]
              Resource: !Sub 'arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*'
              Condition: {'Null': {'aws:ResourceTag/trustfn:path': 'false'}}
            - Effect: Allow
              Action: [kms:CreateKey, kms:TagResource]
              Resource: '*'
              Condition:
                StringEquals: { 'aws:RequestTag/trustfn:stack': !Ref AWS::StackName }
                'Null': { 'aws:RequestTag/trustfn:path': 'false' }
"""
    found = iam_findings(wide)
    for what in ("policy template", "kms:Sign on ['*'] without a condition", "dynamodb:Scan",
                 "read-only route may dynamodb:PutItem", "not tagged with this stack", "neither manages",
                 "kms:TagResource in an IAM policy", "kms:CreateKey of any key usage",
                 "without TRUSTFN_KEY_CREATOR_ROLE"):
        assert any(what in f for f in found), (what, found)


def test_table_sync_rolls_a_table_back_to_a_copy(stack, api, ddb):
    """The runbook's last step (docs/RELIABILITY.md): the live table is made equal to a restored copy."""
    import table_sync
    from conftest import table_items
    org = api.org()
    api.tenant(f"{org}.t1")
    copy = "trustfn-restore-test"
    ddb.create_table(TableName=copy, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
    table_sync.sync(ddb, "trustfn", copy, apply=True, progress=lambda m: None)  # the "backup"
    snapshot = sorted(map(str, table_items(ddb, copy)))
    # Damage after the backup: a tenant deleted, another created.
    assert api.delete(f"/v1/{org}.t1/resource-api/resources/delete").status_code == 202
    api.tenant(f"{org}.t2")
    assert table_sync.sync(ddb, copy, "trustfn", apply=False, progress=lambda m: None)[:2] == (0, 0), "dry run"
    written, deleted, _ = table_sync.sync(ddb, copy, "trustfn", apply=True, progress=lambda m: None)
    assert written >= 1 and deleted >= 1
    assert sorted(map(str, table_items(ddb, "trustfn"))) == snapshot
    assert api.get(f"/v1/{org}.t1/resource-api/resources/list").status_code == 200, "t1 is back"
    assert api.get(f"/v1/{org}.t2/resource-api/resources/list").status_code == 404, "t2 is gone"


def test_a_restore_merge_never_brings_back_an_older_status():
    """table_sync's merge on its own (no stack): the copy's pending changes that the live table
    folded long ago are not applied again; when the live table lost the list, they are; and a
    published list older than the copy does not override it."""
    import zlib as z
    import table_sync
    cfg_id, list_id = "o.t.st.c", "o.t.st.c.l1"
    layout_cfg = {"kid": "o.t.kms.k", "config": {"type": "TokenStatusList", "statusSize": 2, "size": 16}}

    def items(status_of_7, pending=None, published_at="2026-11-30T10:00:00Z"):
        doc = {"listId": "l1", "uri": "https://example.invalid/l1", "objectKey": "k", "size": 16,
               "statusVersion": 3, "publishedVersion": 3, "_refreshAt": 0, "_permKey": "kms:x",
               "publishedAt": published_at}
        packed = bytearray(4)
        packed[7 // 4] = status_of_7 << ((7 % 4) * 2)
        out = {
            ("R#o.t.st", cfg_id): {"pk": {"S": "R#o.t.st"}, "sk": {"S": cfg_id}, "_id": {"S": cfg_id},
                                   "type": {"S": "status-credential"}, "doc": {"S": json.dumps(layout_cfg)},
                                   "children": {"N": "1"}},
            ("R#" + cfg_id, list_id): {"pk": {"S": "R#" + cfg_id}, "sk": {"S": list_id}, "_id": {"S": list_id},
                                       "type": {"S": "status-list"}, "doc": {"S": json.dumps(doc)}},
            ("S#" + list_id, "00000000"): {"pk": {"S": "S#" + list_id}, "sk": {"S": "00000000"},
                                           "b": {"B": z.compress(bytes(packed))}, "v": {"N": "4"}},
        }
        if pending:
            out[("P#" + list_id, "0001")] = {"pk": {"S": "P#" + list_id}, "sk": {"S": "0001"},
                                             "changes": {"S": pending}}
        return out

    def status_of_7(wanted):
        raw = z.decompress(wanted[("S#" + list_id, "00000000")]["b"]["B"])
        return (raw[7 // 4] >> ((7 % 4) * 2)) & 3

    quiet = lambda m: None  # noqa: E731
    # The copy: 7 valid with a pending suspension; live: that suspension folded, then a revocation.
    copy, live = items(0, pending="7:2"), items(1)
    table_sync.merge(copy, live, quiet, fetch=False)
    assert status_of_7(copy) == 1, "the revocation made after the restore point stays"
    assert not [k for k in copy if k[0].startswith("P#")], "the copy's folded change is not refolded"
    assert int(copy[("S#" + list_id, "00000000")]["v"]["N"]) == 5, "above both tables' versions"
    assert json.loads(copy[("A#" + list_id, "A")]["n"]["N"]) == 16, "marked full"
    # The live table lost the list: the copy's pending change is applied, not dropped.
    copy = items(0, pending="7:2")
    table_sync.merge(copy, {}, quiet, fetch=False)
    assert status_of_7(copy) == 2 and not [k for k in copy if k[0].startswith("P#")]
    # A published list older than the copy (issued before its last publish) does not override it.
    copy = items(1)
    older = bytearray(4)
    older[7 // 4] = 2 << ((7 % 4) * 2)
    fetched = table_sync.published_bytes
    table_sync.published_bytes = lambda uri, n, progress: (older, 1_700_000_000)
    try:
        table_sync.merge(copy, {}, quiet, fetch=True)
    finally:
        table_sync.published_bytes = fetched
    assert status_of_7(copy) == 1


def test_a_restore_merge_keeps_every_revocation_crl_number_and_newer_record():
    """table_sync's merge of certificates on its own (no stack): a revocation recorded after the
    restore point survives, each IACA's CRL keeps the larger cRLNumber and is due with a
    revision nobody published, certificates and configurations created after the restore point
    (with the keys they sign with) stay, and every counter matches the items that will be."""
    import table_sync
    svc, iaca, key = "o.t.x509", "o.t.x509.aa", "o.t.kms.k"

    def res(rid, kind, doc, children=0, dependants=0):
        parent = rid.rsplit(".", 1)[0]
        return ("R#" + parent, rid), {
            "pk": {"S": "R#" + parent}, "sk": {"S": rid}, "_id": {"S": rid}, "parent": {"S": parent},
            "type": {"S": kind}, "doc": {"S": json.dumps(doc)}, "children": {"N": str(children)},
            "dependants": {"N": str(dependants)}}

    def cert(serial, revoked=False):
        doc = {"profile": "document-signer", "serialNumber": serial, "issuer": "CN=IACA", "pem": "x"}
        if revoked:
            doc["revocation"] = {"reason": "keyCompromise", "revocationDate": "2026-12-01T00:00:00Z",
                                 "revokedAt": "2026-12-01T00:00:00Z"}
        return res(f"{iaca}.{serial}", "issued-certificate", doc)

    def edge(frm, to):
        return {("D#" + frm, to): {"pk": {"S": "D#" + frm}, "sk": {"S": to}},
                ("U#" + to, frm): {"pk": {"S": "U#" + to}, "sk": {"S": frm}}}

    def table(number, revision, revoked, certs, extra=()):
        crl = {"number": number, "revision": revision, "publishedRevision": revision, "publishedNumber": number,
               "_refreshAt": 0, "_objectVersion": f"etag-{number}"}
        items = dict([res("o.t", "tenant", {"name": "t"}), res("o.t.kms", "service", {"type": "kms"}),
                      res(key, "key", {"kmsKeyArn": "arn"}), res(svc, "service", {"type": "x509-service"}),
                      res(iaca, "issued-certificate", {"profile": "iaca", "serialNumber": "aa", "crl": crl})])
        items.update(edge(iaca, key))
        items.update(dict(cert(s, s in revoked) for s in certs))
        items.update(dict(extra))
        return items

    quiet = lambda m: None  # noqa: E731
    # The copy: b1 valid, CRL number 100. Live (after the restore point): b1 revoked, b2 issued
    # and revoked, CRL number 250; a status configuration created with a new key.
    copy = table(100, 1, [], ["b1"])
    new_cfg = [res("o.t.st", "service", {"type": "credential-status"}),
               res("o.t.st.c", "status-credential", {"kid": "o.t.kms.k2", "config": {}, "lists": []}),
               res("o.t.kms.k2", "key", {"kmsKeyArn": "arn2"})]
    live = table(250, 3, ["b1", "b2"], ["b1", "b2"], new_cfg)
    live.update(edge("o.t.st.c", "o.t.kms.k2"))
    audit = {("L#o", f"{n:020}"): {"pk": {"S": "L#o"}, "sk": {"S": f"{n:020}"}, "e": {"S": "{}"}} for n in (1, 2)}
    audit[("H#o", "H")] = {"pk": {"S": "H#o"}, "sk": {"S": "H"}, "seq": {"N": "2"}, "hash": {"S": "h2"}}
    live.update(audit)
    table_sync.merge(copy, live, quiet, fetch=False)
    docs = {i["_id"]["S"]: json.loads(i["doc"]["S"]) for k, i in copy.items() if k[0].startswith("R#")}
    assert docs[f"{iaca}.b1"]["revocation"]["reason"] == "keyCompromise", "the revocation survives"
    assert docs[f"{iaca}.b2"]["revocation"], "a certificate issued after the restore point stays"
    crl = docs[iaca]["crl"]
    assert crl["number"] == 250 and crl["publishedNumber"] == 250, "numbers never go back"
    assert crl["revision"] == 4 and crl["publishedRevision"] < crl["revision"], "due with every revocation"
    assert crl["_objectVersion"] == "etag-250", "expects the object the live table last wrote"
    assert crl["_refreshAt"] > 0
    assert all(copy[k] == v for k, v in audit.items()), "the audit log is never rolled back"
    # The IACA's revoked set (what its CRL is built from) holds both revocations, and only them.
    assert crl["_revokedSet"] is True
    entries = {(k[0], k[1]): int(i["rd"]["N"]) for k, i in copy.items() if k[0].startswith("V#")}
    assert entries == {(f"V#{iaca}", "b1"): 1796083200, (f"V#{iaca}", "b2"): 1796083200}  # 2026-12-01
    # The status service, its configuration and the key it signs with, all created after the
    # restore point, stay, with their edge.
    kept = {i["_id"]["S"] for k, i in copy.items() if k[0].startswith("R#")}
    assert {"o.t.st.c", "o.t.kms.k2"} <= kept
    assert ("D#o.t.st.c", "o.t.kms.k2") in copy and ("U#o.t.kms.k2", "o.t.st.c") in copy
    counts = {i["_id"]["S"]: (int(i["children"]["N"]), int(i["dependants"]["N"]))
              for k, i in copy.items() if k[0].startswith("R#")}
    assert counts[iaca] == (2, 0) and counts[key] == (0, 1) and counts["o.t.kms.k2"] == (0, 1)
    assert counts["o.t.st"] == (1, 0) and counts["o.t.kms"] == (2, 0)


def test_a_restore_merge_keeps_published_vicals_and_never_reuses_an_issue_id():
    """A VICAL version published after the restore point stays (verifiers hold it), stays the
    service's latest, and the issue counter keeps the live table's larger value."""
    import table_sync
    svc = "o.t.vical"

    def res(rid, kind, doc):
        parent = rid.rsplit(".", 1)[0]
        return ("R#" + parent, rid), {"pk": {"S": "R#" + parent}, "sk": {"S": rid}, "_id": {"S": rid},
                                      "parent": {"S": parent}, "type": {"S": kind}, "doc": {"S": json.dumps(doc)},
                                      "children": {"N": "0"}, "dependants": {"N": "0"}}

    def version(v, n):
        return res(f"{svc}.{v}", "vical-version", {"versionId": v, "vicalIssueId": n, "vicalProvider": "P",
                                                   "date": "2026-12-01T00:00:00Z", "entryCount": 1, "sha256": "x",
                                                   "_cbor": ""})

    def table(latest, versions, counter):
        items = dict([res("o.t", "tenant", {"name": "t"}),
                      res(svc, "service", {"type": "vical-service", "config": {
                          "signingKeyId": "o.t.kms.k", "signerCertificateId": "o.t.s.c", "_latest": latest}})])
        items.update(dict(version(v, n) for v, n in versions))
        items[(f"N#vical-issue:{svc}", "N")] = {"pk": {"S": f"N#vical-issue:{svc}"}, "sk": {"S": "N"},
                                                "n": {"N": str(counter)}}
        return items

    copy = table("v1", [("v1", 1)], 1)
    live = table("v3", [("v1", 1), ("v2", 2), ("v3", 3)], 4)
    table_sync.merge(copy, live, lambda m: None, fetch=False)
    docs = {i["_id"]["S"]: json.loads(i["doc"]["S"]) for k, i in copy.items() if k[0].startswith("R#")}
    assert {f"{svc}.v2", f"{svc}.v3"} <= set(docs), "versions published after the restore point stay"
    assert docs[svc]["config"]["_latest"] == "v3"
    assert copy[(f"N#vical-issue:{svc}", "N")]["n"]["N"] == "4", "issue ids are never handed out twice"
    counts = {i["_id"]["S"]: int(i["children"]["N"]) for k, i in copy.items() if k[0].startswith("R#")}
    assert counts[svc] == 3


def test_the_architecture_page_names_files_that_exist():
    """docs/ARCHITECTURE.md is a map: every path it names (in backticks, with a slash) exists."""
    import re
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    named = {m for m in re.findall(r"`([A-Za-z0-9_./<>-]+/[A-Za-z0-9_./-]*)`", text) if "<" not in m}
    assert len(named) > 20, named
    missing = sorted(p for p in named if not (ROOT / p.rstrip("/")).exists())
    assert missing == [], f"docs/ARCHITECTURE.md names paths that do not exist: {missing}"


def test_the_local_dynamodb_keeps_transactions_atomic_without_copying_tables(ddb):
    """infra/local/moto_serial.py replaces moto's table copy per transaction (whose cost grew with
    the table until small commits outlasted the SDK timeout) with a check-then-apply that undoes
    only the items it touched. Both ways a transaction can fail still write nothing."""
    table = f"tx-{uuid.uuid4().hex[:8]}"
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])

    def put(pk, v, cond=None):
        p = {"TableName": table, "Item": {"pk": {"S": pk}, "sk": {"S": "x"}, "v": {"S": v}}}
        return {"Put": {**p, "ConditionExpression": cond} if cond else p}

    def value(pk):
        return ddb.get_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": "x"}}).get("Item", {}).get("v", {}).get("S")

    ddb.transact_write_items(TransactItems=[put("a", "1"), put("b", "1")])
    # A failed condition: the reasons name it, the first Put is not written.
    with pytest.raises(ddb.exceptions.TransactionCanceledException) as e:
        ddb.transact_write_items(TransactItems=[put("c", "1"), put("a", "2", "attribute_not_exists(pk)")])
    assert [r["Code"] for r in e.value.response["CancellationReasons"]] == ["None", "ConditionalCheckFailed"]
    assert (value("a"), value("c")) == ("1", None)
    # A write refused after others were applied (over 400 KB): those are undone.
    with pytest.raises(ddb.exceptions.ClientError):
        ddb.transact_write_items(TransactItems=[
            put("a", "3"), {"Delete": {"TableName": table, "Key": {"pk": {"S": "b"}, "sk": {"S": "x"}}}},
            put("d", "y" * 410_000)])
    assert (value("a"), value("b"), value("d")) == ("1", "1", None)
    # Conditions see the state before the transaction; updates apply.
    ddb.transact_write_items(TransactItems=[{"Update": {
        "TableName": table, "Key": {"pk": {"S": "a"}, "sk": {"S": "x"}}, "UpdateExpression": "SET v = :v",
        "ConditionExpression": "v = :o", "ExpressionAttributeValues": {":v": {"S": "9"}, ":o": {"S": "1"}}}}])
    assert value("a") == "9"
    ddb.delete_table(TableName=table)

"""`make bench PARTS=cost`: what trustfn costs on AWS, from what its operations measurably do.

The local stack (moto answering for DynamoDB, KMS and S3) counts every AWS call an operation
makes, the DynamoDB request units those calls would be billed (from the items' sizes, see
infra/local/moto_serial.py) and the bytes S3 stores. Those counts, times the list prices below,
give the cost of each operation. What is not measured here is said so: Lambda time is modelled
from the calls (each call's typical latency, PRICES' neighbour LATENCY_MS), since the local
emulators are not AWS's latencies, and the per-month scenarios multiply the measured operations
by how often they happen.
"""
import json
import time
from concurrent.futures import ThreadPoolExecutor

# us-east-1 list prices (USD), as of 2026-12-04. AWS's pricing pages fill their tables in the
# browser, so each figure was taken from copies of AWS's Price List data and pricing write-ups that
# agree with each other (DynamoDB on-demand: the November 2024 prices; KMS: "asymmetric requests
# except RSA 2048"); the CloudWatch alarm figure is the long-standing standard-resolution price.
# Check them in the AWS Pricing Calculator before relying on one.
PRICES_DATE = "2026-12-04"
PRICES = {
    "lambda_gb_s_arm": 0.0000133334,      # per GB-second, Arm, first 7.5 billion GB-s
    "lambda_request": 0.20 / 1e6,         # per request
    "ddb_wru": 0.625 / 1e6,               # on-demand write request unit
    "ddb_rru": 0.125 / 1e6,               # on-demand read request unit
    "ddb_gb_month": 0.25,                 # Standard table class storage
    "kms_key_month": 1.00,                # customer managed key
    "kms_asym_request": 0.15 / 1e4,       # asymmetric requests (ECC Sign)
    "s3_put": 0.005 / 1000,               # PUT, COPY, POST, LIST
    "s3_get": 0.0004 / 1000,
    "s3_gb_month": 0.023,
    "apigw_http_request": 1.00 / 1e6,     # HTTP API, first 300 million a month
    "cw_metric_month": 0.30,              # custom metric, first 10,000
    "cw_alarm_month": 0.10,               # standard resolution alarm metric (metric math: per metric)
    "cw_dashboard_month": 3.00,
    "cw_logs_gb": 0.50,                   # ingestion
    "pca_general_month": 400.0,
    "pca_short_lived_month": 50.0,
    "pca_cert_first_1000": 0.75,          # general-purpose, per certificate, 1-1,000 a month
    "pca_short_lived_cert": 0.058,
    "ec2_t4g_small_hour": 0.0168,
    "ebs_gp3_gb_month": 0.08,
}
# Modelled latency (ms) of one call from Lambda in the same region: what an invocation is billed
# for besides its own CPU (the functions wait on these; their CPU time is a few ms).
LATENCY_MS = {"dynamodb.TransactWriteItems": 12, "dynamodb": 5, "kms.Sign": 15, "kms": 10, "s3.PUT": 30,
              "s3": 15}
CPU_MS = 5            # the function's own work per invocation (docs/BENCHMARKS.md: warm answers)
MEMORY_GB = 128 / 1024
MONTH_H = 730


def call_ms(counts):
    ms = CPU_MS
    for op, n in counts.items():
        if op in ("dynamodb.WRU", "dynamodb.RRU", "s3.bytes"):
            continue
        ms += n * LATENCY_MS.get(op, LATENCY_MS.get(op.split(".")[0], 5))
    return ms


def dollars(counts, invocations=1, memory_gb=MEMORY_GB, api_requests=None):
    """The cost of what `counts` did, over `invocations` Lambda invocations."""
    api_requests = invocations if api_requests is None else api_requests
    p = PRICES
    kms = sum(n for op, n in counts.items() if op == "kms.Sign")
    s3_puts = counts.get("s3.PUT", 0)
    s3_gets = counts.get("s3.GET", 0)
    lam = invocations * p["lambda_request"] + call_ms(counts) / 1000 * memory_gb * p["lambda_gb_s_arm"]
    return {
        "lambda": lam,
        "api": api_requests * p["apigw_http_request"],
        "dynamodb": counts.get("dynamodb.WRU", 0) * p["ddb_wru"] + counts.get("dynamodb.RRU", 0) * p["ddb_rru"],
        "kms": kms * p["kms_asym_request"],
        "s3": s3_puts * p["s3_put"] + s3_gets * p["s3_get"],
    }


def total(d):
    return sum(d.values())


class Counter:
    """The local moto's counts over a block."""

    def __init__(self, st):
        import requests
        self.url, self.requests = f"{st.moto_url}/_trustfn/calls", requests

    def __enter__(self):
        self.requests.post(self.url, timeout=10)
        return self

    def __exit__(self, *exc):
        self.counts = self.requests.get(self.url, timeout=10).json()


def per(counts, n):
    return {k: v / n for k, v in counts.items()}


IAN = {"uri": "https://dmv.example.gov/mdl"}


def measure(st, call, runs, log):
    """Counts per operation on the running stack."""
    import boto3
    s3 = boto3.client("s3", endpoint_url=st.moto_url, region_name="us-east-1", aws_access_key_id="test",
                      aws_secret_access_key="test")
    out = {}
    org = "cost"
    call("POST", "/v1/admin/organizations", {"_id": org, "profile": {"name": org}})
    call("POST", f"/v1/{org}.t/resource-api/tenants/create", {"name": "t"})
    call("POST", f"/v1/{org}.t.kms/resource-api/services/create", {"type": "kms"})
    s3.create_bucket(Bucket="cost-crls")
    registry = {"type": "aws", "bucketName": "cost-crls", "region": "us-east-1", "endpointUrl": st.moto_url,
                "accessKeyId": "test", "secretKey": "test"}
    call("POST", f"/v1/{org}.t.x509/resource-api/services/create",
         {"type": "x509-service", "dependencies": [f"{org}.t.kms"],
          "config": {"crl": {"registry": registry, "validityDays": 7}}})
    for k in ["iaca"] + [f"ds{i}" for i in range(runs)]:
        call("POST", f"/v1/{org}.t.kms.{k}/kms-service-api/keys/generate", {"keyType": "secp256r1"})
    kdesc = lambda k: {"type": "kms-hosted-key-descriptor", "keyIdPath": f"{org}.t.kms.{k}"}  # noqa: E731
    base = f"/v1/{org}.t.x509/x509-service-api"
    cd = {"country": "US", "commonName": "Cost IACA", "stateOrProvinceName": "US-CA",
          "issuerAlternativeNameConf": IAN}
    with Counter(st) as c:
        iaca = call("POST", f"{base}/iso/iacas", {"certificateData": cd, "iacaKeyDesc": kdesc("iaca")})
    out["iaca_issue"] = c.counts
    ds = []
    for i in range(runs):
        body = {"iacaSigner": {"type": "iaca-pem-cert-descriptor", "iacaPemEncodedCertificate": iaca["certificatePEM"],
                               "iacaKeyDesc": kdesc("iaca")},
                "certificateData": {"country": "US", "commonName": f"Cost DS {i}", "stateOrProvinceName": "US-CA"},
                "dsKeyDescriptor": kdesc(f"ds{i}")}
        with Counter(st) as c:
            ds.append(call("POST", f"{base}/iso/document-signers", body))
        out.setdefault("ds_issue_runs", []).append(c.counts)
    from cryptography import x509
    serial = format(x509.load_pem_x509_certificate(ds[0]["certificatePEM"].encode()).serial_number, "x")
    with Counter(st) as c:
        call("POST", f"{base}/certificates/revoke", {"serialNumber": serial, "reason": "keyCompromise"})
    out["revoke"] = c.counts
    # A CRL republished by the refresh (what every half validity costs), with nothing else due.
    with Counter(st) as c:
        refresh(st, lookahead=8 * 86400)
    out["refresh_crl"] = c.counts
    with Counter(st) as c:
        refresh(st)
    out["refresh_idle"] = c.counts
    # Status lists of 2^20 and 2^24 entries: one update at a time (each publishes), then 16
    # concurrent clients (publishes coalesce); and a list's scheduled republish.
    for exp in (20, 24):
        cfg = status_config(call, st, org, f"l{exp}", {"type": "TokenStatusList", "size": 1 << exp})
        entries = []
        while len(entries) < 16 * 8 + runs:
            entries += call("POST", f"{cfg}/entries", {"count": 1000})["entries"]
        log(f"cost: 2^{exp}-entry list, {runs} single updates, then 128 from 16 clients")
        singles = []
        for e in entries[:runs]:
            with Counter(st) as c:
                call("PUT", f"{cfg}/status/update", {"entry": e["id"], "status": "0x1"})
            singles.append(c.counts)
        out[f"update_single_{exp}"] = singles
        work = entries[runs:runs + 128]
        with Counter(st) as c:
            with ThreadPoolExecutor(max_workers=16) as pool:
                list(pool.map(lambda e: call("PUT", f"{cfg}/status/update", {"entry": e["id"], "status": "0x1"}),
                              work))
        out[f"update_loaded_{exp}"] = per(c.counts, len(work))
        if exp == 20:  # the only list yet: its scheduled republish alone
            with Counter(st) as c:
                refresh(st, lookahead=86400)
            out["refresh_list_20"] = c.counts
    return out


def status_config(call, st, org, name, config):
    call("POST", f"/v1/{org}.t.{name}/resource-api/services/create", {
        "type": "credential-status", "dependencies": [f"{org}.t.kms"],
        "config": {"registry": {"type": "aws", "bucketName": "status-lists", "region": "us-east-1",
                                "endpointUrl": st.moto_url, "accessKeyId": "test", "secretKey": "test"}}})
    call("POST", f"/v1/{org}.t.kms.{name}/kms-service-api/keys/generate", {"keyType": "secp256r1"})
    cfg = f"/v1/{org}.t.{name}.c/credential-status-service-api/status-credential"
    call("POST", f"{cfg}/create", {"kid": f"{org}.t.kms.{name}", "config": config})
    return cfg


def refresh(st, lookahead=0):
    import requests
    event = {"detail-type": "Scheduled Event", "source": "aws.events", "detail": {"lookaheadSeconds": lookahead}}
    r = requests.post(f"{st.api_url}/2015-03-31/functions/status-refresh/invocations", json=event, timeout=300)
    assert r.status_code == 200 and not r.headers.get("x-amz-function-error"), r.text
    return r.json()


# Every metric the functions emit (name, dimension value): each is a billed custom metric.
METRICS = [(n, k) for k in ("status-list", "crl") for n in (
    "Published", "PublishFailed", "ConsecutiveFailures", "PublishDuration", "HeadroomSeconds", "HeadroomRatio",
    "LeaseTakeover")] + [(n, "vical") for n in (
    "Published", "PublishFailed", "ConsecutiveFailures", "HeadroomSeconds", "HeadroomRatio")] + [("KmsSignLatency", "kms"), ("KmsSignFailed", "kms")] + [(n, None) for n in (
        "RefreshRun", "RefreshDue", "RefreshRepublished", "RefreshFailed", "RefreshHeld", "RefreshDeferred",
        "RefreshDuration", "CheckpointsSigned", "CheckpointsFailed", "ServerError", "NearTimeout", "RequestDuration")]


def template_alarms():
    """(alarms, metrics they watch) in template.yaml: CloudWatch bills metric-math alarms per metric."""
    import routes
    doc = routes.yaml.load((routes.ROOT / "template.yaml").read_text(), Loader=routes._CfnLoader)
    alarms = [r["Properties"] for r in doc["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    return len(alarms), sum(sum(1 for m in a["Metrics"] if "MetricStat" in m) if "Metrics" in a else 1 for a in alarms)


def median_counts(runs):
    keys = set().union(*runs)
    out = {}
    for k in keys:
        v = sorted(r.get(k, 0) for r in runs)
        out[k] = v[len(v) // 2]
    return out


def model(m):
    """Costs from the measured counts: per operation, per million status updates, per CA-month."""
    p = PRICES
    rows = {}
    ds = median_counts(m["ds_issue_runs"])
    rows["IACA issued"] = dollars(m["iaca_issue"])
    rows["Document Signer issued"] = dollars(ds)
    rows["certificate revoked (CRL republished)"] = dollars(m["revoke"])
    per_million = {}
    for exp in (20, 24):
        single = median_counts(m[f"update_single_{exp}"])
        loaded = m[f"update_loaded_{exp}"]
        # The update function has 512 MB (it may fold and publish big lists).
        per_million[f"2^{exp}, one at a time (each publishes)"] = {
            k: v * 1e6 for k, v in dollars(single, memory_gb=0.5).items()}
        per_million[f"2^{exp}, 16 concurrent clients (publishes coalesce)"] = {
            k: v * 1e6 for k, v in dollars(loaded, memory_gb=0.5).items()}
    # A CA-month: an IACA with 10 Document Signers issued over the month (11 keys), its CRL
    # republished at half its 7-day validity, 4 status lists of 2^20 entries republished at
    # their schedule (24 h validity, 12 h ttl: about every 11.9 h), and 1,000 revocations.
    crl_publishes = 30.4 / 3.5
    list_publishes = MONTH_H / 11.9
    refresh_crl = dollars(m["refresh_crl"], memory_gb=0.5, api_requests=0)
    refresh_list = dollars(m["refresh_list_20"], memory_gb=0.5, api_requests=0)
    ca_month = {
        "KMS keys (IACA + 10 DS + 1 list signer)": 12 * p["kms_key_month"],
        "issuance (1 IACA + 10 DS)": total(rows["IACA issued"]) + 10 * total(rows["Document Signer issued"]),
        "CRL republished at half validity": crl_publishes * total(refresh_crl),
        "4 status lists republished on schedule": 4 * list_publishes * total(refresh_list),
        "1,000 status updates (one at a time)": sum(per_million["2^20, one at a time (each publishes)"].values()) / 1000,
    }
    # What the stack costs whatever it holds: the refresh every minute, alarms, dashboard, metrics.
    idle = dollars(m["refresh_idle"], memory_gb=0.5, api_requests=0)
    alarms, alarm_metrics = template_alarms()
    stack_month = {
        "refresh every minute (nothing due)": 43_800 * total(idle),
        f"{alarms} alarms ({alarm_metrics} metrics)": alarm_metrics * p["cw_alarm_month"],
        "dashboard": p["cw_dashboard_month"],
        f"{len(METRICS)} custom metrics": len(METRICS) * p["cw_metric_month"],
        "audit checkpoint key and secrets key": 2 * p["kms_key_month"],
    }
    jvm_month = MONTH_H * p["ec2_t4g_small_hour"] + 8 * p["ebs_gp3_gb_month"] + 12 * p["kms_key_month"]
    compare = {
        "trustfn: one CA-month (above) + the stack's fixed cost": sum(ca_month.values()) + sum(stack_month.values()),
        "AWS Private CA, general-purpose: CA + 11 certificates": p["pca_general_month"] + 11 * p["pca_cert_first_1000"],
        "AWS Private CA, short-lived mode (certificates valid 7 days at most)": p["pca_short_lived_month"] + 11 * p["pca_short_lived_cert"],
        "a JVM service on one t4g.small (on demand, 8 GB gp3) with the same 12 KMS keys": jvm_month,
    }
    return {"operations": rows, "per_million_updates": per_million, "ca_month": ca_month,
            "stack_month": stack_month, "compare": compare}


def fmt_usd(v):
    if v >= 100:
        return f"${v:,.0f}"
    if v >= 1:
        return f"${v:,.2f}"
    if v >= 0.01:
        return f"${v:.3f}"
    return f"${v:.6f}"


def render(result, machine):
    m, c = result["measured"], model(result["measured"])
    ds = median_counts(m["ds_issue_runs"])
    lines = [
        "# What trustfn costs",
        "",
        f"Generated by `make bench PARTS=cost` (`bench/cost.py`), measured {result['measured_at']} on {machine}.",
        "",
        "How: the local stack (debug build; what an operation calls does not depend on the build) counts",
        "every AWS call an operation makes, the DynamoDB on-demand request units they would be billed",
        "(from the items' sizes, `infra/local/moto_serial.py`) and the bytes S3 stores. Those counts times",
        f"the us-east-1 list prices in `bench/cost.py` (as of {PRICES_DATE}; check before relying on them) give",
        "the cost. Lambda time is modelled, not measured: each call's typical in-region latency",
        f"({', '.join(f'{k} {v} ms' for k, v in LATENCY_MS.items())}) plus {CPU_MS} ms of the function's own",
        "work, at 128 MB (512 MB for the functions that publish). The emulators' latencies are not AWS's.",
        "",
        "## Per operation",
        "",
        "| operation | DynamoDB WRU | RRU | KMS Sign | S3 PUT | Lambda | API | DynamoDB | KMS | S3 | total |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    counts = {"IACA issued": m["iaca_issue"], "Document Signer issued": ds,
              "certificate revoked (CRL republished)": m["revoke"]}
    for name, d in c["operations"].items():
        k = counts[name]
        lines.append(f"| {name} | {k.get('dynamodb.WRU', 0):g} | {k.get('dynamodb.RRU', 0):g} | {k.get('kms.Sign', 0):g} | "
                     f"{k.get('s3.PUT', 0):g} | {fmt_usd(d['lambda'])} | {fmt_usd(d['api'])} | {fmt_usd(d['dynamodb'])} | "
                     f"{fmt_usd(d['kms'])} | {fmt_usd(d['s3'])} | {fmt_usd(total(d))} |")
    lines += [
        "",
        "## Per million status updates",
        "",
        "One entry per request. *One at a time*: each update folds, signs and publishes the list (the",
        "worst case). *16 concurrent clients*: 128 updates, publishes coalesce as they do under load.",
        "",
        "| list | WRU per update | RRU per update | Sign per update | Lambda | API | DynamoDB | KMS | S3 | total per million |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, d in c["per_million_updates"].items():
        exp = 20 if "2^20" in name else 24
        k = median_counts(m[f"update_single_{exp}"]) if "one at a time" in name else m[f"update_loaded_{exp}"]
        lines.append(f"| {name} | {k.get('dynamodb.WRU', 0):.1f} | {k.get('dynamodb.RRU', 0):.1f} | {k.get('kms.Sign', 0):.2f} | "
                     f"{fmt_usd(d['lambda'])} | {fmt_usd(d['api'])} | {fmt_usd(d['dynamodb'])} | {fmt_usd(d['kms'])} | "
                     f"{fmt_usd(d['s3'])} | {fmt_usd(total(d))} |")
    lines += ["", "## One CA-month", "",
              "An IACA with 10 Document Signers issued in the month, its CRL (7 days) republished at half",
              "validity, 4 status lists of 2^20 entries republished on schedule (24 h validity, 12 h ttl),",
              "1,000 status updates; the keys stay in KMS all month.", "",
              "| item | per month |", "|---|---|"]
    lines += [f"| {k} | {fmt_usd(v)} |" for k, v in c["ca_month"].items()]
    lines += [f"| **total** | **{fmt_usd(sum(c['ca_month'].values()))}** |", "",
              "The stack itself, whatever it holds:", "", "| item | per month |", "|---|---|"]
    lines += [f"| {k} | {fmt_usd(v)} |" for k, v in c["stack_month"].items()]
    lines += [f"| **total** | **{fmt_usd(sum(c['stack_month'].values()))}** |", "",
              "## Compared", "", "| one CA-month with 11 certificates | per month |", "|---|---|"]
    lines += [f"| {k} | {fmt_usd(v)} |" for k, v in c["compare"].items()]
    lines += ["",
              "AWS Private CA's fee is per CA: a root and an issuing CA is two. The JVM row is the instance",
              "alone (no load balancer, database, second instance for availability, or patching).",
              "Storage (DynamoDB $0.25 per GB-month, S3 $0.023) is left out: a CA's records are kilobytes;",
              "a 2^24-entry list's chunks a few MB.", ""]
    return "\n".join(lines)

#!/usr/bin/env python3
"""`make bench`: measures and writes docs/BENCHMARKS.md.

    bench/run.py [codec] [coldstart] [footprint] [load] [--runs N]

Every part stores its raw figures in bench/results/<part>.json; docs/BENCHMARKS.md is rendered
from whatever results exist, so one part can be re-measured alone. Figures are medians over
repeated runs, each next to a baseline measured in the same run (these machines are noisy).

    codec      2^20 statuses at 1/2/4/8 bits: ours vs @sd-jwt/jwt-status-list (npm) vs raw zlib -9
    coldstart  every function's init and first invoke vs a hello-world lambda_runtime binary,
               against our own Lambda Runtime API (infra/local/gateway.py); peak RSS
    footprint  stripped arm64 binary and zip per function (cargo lambda build --release --arm64)
    profile    before/after of the release profile: Cargo's stock release settings ([profile.stock])
               against ours, for the smallest and the largest function (init, RSS, sizes)
    load       1,000 status updates from 32 clients on one list, on the local stack (release build)
    scale      lists of 2^17 to 2^24 entries (1 and 2 bits), 10% allocated and 5% revoked: bytes
               written per allocation and per update call, largest item, fold + publish time, peak
               RSS (the status use cases on the in-memory table; one process per list)
    propagation  N concurrent clients revoke entries of one 2^20-entry list on the local stack
               (release build): from each update's request and acknowledgement to the first
               published object that holds it, against the median duration of one uncontended
               publish measured in the same run; publishes per 100 updates
    audit      status updates with and without the audit log, rounds alternating in one process
               (the status use cases on the in-memory table with a modelled DynamoDB round trip):
               updates/s, CPU and bytes written per update, at 1 and at 16 concurrent clients
    cost       AWS calls, DynamoDB request units and S3 bytes of each operation on the local stack,
               times dated list prices: docs/COST.md (bench/cost.py)
    sambuild   (only when named) clean builds in one run: the plain workspace build for Lambda, `sam
               build` as shipped (BuildMethod makefile) and `sam build` with the per-function
               rust-cargolambda method it replaced; wall time and peak RSS
"""
import base64
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "infra" / "local"))
sys.path.insert(0, str(ROOT / "infra" / "scripts"))
sys.path.insert(0, str(ROOT / "bench"))

import gateway  # noqa: E402
import stack as stack_mod  # noqa: E402

RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "BENCHMARKS.md"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
BASELINE = "hello-lambda"
# The largest function: what a position-dependent (non-PIE) link would save at init is measured on it.
NOPIE = "status-credential-update"
NOPIE_VARIANT = f"{NOPIE} (non-PIE)"


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def run(cmd, **kw):
    log("$ " + " ".join(str(c) for c in cmd))
    return subprocess.run(cmd, check=True, cwd=ROOT, **kw)


def median(v):
    return statistics.median(v) if v else None


def save(part, data):
    RESULTS.mkdir(parents=True, exist_ok=True)
    data["measured_at"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    (RESULTS / f"{part}.json").write_text(json.dumps(data, indent=1) + "\n")


def load_result(part):
    f = RESULTS / f"{part}.json"
    return json.loads(f.read_text()) if f.exists() else None


# --- codec ------------------------------------------------------------------------------------
def codec(runs):
    data = Path(tempfile.mkdtemp(prefix="trustfn-codec-"))
    ours = json.loads(run(["cargo", "run", "--quiet", "--release", "-p", "trustfn-statuslist", "--example",
                           "codec_bench", "--", str(data), str(runs)], capture_output=True, text=True).stdout)
    npm = json.loads(run(["node", "bench/codec.mjs", str(data), str(max(3, runs // 2))],
                         capture_output=True, text=True).stdout)
    floor = {}
    for bits in ("1", "2", "4", "8"):
        packed = (data / f"packed-{bits}.bin").read_bytes()
        msb = (data / f"packed-msb-{bits}.bin").read_bytes()

        def t(f):
            ms = []
            for _ in range(runs):
                s = time.perf_counter()
                f()
                ms.append((time.perf_counter() - s) * 1000)
            return median(ms)
        z = zlib.compress(packed, 9)
        gz = zlib.compressobj(9, zlib.DEFLATED, 31)
        g = gz.compress(msb) + gz.flush()
        floor[bits] = {
            "zlib9_compress_ms": t(lambda: zlib.compress(packed, 9)),
            "zlib_decompress_ms": t(lambda: zlib.decompress(z)),
            "gzip9_compress_ms": t(lambda: (lambda c: c.compress(msb) + c.flush())(
                zlib.compressobj(9, zlib.DEFLATED, 31))),
            "gzip_decompress_ms": t(lambda: zlib.decompress(g, 31)),
            "zlib9_bytes": len(z),
        }
    save("codec", {"ours": ours, "npm": npm, "floor": floor, "zlib_version": zlib.ZLIB_RUNTIME_VERSION,
                   "node": subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()})


# --- cold start -------------------------------------------------------------------------------
def _events(token):
    import events
    evs = {}
    for f in (ROOT / "infra" / "events").glob("*.json"):
        evs[f.stem] = f.read_text().replace(events.TOKEN, token).encode()
    evs[BASELINE] = evs["health"]
    return evs


def _nopie_variant():
    """The largest function linked as a position-dependent executable, beside the normal PIE build.

    Only the final link differs (`cargo rustc` passes the flag to that crate alone), so this shows
    what the dynamic loader's relocation of a PIE binary costs at init."""
    run(["cargo", "rustc", "--quiet", "--release", "-p", NOPIE, "--bin", NOPIE, "--", "-C", "link-arg=-no-pie"])
    dest = TARGET / "bench-variants" / f"{NOPIE}-no-pie"
    dest.parent.mkdir(exist_ok=True)
    shutil.copy2(TARGET / "release" / NOPIE, dest)
    run(["cargo", "build", "--quiet", "--release", "-p", NOPIE])  # back to the shipped (PIE) link
    return dest


def _cold_rounds(binaries, events, runs, st):
    """Median init, first response, RSS and page faults per binary, over `runs` interleaved rounds.

    `binaries` maps a label to (function, binary); the function names the event and the instance."""
    samples = {name: [] for name in binaries}
    names = list(binaries)
    logf = open(st.log_dir / "coldstart.log", "ab")
    for r in range(runs):
        log(f"cold start round {r + 1}/{runs}")
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            fn, binary = binaries[name]
            inst = gateway.Instance(fn, binary, st.env, logf)
            try:
                kind, out = inst.invoke(events[fn], timeout=60)
                s = inst.stats()
                status = json.loads(out).get("statusCode") if kind == "response" else "error"
                samples[name].append({**s, "status": status})
            finally:
                inst.stop()
    out = {}
    for name, ss in samples.items():
        out[name] = {"ready_ms": median([s["ready_ms"] for s in ss]),
                     "first_response_ms": median([s["first_response_ms"] for s in ss]),
                     "peak_rss_kib": median([s["peak_rss_kib"] for s in ss if s["peak_rss_kib"]]),
                     "ready_minor_faults": median([s["ready_minor_faults"] for s in ss
                                                   if s.get("ready_minor_faults") is not None] or [0]),
                     "status": ss[-1]["status"], "runs": len(ss)}
    return out


def _local_stack():
    return stack_mod.Stack(moto_port=stack_mod.free_port(), azurite_port=stack_mod.free_port(),
                           gcs_port=stack_mod.free_port(), api_port=stack_mod.free_port(), runner=None)


def coldstart(runs):
    import routes
    bin_dir = TARGET / "release"
    run(["cargo", "build", "--quiet", "--release", "--workspace", "--bins"])
    variant = _nopie_variant()
    functions = [BASELINE] + sorted(routes.template_functions())
    binaries = {fn: (fn, bin_dir / fn) for fn in functions}
    binaries[NOPIE_VARIANT] = (NOPIE, variant)
    st = _local_stack()
    st.start(progress=log)
    try:
        out = _cold_rounds(binaries, _events(st.admin_token), runs, st)
    finally:
        st.stop()
    variants = {NOPIE_VARIANT: out.pop(NOPIE_VARIANT)}
    save("coldstart", {"functions": out, "variants": variants, "baseline": BASELINE, "runs": runs})


# --- release profile before/after --------------------------------------------------------------
PROFILE_FUNCTIONS = ["health", NOPIE]


def profile(runs):
    """Cargo's stock release settings ([profile.stock] in Cargo.toml) against our release profile."""
    for prof in ("release", "stock"):
        run(["cargo", "build", "--quiet", "--profile", prof, "-p", BASELINE]
            + [a for fn in PROFILE_FUNCTIONS for a in ("-p", fn)])
    sizes = {}
    for prof in ("release", "stock"):
        built = _arm64_zips(f"lambda-{prof}", ["--profile", prof]
                            + [a for fn in PROFILE_FUNCTIONS for a in ("-p", fn)])
        for fn in PROFILE_FUNCTIONS:
            sizes[f"{fn} {prof}"] = {**built[fn], "x86_64_binary_bytes": (TARGET / prof / fn).stat().st_size}
    binaries = {f"{fn} {prof}": (fn, TARGET / prof / fn) for fn in [BASELINE] + PROFILE_FUNCTIONS
                for prof in ("release", "stock")}
    st = _local_stack()
    st.start(progress=log)
    try:
        out = _cold_rounds(binaries, _events(st.admin_token), runs, st)
    finally:
        st.stop()
    for name, s in sizes.items():
        out[name].update(s)
    save("profile", {"results": out, "release": _cargo_profile("release"), "stock": _cargo_profile("stock"),
                     "baseline": BASELINE, "runs": runs})


# --- footprint --------------------------------------------------------------------------------
def _arm64_zips(lambda_subdir, args):
    """`cargo lambda build --arm64 --output-format zip <args>`: zip and unzipped size per function."""
    # A target dir of its own: the cross build neither waits for nor blocks the native builds.
    arm_target = Path(f"{TARGET}-arm64")
    lambda_dir = arm_target / lambda_subdir
    run([str(ROOT / ".tools/venv/bin/cargo-lambda"), "lambda", "build", "--arm64", "--output-format", "zip",
         "--lambda-dir", str(lambda_dir)] + args,
        env={**os.environ, "CARGO_TARGET_DIR": str(arm_target),
             "PATH": f"{ROOT / '.tools/venv/bin'}{os.pathsep}{os.environ['PATH']}"})
    return {z.parent.name: _zip_sizes(z) for z in sorted(lambda_dir.glob("*/bootstrap.zip"))}


def _zip_sizes(z):
    with zipfile.ZipFile(z) as zf:
        binary = sum(i.file_size for i in zf.infolist())
    return {"zip_bytes": z.stat().st_size, "arm64_binary_bytes": binary}


def footprint(_runs):
    out = _arm64_zips("lambda", ["--release", "--workspace", "--bins"])
    for fn, sizes in out.items():
        x86 = TARGET / "release" / fn
        sizes["x86_64_binary_bytes"] = x86.stat().st_size if x86.exists() else None
    save("footprint", {"functions": out, "profile": _cargo_profile("release")})


def _relocations(binary):
    if not binary.exists():
        return None
    out = subprocess.run(["readelf", "-r", str(binary)], capture_output=True, text=True).stdout
    return sum(1 for line in out.splitlines() if "R_X86_64" in line)


def _cargo_profile(name):
    import tomllib
    return tomllib.loads((ROOT / "Cargo.toml").read_text())["profile"][name]


# --- load -------------------------------------------------------------------------------------
def _api(st):
    """A caller of the stack's API as the administrator: (call(method, path, body), headers)."""
    import requests
    s = requests.Session()
    h = {"Authorization": f"Bearer {st.admin_token}"}

    def call(method, path, body=None, expect=(200, 201)):
        r = s.request(method, st.api_url + path, json=body, headers=h, timeout=120)
        assert r.status_code in expect, (path, r.status_code, r.text)
        return r.json()
    return call, h


def _status_config(call, st, org, name, config):
    """Organization `org` with a kms key and a credential-status service publishing to moto S3,
    and the status configuration `name`: its status-credential path."""
    call("POST", "/v1/admin/organizations", {"_id": org, "profile": {"name": org}})
    call("POST", f"/v1/{org}.t/resource-api/tenants/create", {"name": "t"})
    call("POST", f"/v1/{org}.t.kms/resource-api/services/create", {"type": "kms"})
    call("POST", f"/v1/{org}.t.kms.k/kms-service-api/keys/generate", {"keyType": "secp256r1"})
    call("POST", f"/v1/{org}.t.status/resource-api/services/create", {
        "type": "credential-status", "dependencies": [f"{org}.t.kms"],
        "config": {"registry": {"type": "aws", "bucketName": "status-lists", "region": "us-east-1",
                                "endpointUrl": st.moto_url, "accessKeyId": "test", "secretKey": "test"}}})
    cfg = f"/v1/{org}.t.status.{name}/credential-status-service-api/status-credential"
    call("POST", f"{cfg}/create", {"kid": f"{org}.t.kms.k", "config": config})
    return cfg


def load(_runs, updates=1000, clients=32):
    import boto3
    import requests
    run(["cargo", "build", "--quiet", "--release", "--workspace", "--bins"])
    st = stack_mod.Stack(moto_port=stack_mod.free_port(), azurite_port=stack_mod.free_port(),
                         gcs_port=stack_mod.free_port(), api_port=stack_mod.free_port(), profile="release",
                         concurrency=clients)
    st.start(progress=log)
    try:
        call, h = _api(st)
        cfg = _status_config(call, st, "bench", "load", {"type": "TokenStatusList"})
        entries = call("POST", f"{cfg}/entries", {"count": updates})["entries"]
        latencies = []
        lock = threading.Lock()
        local = threading.local()

        def one(e):
            if not hasattr(local, "s"):
                local.s = requests.Session()
            t0 = time.perf_counter()
            r = local.s.put(st.api_url + f"{cfg}/status/update", json={"entry": e["id"], "status": "0x1"},
                            headers=h, timeout=120)
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                latencies.append(ms)
            return r.status_code
        log(f"{updates} updates from {clients} clients")
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=clients) as pool:
            codes = list(pool.map(one, entries))
        wall = time.perf_counter() - t0
        view = call("GET", f"{cfg}/view")
        (lst,) = view["lists"]
        s3 = boto3.client("s3", endpoint_url=st.moto_url, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")
        key = entries[0]["uri"].split(f"{st.moto_url}/status-lists/", 1)[1]  # bucket, then the object key
        body = s3.get_object(Bucket="status-lists", Key=key)["Body"].read().decode()
        claims = json.loads(base64.urlsafe_b64decode(body.split(".")[1] + "=="))
        lst_b = claims["status_list"]["lst"]
        raw = zlib.decompress(base64.urlsafe_b64decode(lst_b + "=" * (-len(lst_b) % 4)))
        missing = [e["index"] for e in entries if (raw[e["index"] // 8] >> (e["index"] % 8)) & 1 != 1]
        latencies.sort()
        save("load", {"updates": updates, "clients": clients, "instances_per_function": clients,
                      "ok": codes.count(200), "wall_s": wall, "updates_per_s": updates / wall,
                      "p50_ms": latencies[len(latencies) // 2], "p99_ms": latencies[int(len(latencies) * 0.99) - 1],
                      "publishes": lst["publishes"] - 1, "published_version": lst["publishedVersion"],
                      "status_version": lst["statusVersion"], "missing_in_published_list": len(missing)})
        assert not missing and codes.count(200) == updates, "every update is published"
    finally:
        st.stop()


# --- propagation ------------------------------------------------------------------------------
PROPAGATION_BINS = ["health", "organizations-create", "tenants-create", "services-create", "keys-generate",
                    "status-credential-create", "status-credential-entries", "status-credential-update",
                    "status-credential-view"]


def _pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, max(0, round(q * (len(v) - 1))))] if v else None


def propagation(_runs, updates=400, clients=16, size=1 << 20, baseline_runs=15):
    import boto3
    import requests
    run(["cargo", "build", "--quiet", "--release"] + [a for b in PROPAGATION_BINS for a in ("-p", b)])
    st = stack_mod.Stack(moto_port=stack_mod.free_port(), azurite_port=stack_mod.free_port(),
                         gcs_port=stack_mod.free_port(), api_port=stack_mod.free_port(), profile="release",
                         concurrency=clients)
    st.start(progress=log)
    try:
        call, h = _api(st)
        s = requests.Session()
        cfg = _status_config(call, st, "prop", "revocations", {"type": "TokenStatusList", "size": size})
        entries = []
        while len(entries) < updates + baseline_runs:
            entries += call("POST", f"{cfg}/entries", {"count": min(1000, updates + baseline_runs - len(entries))})["entries"]
        s3 = boto3.client("s3", endpoint_url=st.moto_url, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")
        key = entries[0]["uri"].split(f"{st.moto_url}/status-lists/", 1)[1]

        def revoked_now():
            body = s3.get_object(Bucket="status-lists", Key=key)["Body"].read().decode()
            claims = json.loads(base64.urlsafe_b64decode(body.split(".")[1] + "=="))
            lst_b = claims["status_list"]["lst"]
            return zlib.decompress(base64.urlsafe_b64decode(lst_b + "=" * (-len(lst_b) % 4)))

        def update(sess, e):
            t0 = time.perf_counter()
            r = sess.put(st.api_url + f"{cfg}/status/update", json={"entry": e["id"], "status": "0x1"},
                         headers=h, timeout=120)
            assert r.status_code == 200, r.text
            return t0, time.perf_counter(), r.json().get("published")
        # The baseline: one update at a time, each one fold, one sign and one upload.
        baseline = [(lambda t: (t[1] - t[0]) * 1000)(update(s, e)) for e in entries[:baseline_runs]]
        publish_ms = median(baseline)
        before = call("GET", f"{cfg}/view")["lists"][0]["publishes"]
        work = entries[baseline_runs:]
        seen, stop = {}, threading.Event()

        def watch():
            wanted = {e["index"] for e in work}
            while not stop.is_set():
                raw = revoked_now()
                now = time.perf_counter()
                for i in list(wanted):
                    if (raw[i // 8] >> (i % 8)) & 1:
                        seen[i] = now
                        wanted.discard(i)
                if not wanted:
                    return
                time.sleep(0.02)
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        acks = {}
        local = threading.local()

        def one(e):
            if not hasattr(local, "s"):
                local.s = requests.Session()
            acks[e["index"]] = update(local.s, e)
        log(f"propagation: {len(work)} updates of a 2^{size.bit_length() - 1}-entry list from {clients} clients")
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=clients) as pool:
            list(pool.map(one, work))
        wall = time.perf_counter() - t0
        watcher.join(timeout=60)
        stop.set()
        missing = [e["index"] for e in work if e["index"] not in seen]
        from_send = [(seen[i] - acks[i][0]) * 1000 for i in seen]
        from_ack = [(seen[i] - acks[i][1]) * 1000 for i in seen]
        after = call("GET", f"{cfg}/view")["lists"][0]["publishes"]
        published = sum(1 for a in acks.values() if a[2] is True)
        save("propagation", {
            "updates": len(work), "clients": clients, "list_size": size, "wall_s": wall,
            "publish_ms_median": publish_ms, "baseline_runs": baseline_runs,
            "p50_ms": _pct(from_send, 0.5), "p99_ms": _pct(from_send, 0.99), "max_ms": max(from_send, default=None),
            "p99_over_publish": _pct(from_send, 0.99) / publish_ms if publish_ms else None,
            "after_ack_p50_ms": _pct(from_ack, 0.5), "after_ack_p99_ms": _pct(from_ack, 0.99),
            "acks_published_true": published,
            "publishes": after - before, "publishes_per_100_updates": (after - before) * 100 / len(work),
            "missing": len(missing)})
        assert not missing, f"{len(missing)} updates never published"
    finally:
        st.stop()


# --- scale ------------------------------------------------------------------------------------
SCALE_SIZES = [(17, 1), (17, 2), (20, 1), (20, 2), (22, 1), (22, 2), (24, 1), (24, 2), (24, 8)]


def scale(runs):
    """SCALE_ONLY="24:2,24:8" re-measures those lists and keeps the other rows."""
    run(["cargo", "build", "--quiet", "--release", "-p", "trustfn-status", "--example", "scale_bench"])
    exe = TARGET / "release" / "examples" / "scale_bench"
    only = {tuple(map(int, p.split(":"))) for p in os.environ.get("SCALE_ONLY", "").split(",") if p}
    kept = {(r["exp"], r["bits"]): r for r in (load_result("scale") or {}).get("rows", [])} if only else {}
    rows = []
    for exp, bits in SCALE_SIZES:
        if only and (exp, bits) not in only and (exp, bits) in kept:
            rows.append(kept[(exp, bits)])
            continue
        log(f"scale: 2^{exp} entries, {bits} bit(s)")
        out = run([str(exe), str(1 << exp), str(bits), str(max(runs, 5))], capture_output=True, text=True).stdout
        row = json.loads(out)
        row["exp"] = exp
        rows.append(row)
    save("scale", {"rows": rows})


def cost(runs):
    import cost as cost_mod
    run(["cargo", "build", "--quiet", "--workspace", "--bins"])
    st = stack_mod.Stack(moto_port=stack_mod.free_port(), azurite_port=stack_mod.free_port(),
                         gcs_port=stack_mod.free_port(), api_port=stack_mod.free_port(), concurrency=16)
    st.start(progress=log)
    try:
        call, _ = _api(st)
        measured = cost_mod.measure(st, call, min(runs, 5), log)
    finally:
        st.stop()
    save("cost", {"measured": measured})


AUDIT_LOADS = [(1, 40), (16, 20)]


def audit(runs):
    run(["cargo", "build", "--quiet", "--release", "-p", "trustfn-status", "--example", "audit_bench"])
    exe = TARGET / "release" / "examples" / "audit_bench"
    rows = []
    for clients, per_client in AUDIT_LOADS:
        log(f"audit: {clients} client(s) x {per_client} updates, with and without the log")
        out = run([str(exe), str(clients), str(per_client), str(min(runs, 5))], capture_output=True, text=True).stdout
        rows.append(json.loads(out))
    save("audit", {"rows": rows})


# --- sam build: before and after --------------------------------------------------------------
SAM = ROOT / ".tools" / "sam" / "bin" / "sam"


def _before_template(dest):
    """template.yaml as it was built before 6c2206f: every function `BuildMethod: rust-cargolambda`,
    which SAM builds in source with one `cargo lambda build --release --arm64 --bin <Binary>` each."""
    text = (ROOT / "template.yaml").read_text()
    assert "    CodeUri: .\n" in text and "BuildMethod: makefile" in text
    text = text.replace("BuildMethod: makefile", "BuildMethod: rust-cargolambda")
    dest.write_text(text.replace("    CodeUri: .\n", f"    CodeUri: {ROOT}\n", 1))
    return dest


def _peak_rss_mib(time_v):
    for line in time_v.splitlines():
        if "Maximum resident set size (kbytes)" in line:
            return int(line.rsplit(":", 1)[1]) / 1024
    return None


def _clean_build(name, cmd, cwd, scratch, artefacts):
    """One build from an empty target directory under /usr/bin/time -v, with progress: wall
    seconds, peak RSS of the largest process, and the names of the bootstraps it left."""
    target = scratch / f"{name}-target"
    shutil.rmtree(target, ignore_errors=True)
    timing, logf = scratch / f"{name}.time", scratch / f"{name}.log"
    env = {**os.environ, "CARGO_TARGET_DIR": str(target), "SAM_CLI_TELEMETRY": "0",
           "PATH": f"{ROOT / '.tools/venv/bin'}{os.pathsep}{os.environ['PATH']}"}
    log(f"sambuild: {name}: $ {' '.join(str(c) for c in cmd)} (in {cwd}; output in {logf})")
    start = time.monotonic()
    compiled, starts = 0, []
    with open(logf, "w") as out:
        proc = subprocess.Popen(["/usr/bin/time", "-v", "-o", str(timing)] + cmd, cwd=cwd, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            out.write(line)
            if line.startswith("Building codeuri:"):  # sam build starts the next function
                starts.append(round(time.monotonic() - start, 1))
                log(f"sambuild: {name}: function {len(starts)} at {starts[-1]:,.0f} s: "
                    f"{line.rsplit('functions:', 1)[-1].strip()}")
            elif line.strip().startswith("Compiling "):
                compiled += 1
                if compiled % 100 == 0:
                    log(f"sambuild: {name}: {compiled} crates compiled at {time.monotonic() - start:,.0f} s")
            elif line.strip().startswith("Finished ") or line.strip().startswith("Build Succeeded"):
                log(f"sambuild: {name}: {line.strip()} at {time.monotonic() - start:,.0f} s")
        rc = proc.wait()
    wall = time.monotonic() - start
    if rc:
        raise SystemExit(f"sambuild: {name} failed (exit {rc}); its output is in {logf}")
    built = sorted(b.parent.name for b in artefacts(target))
    shutil.rmtree(target, ignore_errors=True)
    log(f"sambuild: {name}: {wall:,.0f} s, {len(built)} bootstraps")
    return {"command": _scrub(" ".join(str(c) for c in cmd)), "wall_s": round(wall, 1),
            "peak_rss_mib": _peak_rss_mib(timing.read_text()), "bootstraps": built,
            "function_starts_s": starts}


def sambuild(_runs):
    """A plain clean workspace build (the baseline), then a clean `sam build` as shipped (after),
    then a clean `sam build` with the per-function build method it replaced (before), in one run."""
    import routes
    functions = routes.function_binaries()
    scratch = Path(tempfile.mkdtemp(prefix="trustfn-sambuild-"))
    cargo_lambda = str(ROOT / ".tools/venv/bin/cargo-lambda")
    try:
        plain = _clean_build(
            "plain", [cargo_lambda, "lambda", "build", "--release", "--arm64", "--workspace", "--bins"], ROOT,
            scratch, lambda t: t.glob("lambda/*/bootstrap"))
        after_dir = scratch / "after-build"
        after = _clean_build(
            "after", [str(SAM), "build", "--template", "template.yaml", "--build-dir", str(after_dir)], ROOT,
            scratch, lambda _t: after_dir.glob("*/bootstrap"))
        before_dir = scratch / "before-build"
        template = _before_template(scratch / "template-before.yaml")
        before = _clean_build(
            "before", [str(SAM), "build", "--beta-features", "--template", str(template), "--build-dir",
                       str(before_dir)], scratch, scratch, lambda _t: before_dir.glob("*/bootstrap"))
        # Each build must have left every function's bootstrap (the plain build also the bench's hello).
        for name, r, expected in (("plain", plain, functions.values()), ("after", after, functions),
                                  ("before", before, functions)):
            missing = set(expected) - set(r.pop("bootstraps"))
            if missing:
                raise SystemExit(f"sambuild: {name} built no bootstrap for {sorted(missing)}")
        version = lambda cmd: subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
        save("sambuild", {"functions": len(functions), "plain": plain, "after": after, "before": before,
                          "sam": version([str(SAM), "--version"]),
                          "cargo_lambda": version([cargo_lambda, "lambda", "--version"])})
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# --- report -----------------------------------------------------------------------------------
def _machine():
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}; {rustc}"


def _median_gap(r):
    """Median seconds between one function's build starting and the next's (SAM builds)."""
    t = r.get("function_starts_s") or []
    gaps = [b - a for a, b in zip(t[1:], t[2:])]
    return fmt(median(gaps), 0) if gaps else "-"


def _scrub(command):
    """A command as the reader would type it: no machine paths."""
    out = []
    for word in command.split():
        if word.startswith("/"):
            word = Path(word).name if Path(word).name in ("sam", "cargo-lambda") else "<dir>/" + Path(word).name
        out.append(word)
    return " ".join(out).replace("cargo-lambda lambda", "cargo lambda")


def fmt(v, nd=1):
    return "-" if v is None else f"{v:,.{nd}f}"


def render():
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`bench/run.py`) from `bench/results/*.json`; every figure below is",
        "reproduced by that command. Medians over repeated runs; each figure sits next to a baseline",
        "measured in the same run, because absolute times on a shared 2-core machine are noisy.",
        "",
        f"Machine: {_machine()}.",
        "",
    ]
    c = load_result("codec")
    if c:
        lines += [
            "## Status-list codec (2^20 entries)",
            "",
            f"Measured {c['measured_at']}. `cargo run --release -p trustfn-statuslist --example codec_bench`,",
            f"`node bench/codec.mjs` (@sd-jwt/jwt-status-list with pako, Node {c['node']}), and zlib "
            f"{c['zlib_version']} (C) level 9 from Python on the same packed bytes (the floor). About 5% of",
            "entries carry a non-zero status. Encode = statuses array to `lst`/`encodedList` (pack, compress,",
            "base64url); decode = the reverse, back to an array of statuses. The npm library also decodes our",
            "`lst` to the same statuses (checked by the script).",
            "",
            "Encode (TSL: ZLIB level 9; W3C: GZIP level 9):",
            "",
            "| bits | ours TSL ms | npm ms | speed-up | npm's pako deflate alone ms | C zlib -9 floor ms | ours / floor | ours W3C ms | C gzip -9 floor ms | ours / floor |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for b in ("1", "2", "4", "8"):
            o, n, f = c["ours"][b], c["npm"][b], c["floor"][b]
            lines.append(
                f"| {b} | {fmt(o['tsl_encode_ms'], 2)} | {fmt(n['tsl_encode_ms'])} | "
                f"{n['tsl_encode_ms'] / o['tsl_encode_ms']:.1f}x | {fmt(n.get('pako_deflate9_ms'))} | "
                f"{fmt(f['zlib9_compress_ms'], 2)} | {o['tsl_encode_ms'] / f['zlib9_compress_ms']:.2f} | "
                f"{fmt(o['w3c_encode_ms'], 2)} | {fmt(f['gzip9_compress_ms'], 2)} | "
                f"{o['w3c_encode_ms'] / f['gzip9_compress_ms']:.2f} |")
        lines += [
            "",
            "Decode (to an array of every status):",
            "",
            "| bits | ours TSL ms | npm ms | speed-up | ours W3C ms | C zlib inflate alone ms |",
            "|---|---|---|---|---|---|",
        ]
        for b in ("1", "2", "4", "8"):
            o, n, f = c["ours"][b], c["npm"][b], c["floor"][b]
            lines.append(
                f"| {b} | {fmt(o['tsl_decode_ms'], 2)} | {fmt(n['tsl_decode_ms'])} | "
                f"{n['tsl_decode_ms'] / o['tsl_decode_ms']:.0f}x | {fmt(o['w3c_decode_ms'], 2)} | "
                f"{fmt(f['zlib_decompress_ms'], 2)} |")
        enc = min(c["npm"][b]["tsl_encode_ms"] / c["ours"][b]["tsl_encode_ms"] for b in "1248")
        share = max(c["npm"][b].get("pako_deflate9_ms", 0) / c["npm"][b]["tsl_encode_ms"] for b in "1248")
        lines += [
            "",
            f"Targets: decode is {min(c['npm'][b]['tsl_decode_ms'] / c['ours'][b]['tsl_decode_ms'] for b in '1248'):.0f}x "
            "or more faster than the npm library (target 20x); encode is faster than the C zlib -9 floor",
            f"(target: within 1.3x of it). Encode is only {enc:.1f}x or more faster than the npm library, short",
            "of the 20x target: level-9 DEFLATE is most of both sides' work (pako's deflate alone is up to",
            f"{share:.0%} of the library's encode), and 20x would mean compressing about 7x faster than C zlib -9",
            "itself. Only a lower level gets there (our zlib at level 6: "
            + ", ".join(f"{c['ours'][b]['zlib_level6_ms']:.1f} ms / {c['ours'][b]['zlib_level6_bytes'] / c['ours'][b]['zlib_level9_bytes'] - 1:+.1%} bytes"
                        for b in "1248")
            + " at 1/2/4/8 bits). The TSL draft recommends the highest level, so we keep it; lists of the",
            "default size (131,072 entries) are an eighth of these.",
        ]
        lines += [""]
    cs = load_result("coldstart")
    fp = load_result("footprint")
    if cs:
        base = cs["functions"][cs["baseline"]]
        lines += [
            "## Cold start and memory",
            "",
            f"Measured {cs['measured_at']}, {cs['runs']} cold starts per function, release build (x86_64, this",
            "machine). Each run starts the binary fresh against `infra/local/gateway.py`'s Lambda Runtime API",
            "and sends the function's event fixture from `infra/events/` (admin token, an empty table: the",
            "answer comes after the function's first DynamoDB call). *init* = process start to its first",
            "`GET /runtime/invocation/next`; *first response* = process start to the posted response;",
            "*peak RSS* = `VmHWM` after that response; *faults* = the process's minor page faults at init",
            "(`/proc/<pid>/stat`). Baseline: `bench/hello` (a hello-world `lambda_runtime` function, same",
            "release profile), measured in the same rounds.",
            "",
            f"Baseline: init {fmt(base['ready_ms'], 2)} ms, first response {fmt(base['first_response_ms'], 2)} ms, "
            f"peak RSS {fmt(base['peak_rss_kib'] / 1024)} MiB, {base.get('ready_minor_faults', 0):.0f} page faults at init.",
            "",
            "| function | init ms | init / baseline | faults at init | first response ms | peak RSS MiB | answer | arm64 binary MB | zip MB |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        worst = 0
        for fn, r in cs["functions"].items():
            if fn == cs["baseline"]:
                continue
            ratio = r["ready_ms"] / base["ready_ms"]
            worst = max(worst, ratio)
            f = (fp or {}).get("functions", {}).get(fn, {})
            lines.append(
                f"| {fn} | {fmt(r['ready_ms'], 2)} | {ratio:.2f} | {r.get('ready_minor_faults', 0):.0f} | "
                f"{fmt(r['first_response_ms'], 1)} | "
                f"{fmt(r['peak_rss_kib'] / 1024)} | {r['status']} | "
                f"{fmt(f.get('arm64_binary_bytes') and f['arm64_binary_bytes'] / 1e6, 2)} | "
                f"{fmt(f.get('zip_bytes') and f['zip_bytes'] / 1e6, 2)} |")
        health = cs["functions"].get("health", {})
        relocs = {fn: _relocations(TARGET / "release" / fn) for fn in cs["functions"]}
        sdk_relocs = [n for fn, n in relocs.items() if n and fn not in (cs["baseline"], "health")]
        pie = cs["functions"].get(NOPIE, {})
        nopie = cs.get("variants", {}).get(NOPIE_VARIANT)
        lines += [
            "",
            f"Worst init ratio: {worst:.2f} (target 1.3). The functions build no AWS SDK configuration or",
            "client at init (they did until this was measured: init was 3.3x the baseline). What is left",
            "is the dynamic loader relocating a bigger position-independent (PIE) binary: every page of",
            "its read-only-after-relocation data (vtables and pointer tables, mostly the SDK's) is written",
            "once, a copy-on-write page fault each. `health`, the same runtime and tracing set-up without",
            f"the SDK, starts at {health.get('ready_ms', 0) / base['ready_ms']:.2f}x; the SDK functions carry "
            f"{min(sdk_relocs or [0]):,}-{max(sdk_relocs or [0]):,} relocations against the",
            f"baseline's {relocs.get(cs['baseline']) or 0:,} (`readelf -r <binary> | grep -c R_X86_64`).",
            "",
        ]
        if nopie and pie:
            lines += [
                f"The same rounds measured `{NOPIE}` linked position-dependent (`cargo rustc --release",
                f"-p {NOPIE} --bin {NOPIE} -- -C link-arg=-no-pie`, nothing else changed):",
                "",
                "| build | init ms | init / baseline | faults at init | first response ms | peak RSS MiB |",
                "|---|---|---|---|---|---|",
            ]
            for label, r in (("PIE (shipped)", pie), ("non-PIE", nopie)):
                lines.append(
                    f"| {label} | {fmt(r['ready_ms'], 2)} | {r['ready_ms'] / base['ready_ms']:.2f} | "
                    f"{r.get('ready_minor_faults', 0):.0f} | {fmt(r['first_response_ms'], 1)} | "
                    f"{fmt(r['peak_rss_kib'] / 1024)} |")
            lines += [
                "",
                "So the init target is missed only by the PIE relocation cost, "
                f"{pie['ready_ms'] - nopie['ready_ms']:.2f} ms here. We keep PIE:",
                "a position-dependent executable loads at a fixed address, which gives up address-space",
                "randomisation of the code that handles credentials and tokens, and a millisecond of init is",
                "small next to Lambda's own sandbox start (a hello-world Rust function's published init is",
                "13.6 ms). Lambda's provided.al2023 glibc (2.34) predates packed RELR relocations, which",
                "would shrink the relocation table, though not the page writes.",
                "",
            ]
        else:
            lines.append("")
    if fp:
        zips = [f["zip_bytes"] for fn, f in fp["functions"].items() if fn != BASELINE]
        lines += [
            "## Footprint",
            "",
            f"Measured {fp['measured_at']}: `cargo lambda build --release --arm64 --workspace --bins "
            "--output-format zip`, release profile "
            f"`{json.dumps(fp['profile'])}`. Largest zip {max(zips) / 1e6:.2f} MB, smallest "
            f"{min(zips) / 1e6:.2f} MB (target 4 MB); per function in the table above.",
            "",
        ]
    sb = load_result("sambuild")
    if sb:
        base = sb["plain"]["wall_s"]
        row = lambda label, r: (f"| {label} | `{r['command']}` | {r['wall_s'] / 60:,.1f} | "
                                f"{r['wall_s'] / base:.2f} | {fmt(r['peak_rss_mib'], 0)} |")
        lines += [
            "## `sam build`: before and after",
            "",
            f"Measured {sb['measured_at']}. `make bench PARTS=sambuild`: three builds of all {sb['functions']}",
            "functions for Lambda (release, arm64), one after the other in the same run, each from an",
            "empty target directory, under `/usr/bin/time -v` (peak RSS = the largest single process).",
            f"{sb['sam']}; {sb['cargo_lambda']}.",
            "",
            "- *plain*: one `cargo lambda build` of the workspace, the baseline;",
            "- *after*: `sam build` as shipped: `BuildMethod: makefile`, in source (samconfig.toml); the first",
            "  function's make target runs the plain build, the others find it fresh and copy their bootstrap;",
            "- *before*: `sam build` of the same template with every function `BuildMethod: rust-cargolambda`",
            "  (the template before commit 6c2206f): SAM builds each function in source with its own",
            "  `cargo lambda build --release --arm64 --bin <function>`, so dependencies are shared through the",
            "  target directory but every function is resolved, compiled and linked by its own cargo run.",
            "",
            "| build | command | wall min | / plain | peak RSS MiB |",
            "|---|---|---|---|---|",
            row("plain", sb["plain"]),
            row("after", sb["after"]),
            row("before", sb["before"]),
            "",
            f"`sam build` as shipped costs {sb['after']['wall_s'] / base:.2f}x the plain build (aim: 1.2x); the method it",
            f"replaced cost {sb['before']['wall_s'] / base:.2f}x. The difference is small because SAM builds Rust",
            "functions in source, so the per-function builds shared the dependencies the first one compiled",
            "through the target directory. With LTO, cargo compiles dependencies to LLVM bitcode only, and each",
            "binary's machine code is generated when it is linked (thin LTO, one codegen unit): that link is",
            f"most of every function's build (median {_median_gap(sb['before'])} s per function after the first in the",
            "before build), and the workspace build does it too, once per function.",
            "What one workspace build saves is the other functions' separate cargo runs:",
            f"{(sb['before']['wall_s'] - sb['after']['wall_s']) / 60:,.1f} min here. A `-` is a figure the run did not record.",
            "",
        ]
    pr = load_result("profile")
    if pr:
        res = pr["results"]
        lines += [
            "## Release profile: before and after",
            "",
            f"Measured {pr['measured_at']}: the smallest and the largest function built with Cargo's stock",
            f"release settings (`[profile.stock]`: `{json.dumps({k: v for k, v in pr['stock'].items() if k != 'inherits'})}`)",
            f"and with ours (`[profile.release]`: `{json.dumps(pr['release'])}`); x86_64 binaries",
            f"by `cargo build --profile <p>`, arm64 zips by `cargo lambda build --profile <p> --arm64`; init",
            f"and RSS as above, {pr['runs']} interleaved cold starts, baseline `{pr['baseline']}` built with each",
            "profile in the same rounds.",
            "",
            "| function | profile | init ms | init / baseline (same profile) | first response ms | peak RSS MiB | x86_64 binary MB | arm64 binary MB | zip MB |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for fn in PROFILE_FUNCTIONS:
            for prof in ("stock", "release"):
                r = res[f"{fn} {prof}"]
                b = res[f"{pr['baseline']} {prof}"]
                lines.append(
                    f"| {fn} | {prof} | {fmt(r['ready_ms'], 2)} | {r['ready_ms'] / b['ready_ms']:.2f} | "
                    f"{fmt(r['first_response_ms'], 1)} | {fmt(r['peak_rss_kib'] / 1024)} | "
                    f"{r['x86_64_binary_bytes'] / 1e6:.2f} | {r['arm64_binary_bytes'] / 1e6:.2f} | "
                    f"{r['zip_bytes'] / 1e6:.2f} |")
        big_s, big_r = res[f"{NOPIE} stock"], res[f"{NOPIE} release"]
        change = (f"The largest zip goes from {big_s['zip_bytes'] / 1e6:.2f} MB to {big_r['zip_bytes'] / 1e6:.2f} MB "
                  f"({big_r['zip_bytes'] / big_s['zip_bytes'] - 1:+.0%})")
        lines += [
            "",
            change + ("; the stock profile alone would miss the 4 MB target." if big_s["zip_bytes"] > 4e6 else "."),
            "SDK features were trimmed before this (`default-features = false`, `behavior-version-latest`,",
            "`rt-tokio`, `default-https-client`), so both columns carry the same SDK code.",
            "",
        ]
    ld = load_result("load")
    if ld:
        lines += [
            "## Load: status updates on one list",
            "",
            f"Measured {ld['measured_at']} on the local stack (release build behind `infra/local/gateway.py`,",
            f"up to {ld['instances_per_function']} instances per function, moto answering one request at a",
            f"time, S3 registry in moto): {ld['updates']} single-entry updates from {ld['clients']} concurrent",
            "clients on one TokenStatusList list. The numbers are bounded by the emulator on 2 cores, not by",
            "the functions; what they show is coalescing and that nothing is lost.",
            "",
            "| updates | answered 200 | wall s | updates/s | p50 ms | p99 ms | publishes | missing in the published list |",
            "|---|---|---|---|---|---|---|---|",
            f"| {ld['updates']} | {ld['ok']} | {ld['wall_s']:.1f} | {ld['updates_per_s']:.0f} | {ld['p50_ms']:.0f} | "
            f"{ld['p99_ms']:.0f} | {ld['publishes']} | {ld['missing_in_published_list']} |",
            "",
        ]
    pg = load_result("propagation")
    if pg:
        loaded = pg["wall_s"] * 1000 / max(pg["publishes"], 1)
        lines += [
            "## Propagation: from an update to the published list",
            "",
            f"Measured {pg['measured_at']}. `make bench PARTS=propagation`: the local stack (release build,",
            f"up to {pg['clients']} instances per function, moto answering one request at a time, S3",
            f"registry in moto), one TokenStatusList of {pg['list_size']:,} entries (1 bit). First",
            f"{pg['baseline_runs']} updates one at a time: the median of their latency is one uncontended",
            f"publish (fold, one KMS Sign, upload, release). Then {pg['updates']} single-entry revocations",
            f"from {pg['clients']} concurrent clients while a watcher reads the published object every",
            "20 ms: for each revocation, the time from its request (and from its answer) to the first",
            "published object that holds it.",
            "",
            "| updates | clients | one publish ms (median) | request -> published p50 ms | p99 ms | p99 / one publish | publish under load ms | p99 / publish under load | answer -> published p99 ms | answers `published: true` | publishes per 100 updates | never published |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
            f"| {pg['updates']} | {pg['clients']} | {pg['publish_ms_median']:.0f} | {pg['p50_ms']:.0f} | "
            f"{pg['p99_ms']:.0f} | {pg['p99_over_publish']:.2f} | {loaded:.0f} | {pg['p99_ms'] / loaded:.2f} | "
            f"{pg['after_ack_p99_ms']:.0f} | "
            f"{pg['acks_published_true']} | {pg['publishes_per_100_updates']:.1f} | {pg['missing']} |",
            "",
            "*Publish under load* is the run's wall time over its publishes: while updates keep",
            "arriving the lease holder publishes round after round, so this is one round's length",
            "with 16 clients' commits and reads served by the same single-threaded emulator. A",
            "change waits at most for the round in flight and then its own, so its p99 lands near",
            "two rounds.",
            "",
            "An update answers once its change is published (or says `published: false`), so the answer",
            "comes after the object holds it: *answer -> published* is at most the watcher's 20 ms poll",
            "(negative: seen before the answer arrived).",
            "",
        ]
    sc = load_result("scale")
    if sc:
        kb = lambda b: f"{b / 1024:,.1f}"  # noqa: E731
        lines += [
            "## Status lists at scale",
            "",
            f"Measured {sc['measured_at']}. `make bench PARTS=scale` runs",
            "`cargo run --release -p trustfn-status --example scale_bench -- <size> <bits>` once per list:",
            "the status use cases (allocation, update, fold, publish) on the in-memory table, which enforces",
            "DynamoDB's 400 KB item and 100-item transaction limits, with a counting wrapper that adds up",
            "the size of every item written (as DynamoDB sizes it), a local P-256 signer and a registry kept",
            "in memory. Each list is 10% allocated (1,000 entries a call) and 5% revoked before the timed",
            "calls. *Update call* = one status changed through `status/update`: the pending item, then",
            "the fold and publish that call runs (lease, chunk, fold record, release). *Previous design* =",
            "the one item (statuses and allocation bitmap, zlib, base64) that the design before chunks",
            "rewrote whole on every allocation and every fold, computed for the same statuses. RSS is",
            "the process's: its peak during the set-up (the in-memory table, which copies itself on every",
            "commit, and the bench's list of entry ids), and what the timed update calls add on top of the",
            "RSS they start from (Linux `clear_refs` resets the high-water mark before them): the memory",
            "folding and publishing need. Medians; KB = 1,024 bytes.",
            "",
            "| entries | bits | allocation call KB written (1,000 entries) | previous design KB per allocation call | update request KB | update call KB incl. fold + publish | 1,000-status update call KB | largest item KB | chunks | allocation call ms | update call ms (fold + sign + publish) | set-up peak RSS MiB | RSS added by the update calls MiB |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in sc["rows"]:
            lines.append(
                f"| 2^{r['exp']} | {r['bits']} | {kb(r['alloc_call_bytes'])} | {kb(r['previous_item_bytes'])} | "
                f"{kb(r['update_request_bytes'])} | {kb(r['update_call_bytes'])} | {kb(r['update_1000_call_bytes'])} | "
                f"{kb(r['largest_item'])} | {r['chunks']} | {fmt(r['alloc_call_ms'])} | {fmt(r['update_call_ms'])} | "
                f"{fmt(r['rss_before_updates_kib'] / 1024)} | {fmt(r.get('update_added_rss_kib', 0) / 1024)} |")
        lines += [
            "",
            "Targets (issue 14): bytes per allocation and per update independent of the list size and at",
            "most 4 KB; largest item at most 64 KB; publishing a 2^24-entry 2-bit list within 3 s and",
            "512 MiB. The previous design, measured on the local stack before the change: at 2^20 entries",
            "and 2 bits, after 60,000 allocations and 30,000 updates, every allocation call and every fold",
            "wrote a ~123 KB item; a 2^22-entry 1-bit list failed at 155,000 allocations (3.7% full) with",
            "DynamoDB's item size error, and later updates were never published.",
            "",
        ]
        big = next((r for r in sc["rows"] if r["exp"] == 24 and r["bits"] == 2), None)
        if big:
            per_update = [r["update_call_bytes"] for r in sc["rows"]]
            lines += [
                f"Here: an allocation call writes {kb(max(r['alloc_call_bytes'] for r in sc['rows']))} KB and an update",
                f"call {kb(min(per_update))}-{kb(max(per_update))} KB at every size (the request's own pending item is",
                "0.1 KB; the rest is the lease, one chunk, the fold record and the release); a 1,000-status",
                "update rewrites each chunk its statuses fall in: on a big list nearly one chunk per status,",
                "so at most 1,000 chunks of 2 KB however big the list grows. The largest item is the 1,000-change pending",
                f"item ({kb(max(r['largest_item'] for r in sc['rows']))} KB). A 2^24-entry 2-bit list folds, signs and publishes in",
                f"{fmt(big['update_call_ms'] / 1000, 2)} s and needs {fmt(big.get('update_added_rss_kib', 0) / 1024, 0)} MiB more than the process held before. The",
                "template gives the functions that publish (entries, update, refresh) 512 MB: headroom for",
                "8-bit lists of 2^24 entries and about four times the CPU share of 128 MB.",
                "",
            ]
    au = load_result("audit")
    if au:
        lines += [
            "## Audit log: what it costs a status update",
            "",
            f"Measured {au['measured_at']}. `make bench PARTS=audit` runs",
            "`cargo run --release -p trustfn-status --example audit_bench -- <clients> <updates each> <rounds>`:",
            "rounds alternate between the table alone and the table behind the auditing repository (as every",
            "function runs it), each round on a fresh 2^17-entry list; the callers make single-entry",
            "revocations through `status/update`, each answered once its change is published (pending item,",
            "then fold, sign, upload and release under the list's lease, coalesced). The in-memory table",
            "answers each read after 4 ms and each commit after 10 ms, a model of DynamoDB's round trips",
            "(without one, callers on one thread never interleave); KMS and the registry answer at once.",
            "Bytes: every item a commit that took effect stored, as DynamoDB sizes it; *of which the log's*:",
            "its entries, chain heads and the author each pending change carries. Without the log the",
            "updates run with no request context at all. CPU: the process (one thread) over the timed",
            "updates. Medians over the rounds.",
            "",
            "| clients | updates per round | rounds | updates/s without | with | ratio | CPU ms/update without | with | ratio | bytes written/update without | with | of which the log's | reads/update without | with | publishes without | with | audit entries |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in au["rows"]:
            p, a = r["plain"], r["audited"]
            lines.append(
                f"| {r['clients']} | {r['clients'] * r['per_client']} | {p['rounds']} | {fmt(p['updates_per_s'])} | "
                f"{fmt(a['updates_per_s'])} | {fmt(r['throughput_ratio'], 3)} | {fmt(p['cpu_ms_per_update'], 2)} | "
                f"{fmt(a['cpu_ms_per_update'], 2)} | {fmt(r['cpu_ratio'], 2)} | {p['bytes_per_update']:,.0f} | "
                f"{a['bytes_per_update']:,.0f} | {a['audit_bytes_per_update']:,.0f} | {fmt(p['reads_per_update'])} | "
                f"{fmt(a['reads_per_update'])} | {p['publishes']:.0f} | {a['publishes']:.0f} | {a['audit_entries']:.0f} |")
        lines += [
            "",
            "An update request itself writes no audit entry: its pending item carries who asked and in which",
            "request (about 70 bytes more). The lease holder's fold writes one `status-changes` entry for all the",
            "changes it takes in, and its release one `publish` entry: two entries per publish, each about 650",
            "bytes of text plus the chain head (about 110 bytes). So the log adds about 1.6 KB per publish,",
            "spread over the updates the publish coalesced: alone, an update pays all of it; under load,",
            "a fraction. The totals move with coalescing too: the log's extra chain-head read lengthens",
            "each lease round, so under load more updates share a publish (fewer publishes, fewer bytes",
            "and sometimes more updates a second than without it); how many coalesce varies from round to",
            "round, so compare the medians, not one round. Target (issue 24): at most 10% slower and 1 KB",
            "more per update.",
            "",
        ]
    lines += [
        "## Call counts",
        "",
        "Asserted on every `make test` by `tests/api/test_calls.py` (moto's request counter, see",
        "`infra/local/moto_serial.py`): issuing an IACA or a Document Signer makes exactly one KMS `Sign`",
        "and one DynamoDB `TransactWriteItems` with 1 or 2 attached stores (none without stores); a status",
        "update of 1, 10 or 100 entries makes the same 4 DynamoDB writes (pending item, lease, fold,",
        "release), one KMS `Sign` and two S3 `PUT`s (list and aggregation document); 200 concurrent",
        "updates cost a handful of publishes (`tests/api/test_status.py`).",
        "",
    ]
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text("\n".join(lines))
    log(f"wrote {DOC.relative_to(ROOT)}")
    co = load_result("cost")
    if co:
        import cost as cost_mod
        (ROOT / "docs" / "COST.md").write_text(cost_mod.render(co, _machine()))
        log("wrote docs/COST.md")


PARTS = {"codec": codec, "coldstart": coldstart, "footprint": footprint, "profile": profile, "load": load,
         "propagation": propagation,
         "scale": scale, "audit": audit, "cost": cost, "sambuild": sambuild}
# Run only when named: three clean release builds of every function, about two hours on 2 cores.
ON_REQUEST = {"sambuild"}


def main():
    args = sys.argv[1:]
    runs = 11
    if "--runs" in args:
        i = args.index("--runs")
        runs = int(args[i + 1])
        del args[i:i + 2]
    parts = args or [p for p in PARTS if p not in ON_REQUEST]
    for p in parts:
        if p == "render":
            continue
        log(f"== {p}")
        PARTS[p](runs)
    render()


if __name__ == "__main__":
    main()

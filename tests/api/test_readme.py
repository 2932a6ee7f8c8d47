"""The README's walk-through, run as a user would paste it, against the test stack."""
import re
import subprocess

from conftest import ROOT


def walkthrough(heading="## Walk-through"):
    text = (ROOT / "README.md").read_text()
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    runnable = [b for b in blocks if "curl" in b]
    assert len(runnable) == 1, "expected one runnable block in the walk-through"
    return runnable[0]


def test_readme_walkthrough_runs(stack, api):
    script = "set -euo pipefail\n" + walkthrough()
    env = {"TRUSTFN": stack.api_url, "TOKEN": stack.admin_token, "PATH": "/usr/bin:/bin:/usr/local/bin"}
    r = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "key can read tenant1" in r.stdout
    assert "deleting with the key: 403" in r.stdout
    assert '"code":"409"' in r.stdout, "the plain delete of a used KMS service must be refused"
    assert "\"deleted\":9" in r.stdout  # org, tenant, 4 services, 2 roles, 1 key
    # Everything the walk-through created is gone again.
    assert api.get("/v1/test/resource-api/resources/list").status_code == 404


def test_readme_x509_walkthrough_runs(stack, api, tmp_path):
    script = "set -euo pipefail\n" + walkthrough("## X.509 walk-through")
    env = {"TRUSTFN": stack.api_url, "TOKEN": stack.admin_token, "PATH": "/usr/bin:/bin:/usr/local/bin"}
    r = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ds.pem: OK" in r.stdout
    assert "1.0.18013.5.1.2" in r.stdout and "Digital Signature" in r.stdout
    assert "dmv.mdl.store.iaca-2026" in r.stdout and "dmv.mdl.store.ds-2026" in r.stdout
    assert api.get("/v1/dmv/resource-api/resources/list").status_code == 404


def test_readme_status_walkthrough_runs(stack, api, tmp_path):
    script = "set -euo pipefail\n" + walkthrough("## Status list walk-through")
    env = {"TRUSTFN": stack.api_url, "TOKEN": stack.admin_token, "PATH": "/usr/bin:/bin:/usr/local/bin",
           "MOTO": stack.moto_url, "AZURITE": f"http://127.0.0.1:{stack.azurite_port}/devstoreaccount1",
           "GCS": f"http://127.0.0.1:{stack.gcs_port}"}
    r = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout.lower()
    assert out.count("content-type: application/statuslist+jwt") == 3, r.stdout
    assert out.count("cache-control: public, max-age=43200") == 3, r.stdout
    for word in ("invalid", "suspended", "valid"):
        assert out.count(" " + word) >= 3, r.stdout
    assert api.get("/v1/issuer/resource-api/resources/list").status_code == 404


def test_readme_certificate_lifecycle_walkthrough_runs(stack, api, tmp_path):
    script = "set -euo pipefail\n" + walkthrough("## Certificate lifecycle walk-through")
    env = {"TRUSTFN": stack.api_url, "TOKEN": stack.admin_token, "PATH": "/usr/bin:/bin:/usr/local/bin",
           "MOTO": stack.moto_url}
    r = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout + r.stderr
    assert r.stdout.splitlines()[0] == "True", "the empty CRL is published with the IACA"
    assert r.stdout.splitlines()[1] == "True", "the revocation is published at once"
    assert "content-type: application/pkix-crl" in out.lower()
    assert "verify OK" in out
    assert "error 23" in out and "ds-kms: rejected" in out, out
    assert "ds-csr.pem: OK" in out and "status-signer.pem: OK" in out
    assert '"revokedCount":1' in out
    assert "x5c leaf: MII" in out
    assert api.get("/v1/mva/resource-api/resources/list").status_code == 404


def test_readme_vical_walkthrough_runs(stack, api, tmp_path):
    script = "set -euo pipefail\n" + walkthrough("## VICAL walk-through")
    env = {"TRUSTFN": stack.api_url, "TOKEN": stack.admin_token, "PATH": "/usr/bin:/bin:/usr/local/bin"}
    r = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert '"versionIdPath":"vicaldemo.tenant1.vical-service.versions.production-2026-03-23"' in out, out
    assert "signature: Verified OK" in out, out
    assert "provider 'Example mDL Trust Provider'" in out and "1 certificate(s), x5chain of 2" in out, out
    assert "US US-VA ['org.iso.18013.5.1.mDL']" in out, out
    assert api.get("/v1/vicaldemo/resource-api/resources/list").status_code == 404

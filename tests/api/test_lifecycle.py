"""Certificate lifecycle on the emulators: an x509-service with a CRL target publishes each IACA's
CRL (empty from day one), Document Signers (one from an openssl CSR) point at it, a revocation
republishes it, openssl and pyca/cryptography check it, the refresh re-issues it at half its
validity; and a status-list signer under the IACA signs status lists that carry it in x5c."""
import base64
import json
import subprocess
import uuid
from datetime import datetime, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import ExtensionOID

from conftest import assert_error, backup
from test_status import invoke_refresh, make_registry, s3  # noqa: F401 (fixture)
from test_x509 import IAN, key, kms_key


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


@pytest.fixture(scope="module", params=["aws", "azure"])
def world(request, api, stack, s3):  # noqa: F811
    org = api.org()
    t = api.tenant(f"{org}.t1")
    api.service(f"{t}.kms", "kms")
    api.service(f"{t}.store", "x509-store")
    name = "crl-" + uuid.uuid4().hex[:12]
    registry, fetch = make_registry(request.param, stack, s3, name)
    api.service(f"{t}.x509", "x509-service", config={"crl": {"registry": registry, "validityDays": 1}},
                dependencies=[f"{t}.kms", f"{t}.store"])
    for k in ("iaca", "ds", "signer"):
        key(api, t, k)
    base = f"/v1/{t}.x509/x509-service-api"
    r = api.post(f"{base}/iso/iacas", json={
        "storedCertificateId": "iaca",
        "certificateData": {"country": "US", "commonName": "Lifecycle IACA", "stateOrProvinceName": "US-CA",
                            "issuerAlternativeNameConf": IAN},
        "iacaKeyDesc": kms_key(t, "iaca")})
    assert r.status_code == 201, r.text
    iaca_pem = r.json()["certificatePEM"]
    assert r.json()["crlPublished"] is True
    return {"t": t, "base": base, "iaca_pem": iaca_pem, "fetch": fetch, "kind": request.param}


def crl_of(world, api):
    crls = api.get(f"{world['base']}/crls").json()
    assert len(crls) == 1, crls
    ct, cache, body = world["fetch"](crls[0]["url"])
    return crls[0], ct, cache, x509.load_der_x509_crl(body), body


def ds(api, world, key_desc, sid, **data):
    cd = {"country": "US", "commonName": f"DS {sid}", "stateOrProvinceName": "US-CA", **data}
    return api.post(f"{world['base']}/iso/document-signers", json={
        "storedCertificateId": sid,
        "iacaSigner": {"type": "stored-certificate-descriptor", "storedCertificatePath": f"{world['t']}.store.iaca",
                       "iacaKeyDesc": kms_key(world["t"], "iaca")},
        "certificateData": cd, "dsKeyDescriptor": key_desc})


def broken_csr(pem):
    """The request with one bit of its signature flipped."""
    der = bytearray(x509.load_pem_x509_csr(pem.encode()).public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01
    return "-----BEGIN CERTIFICATE REQUEST-----\n" + base64.encodebytes(bytes(der)).decode() + \
        "-----END CERTIFICATE REQUEST-----\n"


def status_list_signer(api, world, sid, common_name):
    """A status-list signer for the key `signer`, under the world's IACA, stored as `sid`: its PEM."""
    t = world["t"]
    r = api.post(f"{world['base']}/iso/status-list-signers", json={
        "storedCertificateId": sid,
        "iacaSigner": {"type": "stored-certificate-descriptor", "storedCertificatePath": f"{t}.store.iaca",
                       "iacaKeyDesc": kms_key(t, "iaca")},
        "certificateData": {"country": "US", "commonName": common_name, "stateOrProvinceName": "US-CA"},
        "signerKeyDescriptor": kms_key(t, "signer")})
    assert r.status_code == 201, r.text
    return r.json()["certificatePEM"]


def openssl(*args, cwd):
    return subprocess.run(["openssl", *args], capture_output=True, text=True, cwd=cwd)


def test_revocation_publishes_a_crl_that_openssl_and_pyca_accept(api, world, stack, tmp_path):
    iaca = x509.load_pem_x509_certificate(world["iaca_pem"].encode())
    # Day one: an empty CRL at the IACA's own distribution point.
    view, ct, cache, crl, _ = crl_of(world, api)
    dp = iaca.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS).value
    assert dp[0].full_name[0].value == view["url"]
    assert ct == "application/pkix-crl"
    first = view["number"]
    assert first >= 1 and view["revokedCount"] == 0 and len(crl) == 0
    # Two Document Signers: a KMS key, and a key held elsewhere sent as an openssl CSR.
    a = ds(api, world, kms_key(world["t"], "ds"), "ds-a")
    assert a.status_code == 201, a.text
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "csr.key", cwd=tmp_path)
    r = openssl("req", "-new", "-key", "csr.key", "-subj", "/C=XX/CN=ignored", "-out", "ds.csr", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    csr_pem = (tmp_path / "ds.csr").read_text()
    b = ds(api, world, {"type": "pkcs10-csr", "csrPem": csr_pem}, "ds-b")
    assert b.status_code == 201, b.text
    b_cert = x509.load_pem_x509_certificate(b.json()["certificatePEM"].encode())
    csr_key = serialization.load_pem_private_key((tmp_path / "csr.key").read_bytes(), None)
    assert b_cert.public_key().public_numbers() == csr_key.public_key().public_numbers()
    assert b_cert.subject.rfc4514_string() == "CN=DS ds-b,ST=US-CA,C=US", "the CSR's subject is ignored"
    for c in (a, b):
        cert = x509.load_pem_x509_certificate(c.json()["certificatePEM"].encode())
        got = cert.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS).value
        assert got[0].full_name[0].value == view["url"], "filled with the CRL's URL"
    # A CSR whose signature is broken, and a distribution point that is not the CRL's: 400.
    assert_error(ds(api, world, {"type": "pkcs10-csr", "csrPem": broken_csr(csr_pem)}, "ds-c"), 400, contains="csrPem")
    r = ds(api, world, kms_key(world["t"], "ds"), "ds-d", crlDistributionPointUri="https://elsewhere.example/x.crl")
    assert_error(r, 400, contains=view["url"])
    # Revoke A by its stored path; B stays good.
    r = api.post(f"{world['base']}/certificates/revoke",
                 json={"storedCertificatePath": f"{world['t']}.store.ds-a", "reason": "keyCompromise"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["state"] == "revoked" and out["crlPublished"] is True
    assert out["revocation"]["reason"] == "keyCompromise"
    # Idempotent: the same revocation again changes nothing.
    again = api.post(f"{world['base']}/certificates/revoke", json={"serialNumber": out["serialNumber"].upper()})
    assert again.status_code == 200 and again.json()["revocation"] == out["revocation"]
    view, ct, cache, crl, body = crl_of(world, api)
    assert view["number"] > first and view["revokedCount"] == 1
    max_age = int(cache.split("max-age=")[1])
    assert 0 < max_age <= (crl.next_update_utc - datetime.now(timezone.utc)).total_seconds() + 1
    # pyca/cryptography: the profile.
    assert crl.is_signature_valid(iaca.public_key())
    assert crl.issuer.public_bytes() == iaca.subject.public_bytes()
    assert {e.oid for e in crl.extensions} == {ExtensionOID.AUTHORITY_KEY_IDENTIFIER, ExtensionOID.CRL_NUMBER}
    assert not any(e.critical for e in crl.extensions)
    aki = crl.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value
    assert aki.key_identifier == iaca.extensions.get_extension_for_oid(
        ExtensionOID.SUBJECT_KEY_IDENTIFIER).value.digest
    assert crl.extensions.get_extension_for_oid(ExtensionOID.CRL_NUMBER).value.crl_number == view["number"]
    a_serial = int(out["serialNumber"], 16)
    entry = crl.get_revoked_certificate_by_serial_number(a_serial)
    assert entry is not None and len(entry.extensions) == 0
    assert crl.get_revoked_certificate_by_serial_number(b_cert.serial_number) is None
    assert (crl.next_update_utc - crl.last_update_utc).days == 1
    # openssl: the CRL verifies with the IACA, A is revoked (error 23), B verifies.
    (tmp_path / "iaca.pem").write_text(world["iaca_pem"])
    (tmp_path / "crl.der").write_bytes(body)
    (tmp_path / "a.pem").write_text(a.json()["certificatePEM"])
    (tmp_path / "b.pem").write_text(b.json()["certificatePEM"])
    r = openssl("crl", "-inform", "DER", "-in", "crl.der", "-noout", "-verify", "-CAfile", "iaca.pem", cwd=tmp_path)
    assert r.returncode == 0 and "verify OK" in (r.stdout + r.stderr), r.stdout + r.stderr
    assert openssl("crl", "-inform", "DER", "-in", "crl.der", "-out", "crl.pem", cwd=tmp_path).returncode == 0
    r = openssl("verify", "-crl_check", "-CRLfile", "crl.pem", "-CAfile", "iaca.pem", "a.pem", cwd=tmp_path)
    assert r.returncode != 0 and "error 23" in r.stdout + r.stderr, r.stdout + r.stderr
    r = openssl("verify", "-crl_check", "-CRLfile", "crl.pem", "-CAfile", "iaca.pem", "b.pem", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    # What was issued, filterable by IACA and state.
    iacas = api.get(f"{world['base']}/certificates/issued").json()
    assert [i["profile"] for i in iacas] == ["iaca"] and iacas[0]["issuedCount"] == 2
    revoked = api.get(f"{world['base']}/certificates/issued",
                      params={"iaca": iacas[0]["serialNumber"], "state": "revoked"}).json()
    assert [c["serialNumber"] for c in revoked] == [out["serialNumber"]]
    # A revocation cannot be undone by deleting its record (nor an IACA's numbering by deleting it).
    assert_error(api.delete(f"/v1/{revoked[0]['_id']}/resource-api/resources/delete"), 409, contains="revoke")
    assert_error(api.delete(f"/v1/{iacas[0]['_id']}/resource-api/resources/delete-recursive"), 409, contains="revoke")
    # An IACA is not revoked through its own CRL; an unknown serial is 404.
    assert_error(api.post(f"{world['base']}/certificates/revoke", json={"serialNumber": iacas[0]["serialNumber"]}),
                 400, contains="rotate")
    assert_error(api.post(f"{world['base']}/certificates/revoke", json={"serialNumber": "4a" * 20}), 404)
    # The refresh re-issues a CRL past half its validity (1 day: looking 13 hours ahead).
    invoke_refresh(stack, lookahead=13 * 3600)
    after, *_ = crl_of(world, api)
    assert after["number"] > view["number"] and after["revokedCount"] == 1


def test_a_status_list_signer_under_the_iaca_signs_lists_with_x5c(api, world, stack, s3, tmp_path):  # noqa: F811
    t = world["t"]
    signer_pem = status_list_signer(api, world, "status-signer", "Status list signer")
    cert = x509.load_pem_x509_certificate(signer_pem.encode())
    iaca = x509.load_pem_x509_certificate(world["iaca_pem"].encode())
    ku = cert.extensions.get_extension_for_oid(ExtensionOID.KEY_USAGE)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign and not ku.value.crl_sign
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days <= 1187
    assert cert.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value.key_identifier == \
        iaca.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_KEY_IDENTIFIER).value.digest
    (tmp_path / "iaca.pem").write_text(world["iaca_pem"])
    (tmp_path / "signer.pem").write_text(signer_pem)
    assert openssl("verify", "-CAfile", "iaca.pem", "signer.pem", cwd=tmp_path).returncode == 0
    # A status service whose lists are signed by that key, naming the certificate.
    name = "sl-" + uuid.uuid4().hex[:12]
    registry, fetch = make_registry("aws", stack, s3, name)
    api.service(f"{t}.status", "credential-status", config={"registry": registry}, dependencies=[f"{t}.kms"])
    spec = {"type": "TokenStatusList", "format": "JWT", "size": 1024}
    # The certificate's key must be the kid key.
    bad = api.post(f"/v1/{t}.status.wrong/credential-status-service-api/status-credential/create",
                   json={"kid": f"{t}.kms.ds", "x5ChainFrom": f"{t}.store.status-signer", "config": spec})
    assert_error(bad, 400, contains="x5ChainFrom")
    r = api.post(f"/v1/{t}.status.tsl/credential-status-service-api/status-credential/create",
                 json={"kid": f"{t}.kms.signer", "x5ChainFrom": f"{t}.store.status-signer", "config": spec})
    assert r.status_code == 201, r.text
    r = api.post(f"/v1/{t}.status.tsl/credential-status-service-api/status-credential/entries", json={"count": 1})
    assert r.status_code == 201, r.text
    uri = r.json()["entries"][0]["uri"]
    _, _, token = fetch(uri)
    head, payload, sig = token.decode().split(".")
    header = json.loads(b64d(head))
    leaf = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    assert leaf == cert
    sig = b64d(sig)
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    leaf.public_key().verify(der, f"{head}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))


def test_csrs_on_every_curve_and_a_crl_target_configured_later(api, stack, s3, tmp_path):  # noqa: F811
    org = api.org()
    t = api.tenant(f"{org}.t1")
    api.service(f"{t}.kms", "kms")
    api.service(f"{t}.x509", "x509-service", dependencies=[f"{t}.kms"])
    key(api, t, "iaca")
    base = f"/v1/{t}.x509/x509-service-api"
    r = api.post(f"{base}/iso/iacas", json={
        "certificateData": {"country": "US", "commonName": "Later IACA", "issuerAlternativeNameConf": IAN},
        "iacaKeyDesc": kms_key(t, "iaca")})
    assert r.status_code == 201, r.text
    assert "crlPublished" not in r.json()
    iaca_pem = r.json()["certificatePEM"]
    # Without a CRL target, a Document Signer must name its distribution point.
    signer = {"type": "iaca-pem-cert-descriptor", "iacaPemEncodedCertificate": iaca_pem, "iacaKeyDesc": kms_key(t, "iaca")}

    def issue(key_desc, **data):
        return api.post(f"{base}/iso/document-signers", json={
            "iacaSigner": signer, "certificateData": {"country": "US", "commonName": "DS", **data},
            "dsKeyDescriptor": key_desc})
    assert_error(issue(kms_key(t, "iaca")), 400, contains="crlDistributionPointUri")
    # CSRs for P-256, P-384 and P-521 keys: each key certified after its proof of possession.
    for curve in ("prime256v1", "secp384r1", "secp521r1"):
        assert openssl("ecparam", "-name", curve, "-genkey", "-noout", "-out", f"{curve}.key", cwd=tmp_path).returncode == 0
        r = openssl("req", "-new", "-key", f"{curve}.key", "-subj", "/CN=x", "-out", f"{curve}.csr", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        csr_pem = (tmp_path / f"{curve}.csr").read_text()
        r = issue({"type": "pkcs10-csr", "csrPem": broken_csr(csr_pem)}, crlDistributionPointUri="http://crl.example.gov/iaca.crl")
        assert_error(r, 400, contains="proof of possession")
        r = issue({"type": "pkcs10-csr", "csrPem": csr_pem}, crlDistributionPointUri="http://crl.example.gov/iaca.crl")
        assert r.status_code == 201, (curve, r.text)
        got = x509.load_pem_x509_certificate(r.json()["certificatePEM"].encode()).public_key()
        want = serialization.load_pem_private_key((tmp_path / f"{curve}.key").read_bytes(), None).public_key()
        assert got.public_numbers() == want.public_numbers(), curve
    # An RSA CSR is refused.
    openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "rsa.key", "-subj", "/CN=x", "-out", "rsa.csr",
            cwd=tmp_path)
    assert_error(issue({"type": "pkcs10-csr", "csrPem": (tmp_path / "rsa.csr").read_text()},
                       crlDistributionPointUri="http://crl.example.gov/iaca.crl"), 400)
    # A CRL target configured later: the IACA's CRL is due now, and the refresh publishes it.
    name = "crl-later-" + uuid.uuid4().hex[:8]
    registry, fetch = make_registry("aws", stack, s3, name)
    doc = api.get(f"{base}/configuration/view").json()
    r = api.put(f"{base}/configuration/update", json={**doc, "config": {"crl": {"registry": registry}}})
    assert r.status_code == 200, r.text
    view = api.get(f"{base}/configuration/view").json()
    assert view["config"]["crl"]["registry"]["secretKey"] == "***" and view["config"]["crl"]["validityDays"] == 7
    [crl] = api.get(f"{base}/crls").json()
    assert crl["number"] is None and crl["url"].endswith(f"/crls/{t}.x509/{crl['iacaSerialNumber']}.crl")
    invoke_refresh(stack)
    [crl] = api.get(f"{base}/crls").json()
    assert crl["number"] > 0 and crl["lastPublishError"] is None
    _, _, body = fetch(crl["url"])
    assert x509.load_der_x509_crl(body).is_signature_valid(
        x509.load_pem_x509_certificate(iaca_pem.encode()).public_key())
    # A distribution point that differs from the CRL's URL is now a 400.
    assert_error(issue(kms_key(t, "iaca"), crlDistributionPointUri="http://crl.example.gov/iaca.crl"), 400,
                 contains=crl["url"])
    # Certificates now point at that URL: the target may not move elsewhere, nor go; its
    # validity (and secrets) may change.
    doc = api.get(f"{base}/configuration/view").json()
    moved = {**registry, "bucketName": name + "-b"}
    for config in ({"crl": {"registry": moved}}, {}):
        r = api.put(f"{base}/configuration/update", json={**doc, "config": config})
        assert_error(r, 409, contains=crl["url"].split("/crls/")[0])
    r = api.put(f"{base}/configuration/update", json={**doc, "config": {"crl": {"registry": registry, "validityDays": 3}}})
    assert r.status_code == 200, r.text


def test_a_p521_iaca_signs_verified_certificates_and_crls(api, stack, s3, tmp_path):  # noqa: F811
    org = api.org()
    t = api.tenant(f"{org}.t1")
    api.service(f"{t}.kms", "kms")
    registry, fetch = make_registry("aws", stack, s3, "crl-p521-" + uuid.uuid4().hex[:8])
    api.service(f"{t}.x509", "x509-service", config={"crl": {"registry": registry}}, dependencies=[f"{t}.kms"])
    key(api, t, "iaca", key_type="secp521r1")
    base = f"/v1/{t}.x509/x509-service-api"
    # Every signature KMS returns is checked before anything is stored, on P-521 too.
    r = api.post(f"{base}/iso/iacas", json={
        "certificateData": {"country": "US", "commonName": "P-521 IACA", "issuerAlternativeNameConf": IAN},
        "iacaKeyDesc": kms_key(t, "iaca")})
    assert r.status_code == 201, r.text
    iaca = x509.load_pem_x509_certificate(r.json()["certificatePEM"].encode())
    assert isinstance(iaca.public_key().curve, ec.SECP521R1)
    iaca.verify_directly_issued_by(iaca)
    [crl] = api.get(f"{base}/crls").json()
    _, _, body = fetch(crl["url"])
    assert x509.load_der_x509_crl(body).is_signature_valid(iaca.public_key())


def test_a_cwt_status_list_carries_the_status_list_signer_in_x5chain(api, world, stack, s3):  # noqa: F811
    import cbor2
    t = world["t"]
    cert = x509.load_pem_x509_certificate(status_list_signer(api, world, "cwt-signer", "CWT status list signer").encode())
    name = "slc-" + uuid.uuid4().hex[:12]
    registry, fetch = make_registry("aws", stack, s3, name)
    api.service(f"{t}.cwt", "credential-status", config={"registry": registry}, dependencies=[f"{t}.kms"])
    r = api.post(f"/v1/{t}.cwt.tsl/credential-status-service-api/status-credential/create",
                 json={"kid": f"{t}.kms.signer", "x5ChainFrom": f"{t}.store.cwt-signer",
                       "config": {"type": "TokenStatusList", "format": "CWT", "size": 1024}})
    assert r.status_code == 201, r.text
    assert r.json()["x5ChainFrom"] == f"{t}.store.cwt-signer"
    r = api.post(f"/v1/{t}.cwt.tsl/credential-status-service-api/status-credential/entries", json={"count": 1})
    assert r.status_code == 201, r.text
    _, _, body = fetch(r.json()["entries"][0]["uri"])
    protected, unprotected, payload, sig = cbor2.loads(body).value
    assert unprotected[33] == cert.public_bytes(serialization.Encoding.DER)
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    cert.public_key().verify(der, cbor2.dumps(["Signature1", protected, b"", payload]), ec.ECDSA(hashes.SHA256()))


def own_world(api, stack, s3, name):  # noqa: F811
    """An organization with kms (keys iaca, ds), a store, an x509-service publishing CRLs to moto
    S3 and an IACA in the store: (tenant, base path, IACA PEM, CRL fetcher, x509 config)."""
    t = api.tenant(f"{api.org()}.t1")
    api.service(f"{t}.kms", "kms")
    api.service(f"{t}.store", "x509-store")
    registry, fetch = make_registry("aws", stack, s3, name)
    config = {"crl": {"registry": registry, "validityDays": 1}}
    api.service(f"{t}.x509", "x509-service", config=config, dependencies=[f"{t}.kms", f"{t}.store"])
    for k in ("iaca", "ds"):
        key(api, t, k)
    base = f"/v1/{t}.x509/x509-service-api"
    r = api.post(f"{base}/iso/iacas", json={
        "storedCertificateId": "iaca",
        "certificateData": {"country": "US", "commonName": "Drill IACA", "issuerAlternativeNameConf": IAN},
        "iacaKeyDesc": kms_key(t, "iaca")})
    assert r.status_code == 201, r.text
    return t, base, r.json()["certificatePEM"], fetch, config


def issue_ds(api, t, base, n):
    r = api.post(f"{base}/iso/document-signers", json={
        "iacaSigner": {"type": "stored-certificate-descriptor", "storedCertificatePath": f"{t}.store.iaca",
                       "iacaKeyDesc": kms_key(t, "iaca")},
        "certificateData": {"country": "US", "commonName": f"DS {n}"}, "dsKeyDescriptor": kms_key(t, "ds")})
    assert r.status_code == 201, r.text
    return format(x509.load_pem_x509_certificate(r.json()["certificatePEM"].encode()).serial_number, "x")


def published_crl(api, base, fetch):
    (view,) = api.get(f"{base}/crls").json()
    crl = x509.load_der_x509_crl(fetch(view["url"])[2])
    return view, crl, sorted(format(r.serial_number, "x") for r in crl)


def test_a_service_deleted_and_created_again_loses_no_revocation(api, stack, s3):  # noqa: F811
    """delete-recursive an x509-service, create it again at the same path with the same CRL
    target, issue one Document Signer under the stored IACA: the CRL at the same URL still lists
    every serial revoked before, with a higher cRLNumber."""
    t, base, iaca_pem, fetch, config = own_world(api, stack, s3, "recreate-" + uuid.uuid4().hex[:10])
    revoked = sorted(issue_ds(api, t, base, n) for n in range(6))
    for serial in revoked:
        r = api.post(f"{base}/certificates/revoke", json={"serialNumber": serial})
        assert r.status_code == 200 and r.json()["crlPublished"] is True, r.text
    view, crl, listed = published_crl(api, base, fetch)
    assert listed == revoked
    number = crl.extensions.get_extension_for_oid(ExtensionOID.CRL_NUMBER).value.crl_number
    assert api.delete(f"/v1/{t}.x509/resource-api/resources/delete-recursive").status_code == 202
    api.service(f"{t}.x509", "x509-service", config=config, dependencies=[f"{t}.kms", f"{t}.store"])
    fresh = issue_ds(api, t, base, "fresh")
    again, crl, listed = published_crl(api, base, fetch)
    assert again["url"] == view["url"]
    assert listed == revoked, "no revocation was rolled back"
    assert crl.extensions.get_extension_for_oid(ExtensionOID.CRL_NUMBER).value.crl_number > number
    iaca = format(x509.load_pem_x509_certificate(iaca_pem.encode()).serial_number, "x")
    known = api.get(f"{base}/certificates/issued?iaca={iaca}&state=revoked").json()
    assert sorted(c["serialNumber"] for c in known) == revoked, "the table knows them again"
    assert api.post(f"{base}/certificates/revoke", json={"serialNumber": fresh}).status_code == 200
    assert published_crl(api, base, fetch)[2] == sorted(revoked + [fresh])


def test_a_restore_keeps_every_revocation_and_crl_number(api, stack, s3, ddb):  # noqa: F811
    """The restore drill for CRLs: revoke, back up, revoke and issue more, restore the backup with
    table_sync, refresh. The CRL lists every revocation, its number never goes back, and a
    certificate issued after the backup can still be revoked by serial."""
    import sys
    from conftest import ROOT
    from invariants import violations
    sys.path.insert(0, str(ROOT / "infra" / "scripts"))
    import table_sync
    t, base, _, fetch, _ = own_world(api, stack, s3, "restore-" + uuid.uuid4().hex[:10])
    a, b = issue_ds(api, t, base, "a"), issue_ds(api, t, base, "b")
    assert api.post(f"{base}/certificates/revoke", json={"serialNumber": a}).status_code == 200
    copy = backup(ddb, "crl-drill")
    quiet = lambda m: None  # noqa: E731
    assert api.post(f"{base}/certificates/revoke", json={"serialNumber": b}).status_code == 200
    c = issue_ds(api, t, base, "c")
    _, crl, listed = published_crl(api, base, fetch)
    assert listed == sorted([a, b])
    number = crl.extensions.get_extension_for_oid(ExtensionOID.CRL_NUMBER).value.crl_number
    table_sync.sync(ddb, copy, "trustfn", apply=True, progress=quiet, merge_statuses=True)
    report = invoke_refresh(stack)
    assert report["failed"] == 0 and report["republished"] >= 1, report
    view, crl, listed = published_crl(api, base, fetch)
    assert listed == sorted([a, b]), "the revocation made after the backup survives"
    assert crl.extensions.get_extension_for_oid(ExtensionOID.CRL_NUMBER).value.crl_number > number
    r = api.post(f"{base}/certificates/revoke", json={"serialNumber": c})
    assert r.status_code == 200 and r.json()["crlPublished"] is True, r.text
    assert published_crl(api, base, fetch)[2] == sorted([a, b, c])
    assert violations(ddb) == []
    ddb.delete_table(TableName=copy)


def test_signing_keys_their_kms_dependency_and_list_urls_stay_while_used(api, stack, s3):  # noqa: F811
    t, base, _, _, _ = own_world(api, stack, s3, "refs-" + uuid.uuid4().hex[:10])
    # The IACA's key and the kms dependency it lives in.
    assert_error(api.post(f"{base}/dependencies/remove",
                          json=f"{t}.kms"), 409)
    assert_error(api.delete(f"/v1/{t}.kms.iaca/kms-service-api/keys/delete"), 409)
    assert_error(api.delete(f"/v1/{t}.kms.iaca/resource-api/resources/delete"), 409)
    assert api.get(f"/v1/{t}.kms.iaca/kms-service-api/keys/view").status_code == 200
    # A status configuration's key, and the registry its lists are published to.
    registry, _ = make_registry("aws", stack, s3, "refs-st-" + uuid.uuid4().hex[:10])
    api.service(f"{t}.st", "credential-status", config={"registry": registry}, dependencies=[f"{t}.kms"])
    key(api, t, "lists")
    cfg = f"/v1/{t}.st.c/credential-status-service-api/status-credential"
    assert api.post(f"{cfg}/create", json={"kid": f"{t}.kms.lists",
                                           "config": {"type": "TokenStatusList"}}).status_code == 201
    assert api.post(f"{cfg}/entries", json={"count": 1}).status_code == 201
    st = f"/v1/{t}.st/credential-status-service-api"
    assert_error(api.post(f"{st}/dependencies/remove", json=f"{t}.kms"), 409)
    elsewhere, _ = make_registry("aws", stack, s3, "refs-moved-" + uuid.uuid4().hex[:10])
    assert_error(api.put(f"{st}/configuration/update", json={"config": {"registry": elsewhere}}), 409)
    # The same registry (secrets shown as *** keep their value) is accepted.
    view = api.get(f"{st}/configuration/view").json()
    r = api.put(f"{st}/configuration/update", json={"config": view["config"]})
    assert r.status_code == 200, r.text

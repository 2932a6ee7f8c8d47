"""KMS keys, IACA / Document Signer issuance with write-through to X.509 stores, and the store API."""
import json
import subprocess
import uuid
from datetime import datetime, timedelta, timezone

import boto3
import pytest

from conftest import assert_error, mentions, table_items

IAN = {"uri": "https://dmv.example.gov/mdl"}
CRL = "https://crl.example.gov/iaca.crl"


@pytest.fixture(scope="module")
def kms(stack):
    return boto3.client("kms", endpoint_url=stack.moto_url, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def seed(api, stores=2):
    org = api.org()
    t = api.tenant(f"{org}.t1")
    api.service(f"{t}.kms", "kms")
    api.service(f"{t}.x509", "x509-service")
    for i in range(1, stores + 1):
        api.service(f"{t}.store{i}", "x509-store")
    base = f"/v1/{t}.x509/x509-service-api"
    # The seed's JSON-string body, then the object form.
    assert api.post(f"{base}/dependencies/add", json=f"{t}.kms").status_code == 201
    if stores >= 1:
        assert api.post(f"{base}/dependencies/add", json=f"{t}.store1").status_code == 201
    if stores >= 2:
        assert api.post(f"{base}/dependencies/add", json={"dependency": f"{t}.store2"}).status_code == 201
    return org, t


def key(api, t, name, key_type="secp256r1"):
    r = api.post(f"/v1/{t}.kms.{name}/kms-service-api/keys/generate", json={"keyType": key_type})
    assert r.status_code == 201, r.text
    return r.json()


def kms_key(t, name):
    return {"type": "kms-hosted-key-descriptor", "keyIdPath": f"{t}.kms.{name}"}


def iaca_body(t, key_name="iaca", **data):
    cd = {"country": "US", "commonName": "Test IACA", "stateOrProvinceName": "US-CA",
          "issuerAlternativeNameConf": IAN, "crlDistributionPointUri": CRL, **data}
    return {"certificateData": cd, "iacaKeyDesc": kms_key(t, key_name)}


def ds_body(t, iaca_pem, key_name="iaca", ds_key=None, **data):
    cd = {"country": "US", "commonName": "Test DS", "stateOrProvinceName": "US-CA", "crlDistributionPointUri": CRL, **data}
    return {"iacaSigner": {"type": "iaca-pem-cert-descriptor", "iacaPemEncodedCertificate": iaca_pem,
                           "iacaKeyDesc": kms_key(t, key_name)},
            "certificateData": cd, "dsKeyDescriptor": ds_key or kms_key(t, "ds")}


def openssl_verify(tmp_path, iaca_pem, ds_pem):
    (tmp_path / "iaca.pem").write_text(iaca_pem)
    (tmp_path / "ds.pem").write_text(ds_pem)
    r = subprocess.run(["openssl", "verify", "-x509_strict", "-CAfile", str(tmp_path / "iaca.pem"),
                        str(tmp_path / "ds.pem")], capture_output=True, text=True)
    return r.returncode == 0 and ": OK" in r.stdout, r.stdout + r.stderr


def assert_profiles(iaca_pem, ds_pem):
    """The KMS-signed pair, read with pyca/cryptography: every extension and its criticality."""
    from cryptography import x509
    from cryptography.x509.oid import ExtensionOID, NameOID

    iaca = x509.load_pem_x509_certificate(iaca_pem.encode())
    ds = x509.load_pem_x509_certificate(ds_pem.encode())
    ext = lambda c, oid: c.extensions.get_extension_for_oid(oid)  # noqa: E731
    for c in (iaca, ds):
        assert c.version == x509.Version.v3
        serial = c.serial_number.to_bytes(20, "big")
        assert serial[0] & 0xC0 == 0x40
        assert c.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0]._type.name == "PrintableString"
        assert not ext(c, ExtensionOID.SUBJECT_KEY_IDENTIFIER).critical
    bc = ext(iaca, ExtensionOID.BASIC_CONSTRAINTS)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = ext(iaca, ExtensionOID.KEY_USAGE)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign and not ku.value.digital_signature
    assert not ext(iaca, ExtensionOID.ISSUER_ALTERNATIVE_NAME).critical
    assert iaca.issuer == iaca.subject
    ku = ext(ds, ExtensionOID.KEY_USAGE)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    eku = ext(ds, ExtensionOID.EXTENDED_KEY_USAGE)
    assert eku.critical and [o.dotted_string for o in eku.value] == ["1.0.18013.5.1.2"]
    aki = ext(ds, ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    assert not aki.critical
    assert aki.value.key_identifier == ext(iaca, ExtensionOID.SUBJECT_KEY_IDENTIFIER).value.digest
    assert ext(ds, ExtensionOID.ISSUER_ALTERNATIVE_NAME).value == ext(iaca, ExtensionOID.ISSUER_ALTERNATIVE_NAME).value
    assert not ext(ds, ExtensionOID.CRL_DISTRIBUTION_POINTS).critical
    assert ExtensionOID.BASIC_CONSTRAINTS not in [e.oid for e in ds.extensions]
    assert ds.issuer.public_bytes() == iaca.subject.public_bytes()
    assert (ds.not_valid_after_utc - ds.not_valid_before_utc).days <= 457
    ds.verify_directly_issued_by(iaca)


def test_seed_flow_issues_and_stores_a_chain(api, tmp_path):
    org, t = seed(api)
    k = key(api, t, "iaca")
    assert k["keyType"] == "secp256r1" and k["publicKey"]["crv"] == "P-256" and k["kmsKeyArn"].startswith("arn:aws:kms:")
    key(api, t, "ds", "secp384r1")
    r = api.post(f"/v1/{t}.x509/x509-service-api/iso/iacas", json={**iaca_body(t), "storedCertificateId": "iaca-2026"})
    assert r.status_code == 201, r.text
    iaca = r.json()
    assert iaca["storedCertificateIds"] == [f"{t}.store1.iaca-2026", f"{t}.store2.iaca-2026"]
    nb = datetime.fromisoformat(iaca["certificateData"]["notBefore"].replace("Z", "+00:00"))
    na = datetime.fromisoformat(iaca["certificateData"]["notAfter"].replace("Z", "+00:00"))
    assert na - nb == timedelta(days=7300), "default IACA validity"
    r = api.post(f"/v1/{t}.x509/x509-service-api/iso/document-signers", json={**ds_body(t, iaca["certificatePEM"]),
                                                                            "storedCertificateId": "ds-2026"})
    assert r.status_code == 201, r.text
    ds = r.json()
    assert ds["storedCertificateIds"] == [f"{t}.store1.ds-2026", f"{t}.store2.ds-2026"]
    for store in ("store1", "store2"):
        for cid, cert in (("iaca-2026", iaca), ("ds-2026", ds)):
            rec = api.get(f"/v1/{t}.{store}.{cid}/x509-store-api/certificates").json()
            assert rec["_id"] == f"{t}.{store}.{cid}" and rec["data"]["type"] == "base"
            assert rec["data"]["pem"] == cert["certificatePEM"]
            assert len(rec["sha256Fingerprint"]) == 64 and len(rec["serialNumber"]) == 40
    ok, out = openssl_verify(tmp_path, iaca["certificatePEM"], ds["certificatePEM"])
    assert ok, out
    assert_profiles(iaca["certificatePEM"], ds["certificatePEM"])
    # A DS signed via the stored IACA (stored-certificate-descriptor) with a JWK subject key.
    jwk = key(api, t, "other")["publicKey"]
    body = ds_body(t, "", ds_key={"type": "jwk-encoded-key-descriptor", "jwk": jwk})
    body["iacaSigner"] = {"type": "stored-certificate-descriptor", "storedCertificatePath": f"{t}.store1.iaca-2026",
                          "iacaKeyDesc": kms_key(t, "iaca")}
    r = api.post(f"/v1/{t}.x509/x509-service-api/iso/document-signers", json=body)
    assert r.status_code == 201, r.text
    assert len(r.json()["storedCertificateIds"]) == 2
    ok, out = openssl_verify(tmp_path, iaca["certificatePEM"], r.json()["certificatePEM"])
    assert ok, out


def test_p384_iaca_and_vical_entry(api, tmp_path):
    org, t = seed(api, stores=1)
    key(api, t, "iaca", "secp384r1")
    key(api, t, "ds")
    body = {**iaca_body(t), "vicalEntryComplementaryMetadata": {"docType": ["org.iso.18013.5.1.mDL"]}}
    r = api.post(f"/v1/{t}.x509/x509-service-api/iso/iacas", json=body)
    assert r.status_code == 201, r.text
    iaca = r.json()
    (sid,) = iaca["storedCertificateIds"]
    uuid.UUID(sid.rsplit(".", 1)[1])  # generated id
    rec = api.get(f"/v1/{sid}/x509-store-api/certificates").json()
    assert rec["data"]["type"] == "vical-entry"
    assert rec["data"]["complementaryMetadata"] == {"docType": ["org.iso.18013.5.1.mDL"]}
    r = api.post(f"/v1/{t}.x509/x509-service-api/iso/document-signers", json=ds_body(t, iaca["certificatePEM"]))
    assert r.status_code == 201, r.text
    ok, out = openssl_verify(tmp_path, iaca["certificatePEM"], r.json()["certificatePEM"])
    assert ok, out


def test_without_stores_nothing_is_stored(api):
    org = api.org()
    t = api.tenant(f"{org}.t1")
    api.service(f"{t}.kms", "kms")
    api.service(f"{t}.x509", "x509-service", dependencies=[f"{t}.kms"])
    key(api, t, "iaca")
    r = api.post(f"/v1/{t}.x509/x509-service-api/iso/iacas", json={**iaca_body(t), "storedCertificateId": "ignored"})
    assert r.status_code == 201, r.text
    assert "storedCertificateIds" not in r.json()


def test_write_through_is_atomic(api, ddb):
    org, t = seed(api)
    key(api, t, "iaca")
    # The id is taken in store2 only.
    r = api.post(f"/v1/{t}.x509/x509-service-api/iso/iacas", json=iaca_body(t))
    pem = r.json()["certificatePEM"]
    assert api.post(f"/v1/{t}.store2.taken/x509-store-api/certificates",
                    json={"type": "base", "certificatePem": pem}).status_code == 201
    before = table_items(ddb)
    r = api.post(f"/v1/{t}.x509/x509-service-api/iso/iacas", json={**iaca_body(t), "storedCertificateId": "taken"})
    assert_error(r, 409, "DuplicateTarget")
    assert table_items(ddb) == before
    assert_error(api.get(f"/v1/{t}.store1.taken/x509-store-api/certificates"), 404)


def test_keys_and_stores_named_in_a_body_need_their_own_rights(api, ddb):
    """A key that may not touch the kms service (keys/view is 403) must not sign with its keys
    through the x509-service either, nor write into a store it may not add to."""
    org, t = seed(api)
    key(api, t, "iaca")
    api.role(org, "nokms", [{"target": t, "action": "all", "operation": "ADD"},
                            {"target": f"{t}.kms", "action": "all", "operation": "REMOVE"}])
    api.role(org, "nostore2", [{"target": t, "action": "all", "operation": "ADD"},
                               {"target": f"{t}.store2", "action": "x509-store-certificate-add", "operation": "REMOVE"}])
    no_kms, _ = api.key(org, ["nokms"])
    no_store2, _ = api.key(org, ["nostore2"])
    assert_error(api.get(f"/v1/{t}.kms.iaca/kms-service-api/keys/view", token=no_kms), 403)
    before = table_items(ddb)
    for token, missing in [(no_kms, "kms-key-use"), (no_store2, "x509-store-certificate-add")]:
        r = api.post(f"/v1/{t}.x509/x509-service-api/iso/iacas", json=iaca_body(t), token=token)
        assert_error(r, 403, contains=missing)
    # The same answer for a key that does not exist.
    r = api.post(f"/v1/{t}.x509/x509-service-api/iso/iacas", json=iaca_body(t, "nothing"), token=no_kms)
    assert_error(r, 403, contains="kms-key-use")
    assert table_items(ddb) == before
    # With every right, the same request issues.
    everything, _ = api.key(org, ["admin"])
    r = api.post(f"/v1/{t}.x509/x509-service-api/iso/iacas", json=iaca_body(t), token=everything)
    assert r.status_code == 201, r.text


def test_every_iaca_rule_is_a_400(api, ddb):
    org, t = seed(api, stores=1)
    key(api, t, "iaca")
    now = datetime.now(timezone.utc)
    iso = lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    cases = [
        ({"country": "us"}, "country"),
        ({"country": "XX"}, "country"),
        ({"commonName": ""}, "commonName"),
        ({"issuerAlternativeNameConf": {}}, "issuerAlternativeNameConf"),
        ({"issuerAlternativeNameConf": {"email": "not-an-email"}}, "email"),
        ({"issuerAlternativeNameConf": {"uri": "no uri"}}, "uri"),
        ({"crlDistributionPointUri": "ldap://crl"}, "crlDistributionPointUri"),
        ({"notBefore": iso(now), "notAfter": iso(now + timedelta(days=7301))}, "7300"),
        ({"notBefore": iso(now - timedelta(days=30)), "notAfter": iso(now - timedelta(days=1))}, "future"),
        ({"stateOrProvinceName": " "}, "stateOrProvinceName"),
    ]
    before = table_items(ddb)
    for data, text in cases:
        r = api.post(f"/v1/{t}.x509/x509-service-api/iso/iacas", json=iaca_body(t, **data))
        assert_error(r, 400, contains=text)
    # Key problems
    assert_error(api.post(f"/v1/{t}.x509/x509-service-api/iso/iacas", json=iaca_body(t, key_name="missing")), 400,
                 contains="does not exist")
    body = iaca_body(t)
    body["iacaKeyDesc"] = {"type": "jwk-encoded-key-descriptor", "jwk": {"kty": "EC"}}
    assert_error(api.post(f"/v1/{t}.x509/x509-service-api/iso/iacas", json=body), 400, contains="kms-hosted")
    body = iaca_body(t)
    body["certificateData"].pop("country")
    assert_error(api.post(f"/v1/{t}.x509/x509-service-api/iso/iacas", json=body), 400, contains="country")
    assert_error(api.post(f"/v1/{t}.x509/x509-service-api/iso/iacas", json={**iaca_body(t), "storedCertificateId": "a.b"}),
                 400, contains="storedCertificateId")
    assert table_items(ddb) == before


def test_kms_must_be_attached(api):
    org = api.org()
    t = api.tenant(f"{org}.t1")
    api.service(f"{t}.kms", "kms")
    api.service(f"{t}.x509", "x509-service")
    key(api, t, "iaca")
    r = api.post(f"/v1/{t}.x509/x509-service-api/iso/iacas", json=iaca_body(t))
    assert_error(r, 400, contains="not an attached dependency")


def test_every_document_signer_rule_is_a_400(api, ddb):
    org, t = seed(api, stores=1)
    key(api, t, "iaca")
    key(api, t, "ds")
    key(api, t, "stranger")
    iaca = api.post(f"/v1/{t}.x509/x509-service-api/iso/iacas", json=iaca_body(t)).json()
    pem = iaca["certificatePEM"]
    ina = datetime.fromisoformat(iaca["certificateData"]["notAfter"].replace("Z", "+00:00"))
    inb = datetime.fromisoformat(iaca["certificateData"]["notBefore"].replace("Z", "+00:00"))
    now = datetime.now(timezone.utc)
    iso = lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    cases = [
        ({"country": "DE"}, "country"),
        ({"stateOrProvinceName": "US-NY"}, "stateOrProvinceName"),
        ({"stateOrProvinceName": None}, "stateOrProvinceName"),
        ({"commonName": " "}, "commonName"),
        ({"crlDistributionPointUri": "ftp://crl.example.gov"}, "crlDistributionPointUri"),
        ({"notBefore": iso(now), "notAfter": iso(now + timedelta(days=458))}, "457"),
        ({"notBefore": iso(inb - timedelta(days=1)), "notAfter": iso(inb + timedelta(days=30))}, "inside the IACA"),
        ({"notBefore": iso(ina - timedelta(days=10)), "notAfter": iso(ina + timedelta(days=1))}, "inside the IACA"),
    ]
    before = table_items(ddb)
    for data, text in cases:
        body = ds_body(t, pem, **data)
        if data.get("stateOrProvinceName", "x") is None:
            body["certificateData"].pop("stateOrProvinceName")
        assert_error(api.post(f"/v1/{t}.x509/x509-service-api/iso/document-signers", json=body), 400, contains=text)
    body = ds_body(t, pem)
    body["certificateData"].pop("crlDistributionPointUri")
    assert_error(api.post(f"/v1/{t}.x509/x509-service-api/iso/document-signers", json=body), 400,
                 contains="crlDistributionPointUri")
    # The wrong IACA key: certificates it signed would never verify.
    r = api.post(f"/v1/{t}.x509/x509-service-api/iso/document-signers", json=ds_body(t, pem, key_name="stranger"))
    assert_error(r, 400, contains="not the IACA certificate's key")
    # The IACA certificate must itself pass the IACA profile: a DS is not an IACA.
    ds = api.post(f"/v1/{t}.x509/x509-service-api/iso/document-signers", json=ds_body(t, pem)).json()["certificatePEM"]
    before = table_items(ddb)
    for bad_pem, text in [(ds, "self-signed"), ("garbage", "PEM"), (pem + pem, "exactly one"),
                          (pem[: len(pem) // 2], "PEM")]:
        r = api.post(f"/v1/{t}.x509/x509-service-api/iso/document-signers", json=ds_body(t, bad_pem))
        assert_error(r, 400, contains=text)
    # A private JWK or a wrong curve as the DS key
    for jwk in [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "d": "AA"}, {"kty": "EC", "crv": "secp256k1"}]:
        r = api.post(f"/v1/{t}.x509/x509-service-api/iso/document-signers",
                     json=ds_body(t, pem, ds_key={"type": "jwk-encoded-key-descriptor", "jwk": jwk}))
        assert_error(r, 400)
    assert table_items(ddb) == before


def test_key_lifecycle(api, kms, ddb):
    org = api.org()
    t = api.tenant(f"{org}.t1")
    api.service(f"{t}.kms", "kms")
    for kt, crv in [("secp256r1", "P-256"), ("secp384r1", "P-384"), ("secp521r1", "P-521")]:
        k = key(api, t, kt, kt)
        assert k["publicKey"]["crv"] == crv and k["_id"] == f"{t}.kms.{kt}" and "d" not in k["publicKey"]
        meta = kms.describe_key(KeyId=k["kmsKeyArn"])["KeyMetadata"]
        assert meta["KeyUsage"] == "SIGN_VERIFY"
        tags = kms.list_resource_tags(KeyId=meta["KeyId"])["Tags"]
        assert {"TagKey": "trustfn:path", "TagValue": k["_id"]} in tags
        assert {"TagKey": "trustfn:stack", "TagValue": "trustfn-local"} in tags
        # Tagged through the key's own policy, which grants its creator nothing else.
        policy = json.loads(kms.get_key_policy(KeyId=meta["KeyId"], PolicyName="default")["Policy"])
        creator = [st for st in policy["Statement"] if st["Principal"]["AWS"].endswith(":role/trustfn-local-keys-generate")]
        assert sorted(st["Action"] for st in creator) == ["kms:ScheduleKeyDeletion", "kms:TagResource"]
    assert_error(api.post(f"/v1/{t}.kms.secp256r1/kms-service-api/keys/generate", json={"keyType": "secp256r1"}), 409)
    assert_error(api.post(f"/v1/{t}.kms.x/kms-service-api/keys/generate", json={"keyType": "ed25519"}), 400)
    assert_error(api.post(f"/v1/{t}.nokms.x/kms-service-api/keys/generate", json={"keyType": "secp256r1"}), 404)
    listed = api.get(f"/v1/{t}.kms/kms-service-api/keys/list").json()
    assert [k["_id"] for k in listed] == [f"{t}.kms.secp256r1", f"{t}.kms.secp384r1", f"{t}.kms.secp521r1"]
    view = api.get(f"/v1/{t}.kms.secp256r1/kms-service-api/keys/view").json()
    assert view["publicKey"]["kty"] == "EC"
    arn = view["kmsKeyArn"]
    r = api.delete(f"/v1/{t}.kms.secp256r1/kms-service-api/keys/delete")
    assert r.status_code == 202, r.text
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert_error(api.get(f"/v1/{t}.kms.secp256r1/kms-service-api/keys/view"), 404)
    # Removing the kms service recursively retires its remaining keys too.
    arns = [k["kmsKeyArn"] for k in api.get(f"/v1/{t}.kms/kms-service-api/keys/list").json()]
    assert api.delete(f"/v1/{t}.kms/resource-api/resources/delete-recursive").status_code == 202
    for a in arns:
        assert kms.describe_key(KeyId=a)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert not any(mentions(i, f"{t}.kms") for i in table_items(ddb))


def test_import_existing_kms_keys(api, kms):
    org = api.org()
    t = api.tenant(f"{org}.t1")
    api.service(f"{t}.kms", "kms")
    grant = [{"TagKey": "trustfn:adopt-by", "TagValue": org}]
    ec = kms.create_key(KeySpec="ECC_NIST_P384", KeyUsage="SIGN_VERIFY", Tags=grant)["KeyMetadata"]["Arn"]
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY", Tags=grant)["KeyMetadata"]["Arn"]
    sym = kms.create_key(Tags=grant)["KeyMetadata"]["Arn"]
    r = api.post(f"/v1/{t}.kms.adopted/kms-service-api/keys/import/aws", json={"keyArn": ec})
    assert r.status_code == 201, r.text
    assert r.json()["keyType"] == "secp384r1" and r.json()["imported"] is True
    for arn, text in [(rsa, "cannot be adopted"), (sym, "cannot be adopted"),
                      ("arn:aws:kms:us-east-1:123456789012:key/nope", "cannot be adopted"), ("not-an-arn", "keyArn")]:
        assert_error(api.post(f"/v1/{t}.kms.k{uuid.uuid4().hex[:6]}/kms-service-api/keys/import/aws", json={"keyArn": arn}),
                     400, contains=text)
    # Deleting an adopted key's record leaves the key itself alone.
    assert api.delete(f"/v1/{t}.kms.adopted/kms-service-api/keys/delete").status_code == 202
    assert kms.describe_key(KeyId=ec)["KeyMetadata"]["KeyState"] == "Enabled"


def test_no_organization_can_adopt_another_ones_kms_key(api, kms, tmp_path):
    """The attack of issue 12: org A adopts org B's IACA key and issues a Document Signer that
    chains to B's IACA. Every refusal is the same 400, so an import also tells nothing about
    whether an ARN exists."""
    org_b, tb = seed(api, stores=0)
    key(api, tb, "iaca")
    b_arn = api.get(f"/v1/{tb}.kms.iaca/kms-service-api/keys/view").json()["kmsKeyArn"]
    b_iaca = api.post(f"/v1/{tb}.x509/x509-service-api/iso/iacas", json=iaca_body(tb)).json()["certificatePEM"]
    org_a, ta = seed(api, stores=0)
    key(api, ta, "ds")

    def adopt(name, arn):
        return api.post(f"/v1/{ta}.kms.{name}/kms-service-api/keys/import/aws", json={"keyArn": arn})

    missing = adopt("m", b_arn.rsplit("/", 1)[0] + "/" + str(uuid.uuid4()))
    assert_error(missing, 400, contains="cannot be adopted")
    refusal = missing.json()["message"]
    # B's generated key (even if someone tags it for A), an untagged key of the account, and keys
    # granted to B, to a sibling tenant of A, or to a name that is only a prefix of A.
    kms.tag_resource(KeyId=b_arn, Tags=[{"TagKey": "trustfn:adopt-by", "TagValue": org_a}])
    untagged = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]

    def granted(to):
        tags = [{"TagKey": "trustfn:adopt-by", "TagValue": to}]
        return kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY", Tags=tags)["KeyMetadata"]["Arn"]

    for arn in [b_arn, untagged, granted(org_b), granted(f"{org_a}.t2"), granted(org_a[:-1])]:
        r = adopt("stolen", arn)
        assert (r.status_code, r.json()["message"]) == (400, refusal), (arn, r.text)
    assert api.get(f"/v1/{ta}.kms.stolen/kms-service-api/keys/view").status_code == 404
    # Without B's key, A's Document Signer "under B's IACA" is refused.
    r = api.post(f"/v1/{ta}.x509/x509-service-api/iso/document-signers",
                 json=ds_body(ta, b_iaca, key_name="stolen", ds_key=kms_key(ta, "ds")))
    assert r.status_code in (400, 404), r.text
    # A key the administrator granted to A's tenant: adopted once, by one path.
    mine = granted(ta)
    assert adopt("mine", mine).status_code == 201
    again = adopt("mine2", mine)
    assert (again.status_code, again.json()["message"]) == (400, refusal)
    # Deleting the record gives the key back for another adoption.
    assert api.delete(f"/v1/{ta}.kms.mine/kms-service-api/keys/delete").status_code == 202
    assert adopt("mine2", mine).status_code == 201


def test_store_api(api, tmp_path):
    org, t = seed(api, stores=1)
    key(api, t, "iaca")
    issued = api.post(f"/v1/{t}.x509/x509-service-api/iso/iacas", json=iaca_body(t)).json()
    pem = issued["certificatePEM"]
    s = f"{t}.store1"
    r = api.post(f"/v1/{s}/x509-store-api/certificates", json={"type": "base", "certificatePem": pem})
    assert r.status_code == 201, r.text
    generated = r.json()["_id"]
    assert generated.startswith(s + ".")
    r = api.post(f"/v1/{s}.mine/x509-store-api/certificates",
                 json={"type": "vical-entry", "certificatePem": pem, "complementaryMetadata": {"docType": ["x"]}})
    assert r.status_code == 201
    rec = r.json()
    assert rec["_id"] == f"{s}.mine" and rec["data"]["complementaryMetadata"] == {"docType": ["x"]}
    assert rec["subject"].startswith("C=US") and rec["issuer"] == rec["subject"]
    assert_error(api.post(f"/v1/{s}.mine/x509-store-api/certificates", json={"type": "base", "certificatePem": pem}), 409)
    for body, text in [({"type": "base", "certificatePem": "garbage"}, "certificatePem"),
                       ({"type": "base", "certificatePem": pem + pem}, "exactly one"),
                       ({"type": "base", "certificatePem": pem[:200] + "\n-----END CERTIFICATE-----"}, "certificatePem"),
                       ({"type": "other", "certificatePem": pem}, "type"),
                       ({"type": "base", "certificatePem": pem, "complementaryMetadata": {}}, "vical-entry")]:
        assert_error(api.post(f"/v1/{s}.bad/x509-store-api/certificates", json=body), 400, contains=text)
    ids = api.get(f"/v1/{s}/x509-store-api/certificates/ids").json()
    assert sorted(ids) == sorted([generated, f"{s}.mine", *issued["storedCertificateIds"]])
    records = api.get(f"/v1/{s}/x509-store-api/certificates", params={"limit": 1})
    assert records.status_code == 200 and len(records.json()) == 1 and records.headers.get("x-next-cursor")
    r = api.put(f"/v1/{s}.mine/x509-store-api/certificates", json={"type": "base", "certificatePem": pem})
    assert r.status_code == 200 and r.json()["data"]["type"] == "base" and r.json()["version"] == 2
    assert_error(api.put(f"/v1/{s}.nope/x509-store-api/certificates", json={"type": "base", "certificatePem": pem}), 404)
    assert api.delete(f"/v1/{s}.mine/x509-store-api/certificates").status_code == 202
    assert_error(api.get(f"/v1/{s}.mine/x509-store-api/certificates"), 404)
    assert_error(api.delete(f"/v1/{s}.mine/x509-store-api/certificates"), 404)
    assert_error(api.get(f"/v1/{t}.kms/x509-store-api/certificates"), 400)


def test_a_generic_csr_is_signed_by_the_kms_key_and_read_by_independent_code(api, ddb):
    """walt.id's generic CSR (docs.walt.id .../x509-service/csr-workflows), checked with cryptography."""
    import base64
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    org, t = seed(api, stores=0)
    k = key(api, t, "leaf-secp384r1", "secp384r1")
    base = f"/v1/{t}.x509/x509-service-api/csrs"
    body = {"type": "generic",
            "subjectKeyDescriptor": {"type": "kms-hosted-key-descriptor", "keyIdPath": f"{t}.kms.leaf-secp384r1"},
            "subjectName": {"commonName": "Example Leaf", "country": "US", "organizationName": "Example Org"},
            "subjectAlternativeNames": {"dnsNames": ["leaf.example.com"], "uris": ["https://leaf.example.com/id"]}}
    r = api.post(base, json=body)
    assert r.status_code == 201, r.text
    csr = x509.load_pem_x509_csr(r.json()["csrPem"].encode())
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Example Leaf"
    assert csr.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "US"
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["leaf.example.com"]
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["https://leaf.example.com/id"]
    pub = csr.public_key()
    assert isinstance(pub, ec.EllipticCurvePublicKey) and pub.curve.name == "secp384r1"
    jwk = k["publicKey"]
    n = pub.public_numbers()
    unb64 = lambda s: int.from_bytes(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)), "big")  # noqa: E731
    assert (n.x, n.y) == (unb64(jwk["x"]), unb64(jwk["y"])), "the request is for the KMS key"
    # Refused, and nothing written but the refusals' audit entries.
    api.service(f"{t}.kms-other", "kms")
    assert api.post(f"/v1/{t}.kms-other.k/kms-service-api/keys/generate", json={"keyType": "secp256r1"}).status_code == 201
    before = [i for i in table_items(ddb) if not i["pk"]["S"].startswith(("L#", "H#"))]
    for bad, text in (
        ({**body, "type": "iso-document-signer"}, "generic"),
        ({**body, "subjectKeyDescriptor": {"type": "jwk-encoded-key-descriptor", "jwk": jwk}}, "kms-hosted"),
        ({**body, "subjectKeyDescriptor": {"type": "kms-hosted-key-descriptor", "keyIdPath": f"{t}.kms-other.k"}},
         "not an attached dependency"),
        ({**body, "subjectName": {"commonName": "x", "country": "USA"}}, "subjectName.country"),
        ({**body, "subjectAlternativeNames": {"dnsNames": ["not a name"]}}, "subjectAlternativeNames"),
    ):
        assert_error(api.post(base, json=bad), 400, contains=text)
    assert [i for i in table_items(ddb) if not i["pk"]["S"].startswith(("L#", "H#"))] == before


def test_default_requests_lie_under_issuance_and_need_the_operations_right(api, ddb):
    """walt.id's default requests (docs.walt.id .../administration/services/configuration/default-requests):
    a stored partial body deep-merged under each call; storing one needs update-default-requests
    and the operation's own action."""
    org, t = seed(api, stores=0)
    key(api, t, "iaca")
    key(api, t, "ds")
    r = api.post(f"/v1/{t}.x509/x509-service-api/iso/iacas", json=iaca_body(t))
    assert r.status_code == 201, r.text
    iaca_pem = r.json()["certificatePEM"]
    base = f"/v1/{t}.x509/x509-service-api/default-requests"
    full = ds_body(t, iaca_pem)
    stored = {"iacaSigner": full["iacaSigner"],
              "certificateData": {"country": "US", "stateOrProvinceName": "US-CA", "crlDistributionPointUri": CRL}}
    # Without the operation's own right: refused, nothing stored.
    role = api.role(org, "defaults-only", [{"target": t, "action": "update-default-requests", "operation": "ADD"}])
    token, _ = api.key(org, [role.split(".", 1)[1]])
    before = table_items(ddb)
    assert_error(api.put(f"{base}/issue-document-signer", json=stored, token=token), 403,
                 contains="x509-document-signer-issue")
    assert_error(api.put(f"{base}/issue-nothing", json=stored), 404, contains="issue-iaca, issue-document-signer")
    assert_error(api.put(f"{base}/issue-document-signer", json={"storedCertificateId": "x"}), 400,
                 contains="storedCertificateId")
    assert_error(api.delete(f"{base}/issue-document-signer"), 404)
    assert [i for i in table_items(ddb) if not i["pk"]["S"].startswith(("L#", "H#"))] == \
        [i for i in before if not i["pk"]["S"].startswith(("L#", "H#"))]
    # Nor through the configuration written whole: the same rights as the route.
    role = api.role(org, "no-defaults", [{"target": t, "action": "all", "operation": "ADD"},
                                         {"target": t, "action": "update-default-requests", "operation": "REMOVE"}])
    token2, _ = api.key(org, [role.split(".", 1)[1]])
    doc = api.get(f"/v1/{t}.x509/x509-service-api/configuration/view").json()
    planted = {**doc, "config": {**doc["config"], "defaultRequests": {"issue-document-signer": stored}}}
    assert_error(api.put(f"/v1/{t}.x509/x509-service-api/configuration/update", json=planted, token=token2), 403,
                 contains="update-default-requests")
    assert_error(api.post(f"/v1/{t}.x509b/resource-api/services/create", token=token2, json={
        "type": "x509-service", "config": {"defaultRequests": {"issue-document-signer": stored}}}), 403,
                 contains="update-default-requests")
    # A default never names the key a certificate is issued for.
    assert_error(api.put(f"{base}/issue-document-signer", json={"dsKeyDescriptor": kms_key(t, "ds")}), 400,
                 contains="dsKeyDescriptor")
    # Stored: shown in the configuration, and each issuance sends only what is its own.
    r = api.put(f"{base}/issue-document-signer", json=stored)
    assert r.status_code == 200 and r.json()["operation"] == "issue-document-signer", r.text
    view = api.get(f"/v1/{t}.x509/x509-service-api/configuration/view").json()
    assert view["config"]["defaultRequests"]["issue-document-signer"] == stored
    own = {"certificateData": {"commonName": "DS from defaults"}, "dsKeyDescriptor": kms_key(t, "ds")}
    r = api.post(f"/v1/{t}.x509/x509-service-api/iso/document-signers", json=own)
    assert r.status_code == 201, r.text
    # The call's values win.
    r = api.post(f"/v1/{t}.x509/x509-service-api/iso/document-signers",
                 json={**own, "certificateData": {"commonName": "DS 2", "stateOrProvinceName": "US-NY"}})
    assert_error(r, 400, contains="stateOrProvinceName")
    # Removed: the call must carry everything again.
    assert api.delete(f"{base}/issue-document-signer").status_code == 204
    assert_error(api.post(f"/v1/{t}.x509/x509-service-api/iso/document-signers", json=own), 400, contains="missing field")
    # A kms service's key generation default is its documented defaultKeyGenerationRequests.
    r = api.put(f"/v1/{t}.kms/kms-service-api/default-requests/generate-key", json={"keyType": "secp521r1"})
    assert r.status_code == 200, r.text
    assert api.get(f"/v1/{t}.kms/kms-service-api/configuration/view").json()["defaultKeyGenerationRequests"] == \
        {"keyType": "secp521r1"}
    r = api.post(f"/v1/{t}.kms.p521/kms-service-api/keys/generate", json={})
    assert r.status_code == 201 and r.json()["keyType"] == "secp521r1", r.text

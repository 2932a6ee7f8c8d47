"""The VICAL service (walt.id VICAL Service; ISO/IEC 18013-5 Annex C): service creation with the
walt.id body, publish with the walt.id documentation's request, the public registry routes, and
the published VICAL checked with code that is not ours (cbor2, cryptography).

Requests quoted from https://docs.walt.id/enterprise-stack/services/vical-service/setup and
.../publish-and-resolve and .../default-requests."""
import base64

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from conftest import assert_error, table_items
from invariants import violations

DOC_PUBLISH = {"vicalProvider": "Example mDL Trust Provider", "versionId": "production-2026-03-23",
               "issuanceDate": "2026-03-23T10:15:30Z", "nextUpdate": "2026-04-23T10:15:30Z"}
META = {"docType": ["org.iso.18013.5.1.mDL"], "certificateProfile": ["org.iso.18013.5.1.iaca"]}


def kms_key(t, name):
    return {"type": "kms-hosted-key-descriptor", "keyIdPath": f"{t}.kms1.{name}"}


def setup_world(api):
    """test-like tree: kms1 (keys iaca, iaca2, vical-signing-key), x509-store-1, an x509-service
    issuing into it: two IACAs with VICAL metadata, one without, a VICAL signer under the first."""
    org = api.org()
    t = api.tenant(f"{org}.tenant1")
    api.service(f"{t}.kms1", "kms")
    api.service(f"{t}.x509-store-1", "x509-store")
    api.service(f"{t}.x509", "x509-service", dependencies=[f"{t}.kms1", f"{t}.x509-store-1"])
    for k in ("iaca", "iaca2", "plain", "vical-signing-key"):
        r = api.post(f"/v1/{t}.kms1.{k}/kms-service-api/keys/generate", json={"keyType": "secp256r1"})
        assert r.status_code == 201, r.text
    for k, stored, state, meta in (("iaca", "vical-root", "US-CA", META), ("iaca2", "iaca-ny", "US-NY", META),
                                   ("plain", "iaca-plain", "US-TX", None)):
        body = {"storedCertificateId": stored,
                "certificateData": {"country": "US", "commonName": f"IACA {state}", "stateOrProvinceName": state,
                                    "issuerAlternativeNameConf": {"uri": "https://dmv.example.gov"}},
                "iacaKeyDesc": kms_key(t, k)}
        if meta:
            body["vicalEntryComplementaryMetadata"] = meta
        r = api.post(f"/v1/{t}.x509/x509-service-api/iso/iacas", json=body)
        assert r.status_code == 201, r.text
    r = api.post(f"/v1/{t}.x509/x509-service-api/iso/vical-signers", json={
        "storedCertificateId": "vical-signer",
        "iacaSigner": {"type": "stored-certificate-descriptor", "storedCertificatePath": f"{t}.x509-store-1.vical-root",
                       "iacaKeyDesc": kms_key(t, "iaca")},
        "certificateData": {"country": "US", "commonName": "Example VICAL signer"},
        "signerKeyDescriptor": kms_key(t, "vical-signing-key")})
    assert r.status_code == 201, r.text
    return org, t


def create_body(t):
    """The walt.id setup page's body (with the quickstart's _id and dependencies)."""
    return {"_id": f"{t}.vical-service", "type": "vical-service",
            "signingKeyId": f"{t}.kms1.vical-signing-key",
            "signerCertificateId": f"{t}.x509-store-1.vical-signer",
            "signerCertificateChainIds": [f"{t}.x509-store-1.vical-root"],
            "dependencies": [f"{t}.kms1", f"{t}.x509-store-1"]}


@pytest.fixture(scope="module")
def world(api):
    org, t = setup_world(api)
    r = api.post(f"/v1/{t}.vical-service/resource-api/services/create", json=create_body(t))
    assert r.status_code == 201, r.text
    return org, t


def der_of(pem):
    return x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)


def verify_cose_sign1(raw):
    """Decodes the VICAL (cbor2) and checks its COSE_Sign1 signature (cryptography) with the
    first x5chain certificate; returns (payload bytes, payload, x5chain certificates)."""
    sign1 = cbor2.loads(raw)
    if isinstance(sign1, cbor2.CBORTag):
        assert sign1.tag == 18
        sign1 = sign1.value
    protected, unprotected, payload, signature = sign1
    assert cbor2.loads(protected) == {1: -7}, "ES256 in the protected header"
    chain = unprotected[33]
    chain = [chain] if isinstance(chain, bytes) else chain
    certs = [x509.load_der_x509_certificate(c) for c in chain]
    to_be_signed = cbor2.dumps(["Signature1", protected, b"", payload])
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    certs[0].public_key().verify(utils.encode_dss_signature(r, s), to_be_signed, ec.ECDSA(hashes.SHA256()))
    return payload, cbor2.loads(payload), certs


def test_a_published_vical_verifies_with_independent_code(api, world):
    org, t = world
    svc = f"{t}.vical-service"
    r = api.post(f"/v1/{svc}/vical-service-api/publish", json=DOC_PUBLISH)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["versionIdPath"] == f"{svc}.versions.production-2026-03-23"
    assert (out["version"], out["entryCount"], out["vicalProvider"]) == ("1.0", 2, "Example mDL Trust Provider")
    assert (out["date"], out["nextUpdate"]) == ("2026-03-23T10:15:30Z", "2026-04-23T10:15:30Z")
    first_id = out["vicalIssueId"]

    # Public: no token. Three formats, the same bytes.
    hexed = api.get(f"/v1/{svc}/vical-service-api/latest", token=None)
    assert hexed.status_code == 200, hexed.text
    assert hexed.headers["content-type"].startswith("text/plain")
    b64 = api.get(f"/v1/{svc}/vical-service-api/latest?format=base64", token=None)
    raw = api.get(f"/v1/{svc}/vical-service-api/latest?format=cbor", token=None)
    assert raw.headers["content-type"] == "application/cbor"
    assert bytes.fromhex(hexed.text) == base64.b64decode(b64.text) == raw.content
    # nextUpdate is past: nothing may be cached.
    assert raw.headers["cache-control"] == "no-cache"
    again = api.get(f"/v1/{svc}/vical-service-api/latest?format=cbor", token=None,
                    headers={"If-None-Match": raw.headers["etag"]})
    assert again.status_code == 304

    payload, vical, certs = verify_cose_sign1(raw.content)
    signer = api.get(f"/v1/{t}.x509-store-1.vical-signer/x509-store-api/certificates").json()["data"]["pem"]
    root = api.get(f"/v1/{t}.x509-store-1.vical-root/x509-store-api/certificates").json()["data"]["pem"]
    assert [c.public_bytes(serialization.Encoding.DER) for c in certs] == [der_of(signer), der_of(root)], \
        "x5chain: the signer certificate, then the chain"
    eku = certs[0].extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.ObjectIdentifier("1.0.18013.5.1.8") in eku
    ku = certs[0].extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.content_commitment and not ku.value.digital_signature, "Annex C: nonRepudiation"
    certs[0].verify_directly_issued_by(certs[1])
    assert (vical["version"], vical["vicalProvider"], vical["vicalIssueID"]) == ("1.0", DOC_PUBLISH["vicalProvider"], first_id)
    assert b"\xc0\x742026-03-23T10:15:30Z" in payload, "date is a tag-0 tdate"
    assert b"\xc0\x742026-04-23T10:15:30Z" in payload, "nextUpdate is a tag-0 tdate"

    # The entries are exactly the store's vical-entry records (the plain IACA and the signer are base).
    records = api.get(f"/v1/{t}.x509-store-1/x509-store-api/certificates").json()
    entries = sorted(der_of(r["data"]["pem"]) for r in records if r["data"]["type"] == "vical-entry")
    assert len(entries) == 2
    assert sorted(i["certificate"] for i in vical["certificateInfos"]) == entries
    for info in vical["certificateInfos"]:
        cert = x509.load_der_x509_certificate(info["certificate"])
        assert info["ski"] == cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        assert info["serialNumber"] == cert.serial_number
        assert info["docType"] == META["docType"] and info["certificateProfile"] == META["certificateProfile"]
        assert info["issuingCountry"] == "US"
        assert info["notAfter"] == cert.not_valid_after_utc

    # A second publish: a new id, larger; both versions stay retrievable by their paths.
    r = api.post(f"/v1/{svc}/vical-service-api/publish", json={"vicalProvider": "Example mDL Trust Provider"})
    assert r.status_code == 201, r.text
    second = r.json()
    assert second["vicalIssueId"] > first_id
    ids = api.get(f"/v1/{svc}/vical-service-api/versions/ids")
    assert ids.status_code == 200, ids.text
    assert ids.json() == [out["versionIdPath"], second["versionIdPath"]]
    old = api.get(f"/v1/{out['versionIdPath']}/vical-service-api/latest?format=cbor", token=None)
    assert old.content == raw.content
    latest = api.get(f"/v1/{svc}/vical-service-api/latest?format=cbor", token=None)
    assert cbor2.loads(verify_cose_sign1(latest.content)[0])["vicalIssueID"] == second["vicalIssueId"]
    assert_error(api.post(f"/v1/{svc}/vical-service-api/publish", json=DOC_PUBLISH), 409, "DuplicateTarget")


def test_only_the_registry_routes_are_public(api, world, ddb):
    org, t = world
    svc = f"{t}.vical-service"
    role = api.role(org, "vical-viewer", [{"target": t, "action": "vical-version-list", "operation": "ADD"}])
    token, _ = api.key(org, [role.split(".", 1)[1]])
    before = table_items(ddb)
    assert_error(api.post(f"/v1/{svc}/vical-service-api/publish", json=DOC_PUBLISH, token=None), 401)
    assert_error(api.get(f"/v1/{svc}/vical-service-api/versions/ids", token=None), 401)
    assert_error(api.put(f"/v1/{svc}/vical-service-api/default-requests/publish-vical",
                         json={"vicalProvider": "x"}, token=None), 401)
    # A key that may view but not publish is refused and publishes nothing.
    assert_error(api.post(f"/v1/{svc}/vical-service-api/publish", json={"vicalProvider": "x"}, token=token), 403)
    assert api.get(f"/v1/{svc}/vical-service-api/versions/ids", token=token).status_code == 200
    assert table_items(ddb) == before, "refusals wrote nothing but their audit entries"
    # Nothing published, or not a vical-service: the same 404 error JSON.
    for target in (f"{t}.x509-store-1", f"{t}.nothing", f"{t}.vical-service.versions.nope", f"{org}.other.x"):
        assert_error(api.get(f"/v1/{target}/vical-service-api/latest", token=None), 404, "NotFoundException")
    assert_error(api.get(f"/v1/{svc}/vical-service-api/latest?format=xml", token=None), 400)


def test_service_configuration_errors_name_the_field(api):
    org, t = setup_world(api)
    base = create_body(t)
    base.pop("_id")
    cases = [
        ({"signingKeyId": None}, "signingKeyId"),
        ({"signingKeyId": f"{t}.kms1.iaca2"}, "signerCertificateId: the certificate does not certify the signing key"),
        ({"signerCertificateId": f"{t}.x509-store-1.iaca-ny", "signingKeyId": f"{t}.kms1.iaca2",
          "signerCertificateChainIds": []}, "1.0.18013.5.1.8"),
        ({"signerCertificateChainIds": []}, "signerCertificateChainIds: the signer certificate is not self-signed"),
        ({"signerCertificateChainIds": [f"{t}.x509-store-1.iaca-ny"]}, "signerCertificateChainIds[0]"),
        ({"signerCertificateId": f"{t}.x509-store-1.missing"}, "signerCertificateId: no stored certificate"),
        ({"dependencies": [f"{t}.x509-store-1"]}, f"signingKeyId: the kms service {t}.kms1 is not an attached"),
        ({"dependencies": [f"{t}.kms1"]}, "signerCertificateId: the store"),
        ({"_id": f"{t}.elsewhere"}, "_id must equal the target"),
    ]
    for n, (change, message) in enumerate(cases):
        body = {**base, **change}
        body = {k: v for k, v in body.items() if v is not None}
        r = api.post(f"/v1/{t}.bad{n}/resource-api/services/create", json=body)
        assert_error(r, 400, contains=message)
        assert api.get(f"/v1/{t}.bad{n}/vical-service-api/configuration/view").status_code == 404
    # The same checks on a configuration update.
    r = api.post(f"/v1/{t}.vs/resource-api/services/create", json=base)
    assert r.status_code == 201, r.text
    view = api.get(f"/v1/{t}.vs/vical-service-api/configuration/view").json()
    view["config"]["signerCertificateChainIds"] = []
    assert_error(api.put(f"/v1/{t}.vs/vical-service-api/configuration/update", json=view), 400,
                 contains="signerCertificateChainIds")
    # The signing key's kms service stays attached while the service signs with it.
    assert_error(api.post(f"/v1/{t}.vs/vical-service-api/dependencies/remove", json={"dependency": f"{t}.kms1"}), 409)
    # A published version is removed only with its service.
    r = api.post(f"/v1/{t}.vs/vical-service-api/publish", json={"vicalProvider": "P", "versionId": "v1"})
    assert r.status_code == 201, r.text
    assert_error(api.request("DELETE", f"/v1/{t}.vs.v1/resource-api/resources/delete"), 409)


def test_default_requests_and_issue_ids_across_recreation(api, ddb):
    org, t = setup_world(api)
    svc = f"{t}.vical-service"
    body = create_body(t)
    assert api.post(f"/v1/{svc}/resource-api/services/create", json=body).status_code == 201
    path = f"/v1/{svc}/vical-service-api/default-requests/publish-vical"
    assert_error(api.post(f"/v1/{svc}/vical-service-api/publish", json={}), 400, contains="vicalProvider")
    # update-default-requests alone is not enough: storing what publish uses needs publishing's right.
    role = api.role(org, "defaults-only", [{"target": t, "action": "update-default-requests", "operation": "ADD"}])
    token, _ = api.key(org, [role.split(".", 1)[1]])
    assert_error(api.put(path, json={"vicalProvider": "Example mDL Trust Provider"}, token=token), 403)
    assert_error(api.put(path, json={"vicalProvider": 7}), 400)
    r = api.put(path, json={"vicalProvider": "Example mDL Trust Provider"})
    assert r.status_code == 200, r.text
    r = api.post(f"/v1/{svc}/vical-service-api/publish", json={})
    assert r.status_code == 201, r.text
    assert r.json()["vicalProvider"] == "Example mDL Trust Provider"
    first = r.json()["vicalIssueId"]
    r = api.post(f"/v1/{svc}/vical-service-api/publish", json={"vicalProvider": "Call wins"})
    assert r.json()["vicalProvider"] == "Call wins"
    assert api.delete(path).status_code == 204
    assert_error(api.delete(path), 404)
    assert_error(api.post(f"/v1/{svc}/vical-service-api/publish", json={}), 400, contains="vicalProvider")
    # Deleted with its versions and created again at the same path: ids go on, never repeat.
    r = api.request("DELETE", f"/v1/{svc}/resource-api/resources/delete-recursive")
    assert r.status_code == 202, r.text
    assert_error(api.get(f"/v1/{svc}/vical-service-api/latest", token=None), 404)
    assert api.post(f"/v1/{svc}/resource-api/services/create", json=body).status_code == 201
    r = api.post(f"/v1/{svc}/vical-service-api/publish", json={"vicalProvider": "P"})
    assert r.status_code == 201, r.text
    assert r.json()["vicalIssueId"] > first + 1
    assert violations(ddb) == []


def test_a_registry_receives_every_version_and_keeps_what_it_cannot_verify(api, stack):
    """config.registry (the status registry's shapes and rules): each published version goes to
    vicals/<service>/latest.cbor and vicals/<service>/versions/<id>.cbor through the publishing
    engine; an object there that does not verify with the service's key is never overwritten."""
    import boto3
    s3 = boto3.client("s3", endpoint_url=stack.moto_url, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    org, t = setup_world(api)
    svc = f"{t}.vical-service"
    secret = "vical-registry-secret"
    registry = {"type": "aws", "bucketName": "status-lists", "region": "us-east-1",
                "endpointUrl": stack.moto_url, "accessKeyId": "test", "secretKey": secret}
    # The registry rules hold here too: a link-local endpoint is refused and nothing is created.
    hostile = {**create_body(t), "config": {"registry": {**registry, "endpointUrl": "http://169.254.169.254"}}}
    assert_error(api.post(f"/v1/{svc}/resource-api/services/create", json=hostile), 400, contains="endpointUrl")
    r = api.post(f"/v1/{svc}/resource-api/services/create", json={**create_body(t), "config": {"registry": registry}})
    assert r.status_code == 201, r.text
    view = api.get(f"/v1/{svc}/vical-service-api/configuration/view")
    assert view.status_code == 200 and secret not in view.text, view.text
    assert view.json()["config"]["registry"]["secretKey"] == "***", view.text

    latest_key = f"vicals/{svc}/latest.cbor"
    r = api.post(f"/v1/{svc}/vical-service-api/publish", json={**DOC_PUBLISH, "nextUpdate": "2099-01-01T00:00:00Z"})
    assert r.status_code == 201, r.text
    assert r.json()["registry"] == {"object": latest_key, "published": True}, r.text
    served = api.get(f"/v1/{svc}/vical-service-api/latest?format=cbor", token=None).content
    got = s3.get_object(Bucket="status-lists", Key=latest_key)
    assert got["Body"].read() == served and got["ContentType"] == "application/cbor"
    version = s3.get_object(Bucket="status-lists", Key=f"vicals/{svc}/versions/{DOC_PUBLISH['versionId']}.cbor")
    assert version["Body"].read() == served
    verify_cose_sign1(served)

    # Where VICALs are published is the registry right's, as for status lists and CRLs: a caller
    # who may update the configuration but not the registry cannot move (or drop) it.
    role = api.role(org, "no-registry", [{"target": t, "action": "all", "operation": "ADD"},
                                         {"target": t, "action": "registry-update", "operation": "REMOVE"}])
    token, _ = api.key(org, [role.split(".", 1)[1]])
    doc = api.get(f"/v1/{svc}/vical-service-api/configuration/view").json()
    moved = {**doc, "config": {**doc["config"], "registry": {**registry, "bucketName": "elsewhere"}}}
    assert_error(api.put(f"/v1/{svc}/vical-service-api/configuration/update", json=moved, token=token), 403,
                 contains="registry-update")
    dropped = {**doc, "config": {k: v for k, v in doc["config"].items() if k != "registry"}}
    assert_error(api.put(f"/v1/{svc}/vical-service-api/configuration/update", json=dropped, token=token), 403,
                 contains="registry-update")
    assert api.get(f"/v1/{svc}/vical-service-api/configuration/view").json()["config"]["registry"]["bucketName"] \
        == "status-lists"

    # Someone else's object at the latest key: left as it is, the version still kept and served.
    s3.put_object(Bucket="status-lists", Key=latest_key, Body=b"not a VICAL")
    r = api.post(f"/v1/{svc}/vical-service-api/publish", json={"vicalProvider": "P", "versionId": "second"})
    assert r.status_code == 201, r.text
    copy = r.json()["registry"]
    assert copy["published"] is False and "cannot be verified" in copy["message"], copy
    assert s3.get_object(Bucket="status-lists", Key=latest_key)["Body"].read() == b"not a VICAL"
    assert api.get(f"/v1/{svc}.versions.second/vical-service-api/latest?format=cbor", token=None).status_code == 200

"""Resources named in a request body, tried by outsiders: generated from infra/openapi.yaml, where
every request field that names a resource carries `x-names` (what it names and the right it
needs). A field declared there is covered here without another line: the test finds it in the
spec and aims it, in a valid request, at resources of another organization, of a sibling tenant,
and of a subtree where the caller's role REMOVEs the right, each existing and missing. Every such
request is refused, the answer does not depend on whether the resource exists, and the table does
not change. (A new operation whose body names a resource needs one valid request in `bases`.)"""
import itertools

import pytest
import yaml

from conftest import ROOT, table_items

SPEC = yaml.safe_load((ROOT / "infra" / "openapi.yaml").read_text())
REF = "\x00REF\x00"  # where a base body names the resource under test


def resolve(schema):
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = {**SPEC["components"]["schemas"][name], **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def named_fields(schema, path=()):
    """(path, x-names) of every field under `schema` that names a resource; `[]` marks array items."""
    schema = resolve(schema)
    if "x-names" in schema:
        yield path, schema["x-names"]
    for alt in schema.get("oneOf", []) + schema.get("anyOf", []) + schema.get("allOf", []):
        yield from named_fields(alt, path)
    for name, sub in (schema.get("properties") or {}).items():
        yield from named_fields(sub, path + (name,))
    if isinstance(schema.get("items"), dict):
        yield from named_fields(schema["items"], path + ("[]",))


def operations():
    """{function: [(path, x-names)]} for every operation whose body names resources."""
    out = {}
    for ops in SPEC["paths"].values():
        for op in ops.values():
            if not isinstance(op, dict) or "requestBody" not in op:
                continue
            schema = op["requestBody"]["content"]["application/json"]["schema"]
            fields = sorted(set((p, tuple(sorted(n.items()))) for p, n in named_fields(schema)))
            if fields:
                out[op["x-function"]] = [(p, dict(n)) for p, n in fields]
    return out


def place(body, path, value):
    """`body` with the field at `path` set to `value` (arrays become one-item arrays), or None
    when this base body has no such field."""
    if not path:
        return value if body == REF else None
    if not isinstance(body, dict) or path[0] not in body:
        return None
    head, rest = path[0], path[1:]
    if rest and rest[0] == "[]":
        items = body[head]
        if not isinstance(items, list) or not items:
            return None
        inner = place(items[0], rest[1:], value)
        return None if inner is None else {**body, head: [inner]}
    inner = place(body[head], rest, value)
    return None if inner is None else {**body, head: inner}


def test_the_spec_declares_the_fields_that_name_resources():
    found = {fn: sorted(".".join(p) for p, _ in fs) for fn, fs in operations().items()}
    assert found["x509-document-signers-issue"] == [
        "dsKeyDescriptor.keyIdPath", "iacaSigner.iacaKeyDesc.keyIdPath", "iacaSigner.storedCertificatePath"]
    assert found["status-credential-create"] == ["kid", "x5ChainFrom"]
    assert found["x509-status-list-signers-issue"] == [
        "iacaSigner.iacaKeyDesc.keyIdPath", "iacaSigner.storedCertificatePath", "signerKeyDescriptor.keyIdPath"]
    assert found["x509-certificates-revoke"] == ["storedCertificatePath"]
    assert found["roles-create"] == ["permissions.[].target"]
    assert found["api-keys-create"] == ["roles.[]"]
    assert found["keys-import-aws"] == ["keyArn"]
    assert found["services-create"] == [
        "dependencies.[]", "signerCertificateChainIds.[]", "signerCertificateId", "signingKeyId"]
    assert found["x509-vical-signers-issue"] == found["x509-status-list-signers-issue"]
    assert {"services-create", "dependencies-add", "configuration-update", "x509-iacas-issue"} <= set(found)


@pytest.fixture(scope="module")
def world(api):
    """Org A (tenant t1 with a sub-tenant `sub`, tenant t2) and org B, each holding a kms service
    with key k, a store with certificate c and an x509 service; a caller holding `all` on A.t1,
    role and key creation on A, and REMOVEs of the body rights on A.t1.sub."""
    a, b = api.org(), api.org()
    places = {"own": f"{a}.t1", "other organization": f"{b}.t1", "sibling tenant": f"{a}.t2",
              "REMOVEd subtree": f"{a}.t1.sub"}
    for t in places.values():
        api.tenant(t)
        api.service(f"{t}.kms", "kms")
        api.service(f"{t}.store", "x509-store")
        api.service(f"{t}.x509", "x509-service", dependencies=[f"{t}.kms", f"{t}.store"])
        r = api.post(f"/v1/{t}.kms.k/kms-service-api/keys/generate", json={"keyType": "secp256r1"})
        assert r.status_code == 201, r.text
    api.service(f"{a}.t1.st", "credential-status", dependencies=[f"{a}.t1.kms"],
                config={"registry": {"type": "aws", "bucketName": "status-lists", "region": "us-east-1"}})
    own = places["own"]
    iaca = api.post(f"/v1/{own}.x509/x509-service-api/iso/iacas", json={
        "certificateData": {"country": "US", "commonName": "Matrix IACA", "issuerAlternativeNameConf": {"uri": "https://x.example"}},
        "iacaKeyDesc": {"type": "kms-hosted-key-descriptor", "keyIdPath": f"{own}.kms.k"}})
    assert iaca.status_code == 201, iaca.text
    pem = iaca.json()["certificatePEM"]
    arns = {}
    for name, t in places.items():
        r = api.post(f"/v1/{t}.store.c/x509-store-api/certificates", json={"type": "base", "certificatePem": pem})
        assert r.status_code == 201, r.text
        arns[name] = api.get(f"/v1/{t}.kms.k/kms-service-api/keys/view").json()["kmsKeyArn"]
    api.role(a, "t2admin", [{"target": f"{a}.t2", "action": "all", "operation": "ADD"}])
    api.role(a, "assignable", [{"target": f"{a}.t1", "action": "resource-list", "operation": "ADD"}])
    keys = {"other organization": api.key(b, [])[1], "sibling tenant": api.key(a, [])[1],
            "REMOVEd subtree": api.key(a, [])[1]}
    api.role(a, "subadmin", [{"target": f"{a}.t1.sub", "action": "all", "operation": "ADD"}])
    sub = places["REMOVEd subtree"]
    caller = api.role(a, "caller", [
        {"target": f"{a}.t1", "action": "all", "operation": "ADD"},
        {"target": a, "action": "role-create", "operation": "ADD"},
        {"target": a, "action": "apikey-create", "operation": "ADD"},
        {"target": f"{a}.assignable", "action": "apikey-role-assign", "operation": "ADD"},
        *[{"target": sub, "action": act, "operation": "REMOVE"} for act in
          ("service-dependency-add", "kms-key-use", "x509-store-certificate-view", "role-create", "resource-list")]])
    token, _ = api.key(a, [caller.split(".", 1)[1]])
    return a, b, places, arns, pem, token, keys


def references(kind, where, a, b, places, arns, keys):
    """(existing, missing) resource names of `kind` at outsider place `where`."""
    t = places[where]
    ghost_arn = arns[where].rsplit("/", 1)[0] + "/00000000-0000-4000-8000-000000000000"
    role = {"other organization": (f"{b}.admin", f"{b}.ghostrole"), "sibling tenant": (f"{a}.t2admin", f"{a}.ghostrole"),
            "REMOVEd subtree": (f"{a}.subadmin", f"{a}.ghostrole")}[where]
    return {"service": (f"{t}.kms", f"{t}.ghost"), "key": (f"{t}.kms.k", f"{t}.kms.ghost"),
            "certificate": (f"{t}.store.c", f"{t}.store.ghost"), "target": (t, f"{t}.ghost"),
            "role": role, "kms-key-arn": (arns[where], ghost_arn),
            "apikey": (keys[where], keys[where].split(".")[0] + ".ghostkey")}[kind]


def bases(api, fn, own, pem, n):
    """(method, path, [base bodies]) of a valid request by the caller; REF marks the resource."""
    key = lambda ref: {"type": "kms-hosted-key-descriptor", "keyIdPath": ref}  # noqa: E731
    org = own.split(".")[0]
    ds_data = {"country": "US", "commonName": "DS", "crlDistributionPointUri": "https://crl.example/x.crl"}
    if fn == "services-create":
        vical = {"type": "vical-service", "dependencies": [f"{own}.kms", f"{own}.store"],
                 "signingKeyId": f"{own}.kms.k", "signerCertificateId": f"{own}.store.c"}
        return "POST", f"/v1/{own}.new{n}/resource-api/services/create", [
            {"type": "x509-service", "dependencies": [REF]}, {**vical, "signingKeyId": REF},
            {**vical, "signerCertificateId": REF}, {**vical, "signerCertificateChainIds": [REF]}]
    if fn in ("dependencies-add", "dependencies-remove"):
        verb = fn.split("-")[1]
        return "POST", f"/v1/{own}.x509/x509-service-api/dependencies/{verb}", [REF, {"dependency": REF}]
    if fn == "configuration-update":
        doc = api.get(f"/v1/{own}.x509/x509-service-api/configuration/view").json()
        return "PUT", f"/v1/{own}.x509/x509-service-api/configuration/update", [{**doc, "dependencies": [REF]}]
    if fn == "roles-create":
        return "POST", f"/v1/{org}.role{n}/roles-api/roles/create", [
            {"name": "r", "permissions": [{"target": REF, "action": "all", "operation": "ADD"}]}]
    if fn in ("roles-apikey-assign", "roles-apikey-unassign"):
        verb = fn.rsplit("-", 1)[1]
        return "POST", f"/v1/{org}.assignable/roles-api/roles/apikey/{verb}", [{"apikey": REF}]
    if fn == "api-keys-create":
        return "POST", f"/v1/{org}.key{n}/apikeys-api/api-keys/create", [{"name": "k", "roles": [REF]}]
    if fn == "keys-import-aws":
        return "POST", f"/v1/{own}.kms.new{n}/kms-service-api/keys/import/aws", [{"keyArn": REF}]
    if fn == "x509-iacas-issue":
        return "POST", f"/v1/{own}.x509/x509-service-api/iso/iacas", [{
            "certificateData": {"country": "US", "commonName": "I", "issuerAlternativeNameConf": {"uri": "https://x.example"}},
            "iacaKeyDesc": key(REF)}]
    if fn == "x509-document-signers-issue":
        return "POST", f"/v1/{own}.x509/x509-service-api/iso/document-signers", [
            {"iacaSigner": {"type": "iaca-pem-cert-descriptor", "iacaPemEncodedCertificate": pem, "iacaKeyDesc": key(REF)},
             "certificateData": ds_data, "dsKeyDescriptor": key(f"{own}.kms.k")},
            {"iacaSigner": {"type": "iaca-pem-cert-descriptor", "iacaPemEncodedCertificate": pem,
                            "iacaKeyDesc": key(f"{own}.kms.k")},
             "certificateData": ds_data, "dsKeyDescriptor": key(REF)},
            {"iacaSigner": {"type": "stored-certificate-descriptor", "storedCertificatePath": REF,
                            "iacaKeyDesc": key(f"{own}.kms.k")},
             "certificateData": ds_data, "dsKeyDescriptor": key(f"{own}.kms.k")}]
    if fn == "x509-status-list-signers-issue":
        sls_data = {"country": "US", "commonName": "Status signer"}
        return "POST", f"/v1/{own}.x509/x509-service-api/iso/status-list-signers", [
            {"iacaSigner": {"type": "iaca-pem-cert-descriptor", "iacaPemEncodedCertificate": pem, "iacaKeyDesc": key(REF)},
             "certificateData": sls_data, "signerKeyDescriptor": key(f"{own}.kms.k")},
            {"iacaSigner": {"type": "iaca-pem-cert-descriptor", "iacaPemEncodedCertificate": pem,
                            "iacaKeyDesc": key(f"{own}.kms.k")},
             "certificateData": sls_data, "signerKeyDescriptor": key(REF)},
            {"iacaSigner": {"type": "stored-certificate-descriptor", "storedCertificatePath": REF,
                            "iacaKeyDesc": key(f"{own}.kms.k")},
             "certificateData": sls_data, "signerKeyDescriptor": key(f"{own}.kms.k")}]
    if fn == "x509-vical-signers-issue":
        _, _, bodies = bases(api, "x509-status-list-signers-issue", own, pem, n)
        return "POST", f"/v1/{own}.x509/x509-service-api/iso/vical-signers", bodies
    if fn == "x509-csrs":
        return "POST", f"/v1/{own}.x509/x509-service-api/csrs", [
            {"type": "generic", "subjectKeyDescriptor": key(REF), "subjectName": {"commonName": "Leaf"}}]
    if fn == "x509-certificates-revoke":
        return "POST", f"/v1/{own}.x509/x509-service-api/certificates/revoke", [
            {"storedCertificatePath": REF, "reason": "superseded"}]
    if fn == "status-credential-create":
        spec = {"type": "TokenStatusList", "format": "JWT", "size": 1024}
        return "POST", f"/v1/{own}.st.cfg{n}/credential-status-service-api/status-credential/create", [
            {"kid": REF, "config": spec}, {"kid": f"{own}.kms.k", "x5ChainFrom": REF, "config": spec}]
    raise AssertionError(f"{fn}: its body names a resource (infra/openapi.yaml) but this test has no valid request for it")


@pytest.mark.parametrize("where", ["other organization", "sibling tenant", "REMOVEd subtree"])
def test_resources_named_in_a_body_are_refused_to_outsiders_alike(api, world, ddb, where):
    a, b, places, arns, pem, token, keys = world
    own = places["own"]
    before = table_items(ddb)
    checked, counter = 0, itertools.count()
    for fn, fields in operations().items():
        method, path, bodies = bases(api, fn, own, pem, next(counter))
        for field, names in fields:
            placed = False
            for base in bodies:
                real, ghost = references(names["kind"], where, a, b, places, arns, keys)
                seen_body, ghost_body = place(base, field, real), place(base, field, ghost)
                if seen_body is None:
                    continue
                placed = True
                seen = api.request(method, path, token=token, json=seen_body)
                unseen = api.request(method, path, token=token, json=ghost_body)
                what = (fn, ".".join(field), where)
                # Removing an edge that is not there is a 404 or 409 whether or not its other end
                # exists: refused, and the same answer either way, like every case here.
                assert seen.status_code in (400, 403, 404, 409), (what, seen.status_code, seen.text)
                assert unseen.status_code == seen.status_code, (what, seen.text, unseen.text)
                assert unseen.json()["message"].replace(ghost, real) == seen.json()["message"], (what, seen.text, unseen.text)
                checked += 1
            assert placed, f"{fn}: no base body has the field {'.'.join(field)}"
    assert checked >= 12
    assert table_items(ddb) == before, "a refused request changed nothing"


def test_the_caller_can_use_its_own_resources(api, world):
    """The matrix is not vacuous: the same requests aimed at the caller's own resources work."""
    a, _, places, _, pem, token, _ = world
    own = places["own"]
    r = api.post(f"/v1/{own}.x509/x509-service-api/iso/document-signers", token=token, json={
        "iacaSigner": {"type": "stored-certificate-descriptor", "storedCertificatePath": f"{own}.store.c",
                       "iacaKeyDesc": {"type": "kms-hosted-key-descriptor", "keyIdPath": f"{own}.kms.k"}},
        "certificateData": {"country": "US", "commonName": "DS", "crlDistributionPointUri": "https://crl.example/x.crl"},
        "dsKeyDescriptor": {"type": "kms-hosted-key-descriptor", "keyIdPath": f"{own}.kms.k"}})
    assert r.status_code == 201, r.text
    r = api.post(f"/v1/{own}.st.mine/credential-status-service-api/status-credential/create", token=token,
                 json={"kid": f"{own}.kms.k", "config": {"type": "TokenStatusList", "format": "JWT", "size": 1024}})
    assert r.status_code == 201, r.text
    r = api.post(f"/v1/{a}.helper/apikeys-api/api-keys/create", token=token, json={"name": "h", "roles": ["caller"]})
    assert r.status_code == 201, r.text

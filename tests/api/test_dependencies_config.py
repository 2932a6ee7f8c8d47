"""Service APIs shared by every service type: configuration and dependencies."""
from conftest import assert_error, table_items


def setup_tenant(api):
    org = api.org()
    t = api.tenant(f"{org}.t1")
    api.service(f"{t}.kms", "kms")
    api.service(f"{t}.store", "x509-store")
    api.service(f"{t}.store2", "x509-store")
    api.service(f"{t}.x509", "x509-service")
    return org, t


def test_dependency_body_forms(api):
    org, t = setup_tenant(api)
    base = f"/v1/{t}.x509/x509-service-api/dependencies"
    r = api.post(f"{base}/add", data=f"{t}.kms", headers={"Content-Type": "text/plain"})
    assert r.status_code == 201, r.text
    r = api.post(f"{base}/add", data=f'"{t}.store"', headers={"Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    r = api.post(f"{base}/add", json={"dependency": f"{t}.store2"})
    assert r.status_code == 201, r.text
    # Unquoted, under application/json, as the Enterprise API's dependency page sends it.
    r = api.post(f"{base}/remove", data=f"{t}.store2", headers={"Content-Type": "application/json"})
    assert r.status_code == 204, r.text
    r = api.post(f"{base}/add", data=f"{t}.store2", headers={"Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    assert api.get(f"{base}/list").json() == [f"{t}.kms", f"{t}.store", f"{t}.store2"]
    assert_error(api.post(f"{base}/add", json=f"{t}.store"), 409)
    r = api.post(f"{base}/remove", json=f"{t}.store")
    assert r.status_code == 204 and r.content == b""
    assert_error(api.post(f"{base}/remove", json=f"{t}.store"), 400, contains="not a dependency")
    assert api.get(f"{base}/list").json() == [f"{t}.kms", f"{t}.store2"]


def test_dependency_rules(api, ddb):
    org, t = setup_tenant(api)
    other = api.org()
    api.tenant(f"{other}.t1")
    api.service(f"{other}.t1.kms", "kms")
    api.service(f"{t}.status", "credential-status", config={"registry": {"type": "gcs", "bucketName": "lists"}})
    before = len(table_items(ddb))
    cases = [
        (f"/v1/{t}.store/x509-store-api/dependencies/add", f"{t}.kms", 400),          # store takes none
        (f"/v1/{t}.status/credential-status-service-api/dependencies/add", f"{t}.store", 400),
        (f"/v1/{t}.x509/x509-service-api/dependencies/add", f"{t}.status", 400),
        (f"/v1/{t}.x509/x509-service-api/dependencies/add", f"{other}.t1.kms", 400),   # other org
        (f"/v1/{t}.x509/x509-service-api/dependencies/add", f"{t}.nothing", 400),
        (f"/v1/{t}.x509/x509-service-api/dependencies/add", f"{t}.x509", 400),
        (f"/v1/{t}.x509/x509-service-api/dependencies/add", "bad target!", 400),
        (f"/v1/{t}.x509/kms-service-api/dependencies/add", f"{t}.kms", 400),           # api mismatch
        (f"/v1/{t}.x509/wallet-api/dependencies/add", f"{t}.kms", 400),                # unknown api
        (f"/v1/{t}.missing/x509-service-api/dependencies/add", f"{t}.kms", 404),
    ]
    for path, dep, status in cases:
        assert_error(api.post(path, json=dep), status)
    assert_error(api.post(f"/v1/{t}.x509/x509-service-api/dependencies/add", data=b"\x89PNG",
                          headers={"Content-Type": "image/png"}), 415)
    assert len(table_items(ddb)) == before
    r = api.post(f"/v1/{t}.status/credential-status-service-api/dependencies/add", json={"dependency": f"{t}.kms"})
    assert r.status_code == 201


def test_configuration_view_and_update(api):
    org, t = setup_tenant(api)
    secret = "SUPER-secret-key-value"
    api.service(f"{t}.status", "credential-status", dependencies=[f"{t}.kms"], config={"registry": {
        "type": "aws", "bucketName": "status-lists", "region": "eu-central-1", "accessKeyId": "AKIAEXAMPLE",
        "secretKey": secret}})
    path = f"/v1/{t}.status/credential-status-service-api/configuration"
    r = api.get(f"{path}/view")
    assert r.status_code == 200
    doc = r.json()
    assert secret not in r.text
    assert doc["config"]["registry"]["secretKey"] == "***"
    assert doc["dependencies"] == [f"{t}.kms"] and doc["version"] == 1 and doc["_id"] == f"{t}.status"
    assert secret not in api.get(f"/v1/{t}/resource-api/resources/list").text

    # Replace the config, echoing the redacted secret back: it keeps its value.
    doc["config"]["registry"]["bucketUrl"] = "https://cdn.example.com"
    r = api.put(f"{path}/update", json=doc)
    assert r.status_code == 200 and r.content == b"", r.text
    doc2 = api.get(f"{path}/view").json()
    assert doc2["config"]["registry"]["bucketUrl"] == "https://cdn.example.com" and doc2["version"] == 2
    assert doc2["config"]["registry"]["secretKey"] == "***"
    # Stale version, wrong id, type change, invalid registry, wrong api: refused, nothing changes.
    assert_error(api.put(f"{path}/update", json=doc), 409)
    assert_error(api.put(f"{path}/update", json={**doc2, "_id": f"{t}.other"}), 400)
    assert_error(api.put(f"{path}/update", json={**doc2, "type": "kms"}), 400)
    bad = {**doc2, "config": {"registry": {"type": "aws", "bucketName": "status-lists"}}}
    assert_error(api.put(f"{path}/update", json=bad), 400, contains="region")
    assert_error(api.put(f"/v1/{t}.status/kms-service-api/configuration/update", json=doc2), 400)
    assert_error(api.get(f"/v1/{t}/kms-service-api/configuration/view"), 400)
    assert_error(api.get(f"/v1/{t}.nope/kms-service-api/configuration/view"), 404)
    assert api.get(f"{path}/view").json()["version"] == 2

    # Plain services: the config is replaced as a whole.
    r = api.put(f"/v1/{t}.kms/kms-service-api/configuration/update", json={"config": {"note": "eu keys"}})
    assert r.status_code == 200
    assert api.get(f"/v1/{t}.kms/kms-service-api/configuration/view").json()["config"] == {"note": "eu keys"}
    # The Enterprise API's flat document, as its documentation sends it.
    flat = {"traversable": True, "_id": f"{t}.kms", "parent": t, "defaultKeyGenerationRequests": {}}
    r = api.put(f"/v1/{t}.kms/kms-service-api/configuration/update", json=flat)
    assert r.status_code == 200, r.text
    shown = api.get(f"/v1/{t}.kms/kms-service-api/configuration/view").json()
    assert shown["config"] == {"defaultKeyGenerationRequests": {}}, "traversable is the document's"
    assert shown["traversable"] is True and shown["defaultKeyGenerationRequests"] == {}
    # A stored default key generation request lies under keys/generate.
    shown["defaultKeyGenerationRequests"] = {"keyType": "secp384r1"}
    assert api.put(f"/v1/{t}.kms/kms-service-api/configuration/update", json=shown).status_code == 200
    r = api.post(f"/v1/{t}.kms.defaulted/kms-service-api/keys/generate", json={})
    assert r.status_code == 201 and r.json()["keyType"] == "secp384r1", r.text
    assert r.json()["key"] == {"type": "jwk", "jwk": r.json()["publicKey"]}
    shown = api.get(f"/v1/{t}.kms/kms-service-api/configuration/view").json()
    shown["defaultKeyGenerationRequests"] = {"keyType": "secp384r1", "d": "private"}
    assert_error(api.put(f"/v1/{t}.kms/kms-service-api/configuration/update", json=shown), 400,
                 contains="defaultKeyGenerationRequests")

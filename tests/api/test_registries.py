"""Registries are hostile input: no request goes where the deployment does not allow, no kept
secret follows a registry elsewhere, changing a registry is its own right, no redirect is
followed, and a registry that never answers stalls nobody else's refresh."""
import time
import uuid

import pytest

from conftest import SECRETS, assert_error
from test_status import AZURITE_KEY, allocate, invoke_refresh, make_registry, s3  # noqa: F401 (s3 is a fixture)


def status_tenant(api):
    org = api.org()
    t = api.tenant(f"{org}.t1")
    api.service(f"{t}.kms", "kms")
    r = api.post(f"/v1/{t}.kms.k/kms-service-api/keys/generate", json={"keyType": "secp256r1"})
    assert r.status_code == 201, r.text
    return org, t


BASES = {
    "aws": {"type": "aws", "bucketName": "status-lists", "region": "us-east-1", "accessKeyId": "test",
            "secretKey": "test-secret-key-0123456789"},
    "azure": {"type": "azure", "accountName": "devstoreaccount1", "containerName": "status-lists",
              "accountKey": AZURITE_KEY},
    "gcs": {"type": "gcs", "bucketName": "status-lists"},
}

HOSTILE = ["http://127.0.0.1:9", "https://127.0.0.1", "https://localhost", "https://[::1]", "https://169.254.169.254",
           "https://10.0.0.1", "https://2130706433", "https://0x7f000001", "https://user:pw@storage.example.com",
           "MOTO/status-lists/x#", "MOTO?x=1", "http://storage.example.com"]


@pytest.mark.parametrize("kind", ["aws", "azure", "gcs"])
def test_hostile_endpoints_are_refused_at_create_and_update(api, stack, kind):
    _, t = status_tenant(api)
    svc = f"{t}.st"
    ok = {**BASES[kind], "endpointUrl": stack.moto_url}
    api.service(svc, "credential-status", config={"registry": ok}, dependencies=[f"{t}.kms"])
    doc = api.get(f"/v1/{svc}/credential-status-service-api/configuration/view").json()
    for url in HOSTILE:
        url = url.replace("MOTO", stack.moto_url)
        reg = {**BASES[kind], "endpointUrl": url}
        r = api.post(f"/v1/{t}.new/resource-api/services/create",
                     json={"type": "credential-status", "config": {"registry": reg}, "dependencies": [f"{t}.kms"]})
        assert_error(r, 400, contains="endpointUrl")
        upd = {**doc, "config": {**doc["config"], "registry": reg}}
        assert_error(api.put(f"/v1/{svc}/credential-status-service-api/configuration/update", json=upd), 400,
                     contains="endpointUrl")
    if kind == "azure":
        cs = f"AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};BlobEndpoint=http://127.0.0.1:9/x"
        reg = {"type": "azure", "accountName": "devstoreaccount1", "containerName": "status-lists",
               "connectionString": cs}
        r = api.post(f"/v1/{t}.new/resource-api/services/create",
                     json={"type": "credential-status", "config": {"registry": reg}, "dependencies": [f"{t}.kms"]})
        assert_error(r, 400, contains="BlobEndpoint")
    if kind == "gcs":
        reg = {**BASES["gcs"], "serviceAccountKeyJson": {"type": "service_account", "client_email": "x@y",
                                                         "private_key": "k", "token_uri": "http://127.0.0.1:9/token"}}
        r = api.post(f"/v1/{t}.new/resource-api/services/create",
                     json={"type": "credential-status", "config": {"registry": reg}, "dependencies": [f"{t}.kms"]})
        assert_error(r, 400, contains="token_uri")
    if kind == "aws":
        # The functions' own identity: never towards a chosen endpoint, only the deployment's buckets.
        for reg in [{"type": "aws", "bucketName": "status-lists", "region": "us-east-1", "endpointUrl": stack.moto_url},
                    {"type": "aws", "bucketName": "someone-elses-bucket", "region": "us-east-1"}]:
            r = api.post(f"/v1/{t}.new/resource-api/services/create",
                         json={"type": "credential-status", "config": {"registry": reg}, "dependencies": [f"{t}.kms"]})
            assert_error(r, 400, contains="accessKeyId")


def test_the_enterprise_api_body_with_an_empty_bucket_url_is_accepted(api):
    _, t = status_tenant(api)
    reg = {"type": "aws", "bucketName": "status-lists", "region": "us-east-1", "bucketUrl": ""}
    r = api.post(f"/v1/{t}.st/resource-api/services/create",
                 json={"type": "credential-status", "config": {"registry": reg}, "dependencies": [f"{t}.kms"]})
    assert r.status_code == 201, r.text
    assert "bucketUrl" not in r.json()["config"]["registry"]


def test_a_kept_secret_does_not_follow_the_registry_elsewhere(api, stack):
    _, t = status_tenant(api)
    svc = f"{t}.st"
    sas = "sv=2021-08-06&ss=b&srt=co&sp=rwc&se=2099-01-01&sig=" + uuid.uuid4().hex
    SECRETS.add(sas)
    azurite = f"http://127.0.0.1:{stack.azurite_port}/devstoreaccount1"
    reg = {"type": "azure", "accountName": "devstoreaccount1", "containerName": "status-lists", "sasToken": sas,
           "endpointUrl": azurite}
    api.service(svc, "credential-status", config={"registry": reg}, dependencies=[f"{t}.kms"])
    view = lambda: api.get(f"/v1/{svc}/credential-status-service-api/configuration/view").json()  # noqa: E731
    doc = view()
    assert doc["config"]["registry"]["sasToken"] == "***"
    tarpit = stack.registry_fakes["tarpit"].url
    for field, value in [("endpointUrl", tarpit), ("accountName", "other"), ("containerName", "other-lists")]:
        changed = {**doc["config"]["registry"], field: value}
        r = api.put(f"/v1/{svc}/credential-status-service-api/configuration/update",
                    json={**doc, "config": {**doc["config"], "registry": changed}})
        body = assert_error(r, 400, contains="sasToken")
        assert field in body["message"], body
    assert view()["version"] == doc["version"], "nothing changed"
    # With the secret given again, the registry moves.
    moved = {**doc["config"]["registry"], "containerName": "other-lists", "sasToken": sas}
    r = api.put(f"/v1/{svc}/credential-status-service-api/configuration/update",
                json={**doc, "config": {**doc["config"], "registry": moved}})
    assert r.status_code == 200, r.text
    assert view()["config"]["registry"]["containerName"] == "other-lists"


def test_changing_a_registry_is_its_own_right(api):
    org, t = status_tenant(api)
    svc = f"{t}.st"
    reg = {"type": "aws", "bucketName": "status-lists", "region": "us-east-1"}
    api.service(svc, "credential-status", config={"registry": reg}, dependencies=[f"{t}.kms"])
    api.role(org, "configurer", [
        {"target": t, "action": "service-configuration-view", "operation": "ADD"},
        {"target": t, "action": "service-configuration-update", "operation": "ADD"}])
    token, _ = api.key(org, ["configurer"])
    doc = api.get(f"/v1/{svc}/credential-status-service-api/configuration/view", token=token).json()
    same = {**doc, "config": {**doc["config"], "note": "a setting"}}
    r = api.put(f"/v1/{svc}/credential-status-service-api/configuration/update", token=token, json=same)
    assert r.status_code == 200, r.text
    doc = api.get(f"/v1/{svc}/credential-status-service-api/configuration/view", token=token).json()
    moved = {**doc, "config": {**doc["config"], "registry": {**reg, "bucketUrl": "https://cdn.example.com"}}}
    assert_error(api.put(f"/v1/{svc}/credential-status-service-api/configuration/update", token=token, json=moved),
                 403, contains="registry-update")
    api.role(org, "mover", [{"target": t, "action": "registry-update", "operation": "ADD"},
                            {"target": t, "action": "service-configuration-update", "operation": "ADD"}])
    mover, _ = api.key(org, ["mover"])
    r = api.put(f"/v1/{svc}/credential-status-service-api/configuration/update", token=mover, json=moved)
    assert r.status_code == 200, r.text


def configure(api, t, svc, registry):
    api.service(svc, "credential-status", config={"registry": registry}, dependencies=[f"{t}.kms"])
    r = api.post(f"/v1/{svc}.c/credential-status-service-api/status-credential/create",
                 json={"kid": f"{t}.kms.k", "config": {"type": "TokenStatusList"}})
    assert r.status_code == 201, r.text
    return f"{svc}.c"


def test_redirects_are_not_followed(api, stack, s3):
    _, t = status_tenant(api)
    fake = stack.registry_fakes["redirect"]
    before = fake.requests
    sas = "sv=2021-08-06&ss=b&srt=co&sp=rwc&se=2099-01-01&sig=" + uuid.uuid4().hex  # must reach no log
    SECRETS.add(sas)
    reg = {"type": "azure", "accountName": "devstoreaccount1", "containerName": "status-lists", "sasToken": sas,
           "endpointUrl": fake.url}
    cfg = configure(api, t, f"{t}.st", reg)
    r = api.post(f"/v1/{cfg}/credential-status-service-api/status-credential/entries", json={"count": 1})
    assert r.status_code == 201, r.text
    (lst,) = api.get(f"/v1/{cfg}/credential-status-service-api/status-credential/view").json()["lists"]
    assert lst["publishError"], lst
    assert fake.requests == before + 1, "one request, to the registry; the redirect was not followed"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="status-lists").get("Contents", [])]
    assert "redirected" not in keys
    # A failing list would be retried by every later test's refresh run: remove it.
    assert api.delete(f"/v1/{t}/resource-api/resources/delete-recursive").status_code == 202


def test_a_registry_that_never_answers_stalls_nobody_else(api, stack, s3):
    """A tarpit (accepts, never answers) next to healthy lists of other organizations: one
    refresh run republishes the healthy ones; the tarpit list fails and backs off."""
    _, t_bad = status_tenant(api)
    tarpit = stack.registry_fakes["tarpit"]
    bad = configure(api, t_bad, f"{t_bad}.st", {**BASES["aws"], "endpointUrl": tarpit.url})
    started = time.monotonic()
    r = api.post(f"/v1/{bad}/credential-status-service-api/status-credential/entries", json={"count": 1})
    assert r.status_code == 201, r.text
    assert time.monotonic() - started < 25, "the publish gave up within the client's timeouts"
    healthy = []
    for _ in range(2):
        _, t = status_tenant(api)
        name = "ok-" + uuid.uuid4().hex[:10]
        registry, _ = make_registry("aws", stack, s3, name)
        cfg = configure(api, t, f"{t}.{name}", registry)
        allocate(api, cfg, 1)
        healthy.append(cfg)

    def published_at(cfg):
        (lst,) = api.get(f"/v1/{cfg}/credential-status-service-api/status-credential/view").json()["lists"]
        return lst["publishedAt"], lst["publishError"]

    before = {cfg: published_at(cfg)[0] for cfg in healthy}
    time.sleep(1.1)  # a republish gets a later iat
    # Every list due in the next day, the tarpit's included (its backoff is a minute).
    report = invoke_refresh(stack, lookahead=86400)
    assert report["failed"] >= 1, report
    for cfg in healthy:
        at, error = published_at(cfg)
        assert error is None and at != before[cfg], (cfg, report)
    (lst,) = api.get(f"/v1/{bad}/credential-status-service-api/status-credential/view").json()["lists"]
    assert lst["publishError"], lst
    # Backing off: a run that looks no further than now leaves it alone.
    assert invoke_refresh(stack)["failed"] == 0
    assert api.delete(f"/v1/{t_bad}/resource-api/resources/delete-recursive").status_code == 202


def test_registry_names_cannot_steer_an_upload_elsewhere(api, stack):
    """An Azure account name was pasted into the upload host: `127.0.0.1:<port>/x#` reached a
    local listener, past the endpoint rules, for status registries and CRL targets alike (the
    refresh repeated it). Every name a URL is built from is checked against its own grammar."""
    _, t = status_tenant(api)
    fake = stack.registry_fakes["redirect"]
    hostport = fake.url.split("://", 1)[1].rstrip("/")
    port = hostport.rsplit(":", 1)[1]
    before = fake.requests
    hostile = [("azure", "accountName", f"{hostport}/x#"), ("azure", "accountName", f"[::1]:{port}/x#"),
               ("azure", "containerName", "lists/../x"), ("aws", "region", f"x.{hostport}#"),
               ("gcs", "bucketName", f"{hostport}/x#")]
    api.service(f"{t}.x509", "x509-service")
    doc = api.get(f"/v1/{t}.x509/x509-service-api/configuration/view").json()
    for kind, field, value in hostile:
        reg = {**BASES[kind], field: value}
        r = api.post(f"/v1/{t}.st/resource-api/services/create",
                     json={"type": "credential-status", "config": {"registry": reg}, "dependencies": [f"{t}.kms"]})
        assert_error(r, 400, contains=field)
        r = api.put(f"/v1/{t}.x509/x509-service-api/configuration/update",
                    json={**doc, "config": {"crl": {"registry": reg}}})
        assert_error(r, 400, contains=field)
    assert fake.requests == before, "no request reached the listener"

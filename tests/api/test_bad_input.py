"""Bad input on every route (generated from template.yaml): bodies over the limit, deep JSON,
invalid UTF-8, wrong content types, huge arrays, and targets with forbidden characters. Each gets
its 4xx in the error JSON shape, and nothing changes in the table."""
import json
import uuid
from urllib.parse import quote

import pytest

import routes
from conftest import assert_error, table_items

BODY_ROUTES = [(m, p, fn) for m, p, fn in routes.template_routes() if m in ("POST", "PUT")]
BAD_TARGETS = ["a b", "a/b", "a%b", "a..b", ".a", "a.", "ä", "a\u0000b", "a" * 65, ".".join(["s"] * 17),
               "a;b", "a'b", 'a"b', "a<b>", "a\\b", "*", "a?b", "a#b", "a\nb", "%00"]


@pytest.fixture(scope="module")
def world(api):
    org = api.org()
    t = api.tenant(f"{org}.t")
    for name, type_ in (("kms", "kms"), ("x509", "x509-service"), ("store", "x509-store")):
        api.service(f"{t}.{name}", type_)
    return org, t


# A default request's operation for each service API that has them.
OPERATIONS = {"kms-service-api": "generate-key", "x509-service-api": "issue-iaca",
              "credential-status-service-api": "create-status-entries"}


def path_for(path, target):
    path = path.replace("{target}", target).replace("{api}", "x509-service-api").replace("{listId}", "l0000000000000000")
    path = path.replace("{externalRole}", "pki-officers")
    if "{operation}" in path:
        path = path.replace("{operation}", OPERATIONS[path.split("/")[3]])
    return path


def bad_bodies():
    deep = "[" * 300 + "]" * 300
    return [
        ("over the size limit", json.dumps({"name": "x" * (300 * 1024)}).encode(), "application/json", 413),
        ("deep JSON", deep.encode(), "application/json", 400),
        ("invalid UTF-8", b'{"name": "\xff\xfe\xc3"}', "application/json", 400),
        ("not JSON", b"name=x", "application/json", 400),
        ("wrong content type", b"<name>x</name>", "application/xml", 415),
        ("huge array", json.dumps({"updates": [{"entry": "x:1", "status": "0x1"}] * 6000}).encode(),
         "application/json", 400),
        ("empty", b"", "application/json", 400),
    ]


def test_every_body_route_rejects_bad_bodies(api, world, ddb):
    org, t = world
    before = table_items(ddb)
    for method, path, fn in BODY_ROUTES:
        url = "/v1/admin/organizations" if "{target}" not in path else path_for(path, f"{t}.x509")
        for what, body, ctype, status in bad_bodies():
            r = api.request(method, url, data=body, headers={"Content-Type": ctype})
            assert 400 <= r.status_code < 500, (fn, what, r.status_code, r.text)
            assert_error(r, status)
    assert table_items(ddb) == before, "a rejected request wrote something"


def test_every_route_rejects_forbidden_target_characters(api, world, ddb):
    before = table_items(ddb)
    checked = 0
    for method, path, fn in routes.template_routes():
        if "{target}" not in path:
            continue
        for bad in BAD_TARGETS:
            url = path_for(path, quote(bad, safe=""))
            r = api.request(method, url, json={} if method in ("POST", "PUT") else None)
            body = assert_error(r, 400)
            assert body["id"] == "InvalidTarget", (fn, bad, body)
            checked += 1
    assert checked >= 30 * len(BAD_TARGETS)
    assert table_items(ddb) == before


def test_certificate_pems_that_are_garbage_truncated_or_two(api, world, ddb):
    from test_x509 import ds_body, iaca_body, key
    org, t = world
    assert api.post(f"/v1/{t}.x509/x509-service-api/dependencies/add", json=f"{t}.kms").status_code == 201
    assert api.post(f"/v1/{t}.x509/x509-service-api/dependencies/add", json=f"{t}.store").status_code == 201
    key(api, t, "iaca")
    key(api, t, "ds")
    r = api.post(f"/v1/{t}.x509/x509-service-api/iso/iacas", json=iaca_body(t))
    assert r.status_code == 201, r.text
    pem = r.json()["certificatePEM"]
    lines = pem.strip().splitlines()
    bad_pems = {
        "garbage": "garbage",
        "truncated": "\n".join(lines[:len(lines) // 2]) + "\n",
        "truncated body": "\n".join(lines[:-2] + lines[-1:]) + "\n",
        "two certificates": pem + pem,
        "empty": "",
        "wrong label": pem.replace("CERTIFICATE", "PRIVATE KEY"),
        "bad base64": pem.replace(lines[1], "!" * len(lines[1])),
    }
    before = table_items(ddb)
    for what, bad in bad_pems.items():
        r = api.post(f"/v1/{t}.x509/x509-service-api/iso/document-signers", json=ds_body(t, bad))
        assert_error(r, 400)
        cid = "c" + uuid.uuid4().hex[:8]
        r = api.post(f"/v1/{t}.store.{cid}/x509-store-api/certificates", json={"type": "base", "certificatePem": bad})
        assert_error(r, 400)
    assert table_items(ddb) == before


def test_unknown_routes_and_methods_answer_the_error_json(api):
    """What no route matches gets the Enterprise API error JSON (the catch-all route of
    template.yaml), never the gateway's own {"message": "Not Found"}."""
    for method, path in [("GET", "/v1/acme/unknown-api/things"), ("POST", "/nope"), ("DELETE", "/health"),
                         ("GET", "/v1/acme.t1/resource-api/tenants/create"), ("PATCH", "/v1/acme/resource-api/resources/list")]:
        body = assert_error(api.request(method, path, token=None), 404)
        assert body["id"] == "NotFoundException" and path in body["message"], (method, path, body)

"""Organizations, tenants, services, listing and deleting."""
import uuid

import pytest

from conftest import assert_error, mentions, table_items


def test_health_needs_no_token(api):
    r = api.get("/health", token=None)
    assert r.status_code == 200
    assert r.json()["status"] == "UP"


def test_organization_create_and_duplicate(api):
    org = "o" + uuid.uuid4().hex[:10]
    r = api.post("/v1/admin/organizations", json={"_id": org, "profile": {"name": "Test GmbH"},
                                                  "billing": {"billingCountry": "AT"}})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["_id"] == org and body["profile"]["name"] == "Test GmbH" and body["billing"]["billingCountry"] == "AT"
    assert_error(api.post("/v1/admin/organizations", json={"_id": org, "profile": {"name": "again"}}), 409, "DuplicateTarget")
    # The org came with its admin role.
    roles = api.get(f"/v1/{org}/roles-api/roles/list").json()
    assert [r["_id"] for r in roles] == [f"{org}.admin"]
    # Deleted, its id is never given out again: a KMS key granted to it (trustfn:adopt-by)
    # must not pass to a new organization of the same name.
    assert api.delete(f"/v1/{org}/resource-api/resources/delete-recursive").status_code == 202
    assert_error(api.post("/v1/admin/organizations", json={"_id": org, "profile": {"name": "new"}}), 409,
                 contains="used before")
    assert api.get(f"/v1/{org}/roles-api/roles/list").status_code == 404


@pytest.mark.parametrize("org_id", ["a.b", "", "bad id", "x" * 65, "ü"])
def test_organization_id_is_validated(api, org_id):
    assert_error(api.post("/v1/admin/organizations", json={"_id": org_id, "profile": {"name": "n"}}), 400)


def test_tenants_and_sub_tenants(api):
    org = api.org()
    r = api.post(f"/v1/{org}.tenant1/resource-api/tenants/create", json={"name": "My Tenant"})
    assert r.status_code == 201
    assert r.json() | {"createdAt": None} == {"_id": f"{org}.tenant1", "parent": org, "type": "tenant",
                                             "name": "My Tenant", "version": 1, "createdAt": None}
    api.tenant(f"{org}.tenant1.sub1")
    assert_error(api.post(f"/v1/{org}.tenant1/resource-api/tenants/create", json={"name": "dup"}), 409, "DuplicateTarget")
    assert_error(api.post(f"/v1/{org}.nope.t/resource-api/tenants/create", json={"name": "x"}), 404)
    assert_error(api.post(f"/v1/{org}/resource-api/tenants/create", json={"name": "x"}), 400, "InvalidTarget")


@pytest.mark.parametrize("target", ["a..b", "a.b%20c", "a.b$", "a.b:c", ".a", "a.", "a." + "x" * 65,
                                    ".".join(["s"] * 17), "a.%C3%A4"])
def test_bad_targets_are_400(api, target):
    body = assert_error(api.post(f"/v1/{target}/resource-api/tenants/create", json={"name": "x"}), 400, "InvalidTarget")
    assert "segment" in body["message"] or "target" in body["message"]


def test_services_of_every_type(api):
    org = api.org()
    t = api.tenant(f"{org}.t1")
    for type_ in ["kms", "x509-store", "x509-service"]:
        doc = api.service(f"{t}.{type_}1", type_)
        assert doc["type"] == type_ and doc["_id"] == f"{t}.{type_}1" and doc["parent"] == t
        assert doc["dependencies"] == [] and doc["config"] == {}
    doc = api.service(f"{t}.status", "credential-status", config={"registry": {
        "type": "aws", "bucketName": "status-lists", "region": "eu-central-1"}}, dependencies=[f"{t}.kms1"])
    assert doc["dependencies"] == [f"{t}.kms1"]
    assert doc["config"]["registry"]["bucketName"] == "status-lists"
    assert_error(api.post(f"/v1/{t}.kms1/resource-api/services/create", json={"type": "kms"}), 409, "DuplicateTarget")


def test_service_validation(api, ddb):
    org = api.org()
    t = api.tenant(f"{org}.t1")
    api.service(f"{t}.store", "x509-store")
    api.service(f"{t}.kms", "kms")
    before = len(table_items(ddb))
    cases = [
        ({"type": "wallet"}, "unknown service type"),
        ({}, "type"),
        ({"type": "kms", "extra": 1}, "extra"),
        ({"type": "credential-status"}, "config.registry"),
        ({"type": "credential-status", "config": {"registry": {"type": "aws", "region": "x"}}}, "bucketName"),
        ({"type": "credential-status", "config": {"registry": {"type": "azure", "accountName": "a"}}}, "containerName"),
        ({"type": "x509-store", "dependencies": [f"{t}.kms"]}, "cannot depend"),
        ({"type": "credential-status", "config": {"registry": {"type": "gcs", "bucketName": "b1b"}},
          "dependencies": [f"{t}.store"]}, "cannot depend"),
        ({"type": "x509-service", "dependencies": [f"{t}.missing"]}, "does not exist"),
        ({"type": "x509-service", "dependencies": ["other.t1.kms"]}, "not in organization"),
        ({"type": "x509-service", "dependencies": [f"{t}.kms", f"{t}.kms"]}, "twice"),
        ({"type": "kms", "config": []}, "object"),
    ]
    for body, text in cases:
        assert_error(api.post(f"/v1/{t}.new/resource-api/services/create", json=body), 400, contains=text)
    # A service needs a tenant as parent.
    assert_error(api.post(f"/v1/{t}.kms.child/resource-api/services/create", json={"type": "kms"}), 400)
    assert len(table_items(ddb)) == before, "a rejected create wrote something"


def test_malformed_json_says_where(api):
    org = api.org()
    r = api.post(f"/v1/{org}.t/resource-api/tenants/create", data='{"name": \n "x",, }',
                 headers={"Content-Type": "application/json"})
    body = assert_error(r, 400)
    assert "line 2" in body["message"]
    r = api.post(f"/v1/{org}.t/resource-api/tenants/create", json={"name": 5})
    assert "name" in assert_error(r, 400)["message"]
    # A lone surrogate escape is not valid Unicode. (Raw invalid UTF-8 is covered by the
    # trustfn-http unit tests: the local emulator cannot carry it in an event.)
    r = api.post(f"/v1/{org}.t/resource-api/tenants/create", data=b'{"name": "\\ud800"}',
                 headers={"Content-Type": "application/json"})
    assert_error(r, 400)


def test_content_type_and_size_limits(api):
    org = api.org()
    r = api.post(f"/v1/{org}.t/resource-api/tenants/create", data="name=x",
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_error(r, 415)
    r = api.post(f"/v1/{org}.t/resource-api/tenants/create", json={"name": "x" * (300 * 1024)})
    assert_error(r, 413)
    assert_error(api.get(f"/v1/{org}.t/resource-api/resources/list"), 404)


def test_list_children_paginated(api):
    org = api.org()
    t = api.tenant(f"{org}.t1")
    names = sorted(f"{t}.svc{i}" for i in range(5))
    for n in names:
        api.service(n, "x509-store")
    seen, cursor, pages = [], None, 0
    while True:
        r = api.get(f"/v1/{t}/resource-api/resources/list", params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200
        page = r.json()
        assert len(page) <= 2
        seen += [d["_id"] for d in page]
        pages += 1
        cursor = r.headers.get("x-next-cursor")
        if not cursor:
            break
    assert seen == names and pages == 3
    assert [d["_id"] for d in api.get(f"/v1/{org}/resource-api/resources/list").json()] == [f"{org}.admin", t]
    assert_error(api.get(f"/v1/{t}/resource-api/resources/list", params={"limit": 0}), 400)
    assert_error(api.get(f"/v1/{t}/resource-api/resources/list", params={"cursor": "!!"}), 400)
    # Offset paging, as Enterprise API clients page (limit=1&offset=1 is the second item).
    offset = lambda o: [d["_id"] for d in api.get(  # noqa: E731
        f"/v1/{t}/resource-api/resources/list", params={"limit": 2, "offset": o}).json()]
    assert [offset(0), offset(2), offset(4), offset(5)] == [names[0:2], names[2:4], names[4:], []]
    assert_error(api.get(f"/v1/{t}/resource-api/resources/list", params={"offset": 1, "cursor": cursor or "x"}), 400)
    # An unknown query parameter is a 400, never silently ignored; endpoints without
    # parameters take none.
    assert_error(api.get(f"/v1/{t}/resource-api/resources/list", params={"page": 2}), 400, contains="page")
    assert_error(api.get(f"/v1/{t}.svc0/x509-store-api/certificates/ids", params={"sort": "x"}), 400, contains="sort")
    assert_error(api.get(f"/v1/{t}.svc0/x509-store-api/configuration/view", params={"limit": 1}), 400,
                 contains="takes none")


def test_delete_refuses_children_and_dependants(api, ddb):
    org = api.org()
    t = api.tenant(f"{org}.t1")
    api.service(f"{t}.kms", "kms")
    api.service(f"{t}.x509", "x509-service", dependencies=[f"{t}.kms"])
    assert_error(api.delete(f"/v1/{t}/resource-api/resources/delete"), 409, contains="child")
    assert_error(api.delete(f"/v1/{t}.kms/resource-api/resources/delete"), 409, contains=f"{t}.x509")
    assert api.get(f"/v1/{t}.kms/kms-service-api/configuration/view").status_code == 200
    r = api.delete(f"/v1/{t}.x509/resource-api/resources/delete")
    assert r.status_code == 202, r.text
    r = api.delete(f"/v1/{t}.kms/resource-api/resources/delete")
    assert r.status_code == 202, r.text
    r = api.delete(f"/v1/{t}/resource-api/resources/delete")
    assert r.status_code == 202, r.text
    assert_error(api.delete(f"/v1/{t}/resource-api/resources/delete"), 404)
    assert not any(mentions(i, t) for i in table_items(ddb))


def test_delete_recursive_leaves_nothing(api, ddb):
    org = api.org()
    other = api.org()
    t1 = api.tenant(f"{org}.t1")
    t2 = api.tenant(f"{org}.t2")
    api.tenant(f"{org}.t1.sub")
    api.service(f"{t1}.kms", "kms")
    api.service(f"{t1}.store", "x509-store")
    api.service(f"{t1}.sub.x509", "x509-service", dependencies=[f"{t1}.kms", f"{t1}.store"])
    # A service outside the subtree depending on one inside it.
    api.service(f"{t2}.x509", "x509-service", dependencies=[f"{t1}.kms"])
    api.service(f"{t2}.kms", "kms")
    api.service(f"{t1}.status", "credential-status", dependencies=[f"{t2}.kms"],
                config={"registry": {"type": "gcs", "bucketName": "lists"}})
    api.tenant(f"{other}.t1")
    r = api.delete(f"/v1/{t1}/resource-api/resources/delete-recursive")
    assert r.status_code == 202, r.text
    assert r.json()["deleted"] == 6
    assert not any(mentions(i, t1) for i in table_items(ddb)), "orphaned items or edges"
    assert api.get(f"/v1/{t2}.x509/x509-service-api/dependencies/list").json() == []
    # Counters stayed right: both survivors can now be deleted non-recursively.
    assert api.delete(f"/v1/{t2}.kms/resource-api/resources/delete").status_code == 202
    assert api.delete(f"/v1/{t2}.x509/resource-api/resources/delete").status_code == 202
    assert api.delete(f"/v1/{t2}/resource-api/resources/delete").status_code == 202
    # Whole organization, including its roles and API keys (whose tokens stop working).
    token, _ = api.key(org, [f"{org}.admin"])
    assert api.get(f"/v1/{org}/resource-api/resources/list", token=token).status_code == 200
    assert api.delete(f"/v1/{org}/resource-api/resources/delete-recursive").status_code == 202
    assert not any(mentions(i, org) for i in table_items(ddb))
    assert_error(api.get(f"/v1/{org}/resource-api/resources/list", token=token), 401)
    assert api.get(f"/v1/{other}.t1/resource-api/resources/list").status_code == 200


def test_delete_recursive_of_large_subtree(api, ddb):
    """More items than one transaction holds: deleted leaves-first in several commits."""
    org = api.org()
    t = api.tenant(f"{org}.big")
    api.service(f"{t}.kms", "kms")
    for i in range(40):
        api.service(f"{t}.x{i:02d}", "x509-service", dependencies=[f"{t}.kms"])
    r = api.delete(f"/v1/{t}/resource-api/resources/delete-recursive")
    assert r.status_code == 202, r.text
    assert r.json()["deleted"] == 42
    assert not any(mentions(i, t) for i in table_items(ddb))
    assert api.delete(f"/v1/{org}/resource-api/resources/delete-recursive").status_code == 202

"""Authentication, roles, API keys and isolation between organizations and tenants."""
import time

import pytest

from conftest import assert_error, table_items


def test_missing_and_invalid_tokens_are_401(api):
    org = api.org()
    path = f"/v1/{org}/resource-api/resources/list"
    assert_error(api.get(path, token=None), 401)
    assert_error(api.get(path, token="nope"), 401)
    assert_error(api.get(path, token="tfk_" + "A" * 43), 401)
    assert_error(api.get(path, token=None, headers={"Authorization": "Basic dXNlcjpwYXNz"}), 401)
    assert_error(api.post("/v1/admin/organizations", token=None, json={"_id": "zz", "profile": {"name": "z"}}), 401)


def test_api_key_lifecycle(api, ddb):
    org = api.org()
    r = api.post(f"/v1/{org}.ci/apikeys-api/api-keys/create", json={"name": "CI", "roles": ["admin"], "expiration": "30d"})
    assert r.status_code == 201, r.text
    body = r.json()
    token = body["token"]
    assert body["_id"] == f"{org}.ci" and body["roles"] == [f"{org}.admin"] and body["expiresAt"]
    # Only the hash is stored; listings never show the token.
    assert token not in str(table_items(ddb))
    listing = api.get(f"/v1/{org}/apikeys-api/api-keys/list")
    assert listing.status_code == 200 and token not in listing.text
    assert [k["_id"] for k in listing.json()] == [f"{org}.ci"]
    assert "_tokenHash" not in listing.text and "tokenHash" not in listing.text
    # The key works within its org ...
    assert api.get(f"/v1/{org}/resource-api/resources/list", token=token).status_code == 200
    api.tenant(f"{org}.t1")
    assert api.post(f"/v1/{org}.t1.kms/resource-api/services/create", token=token, json={"type": "kms"}).status_code == 201
    # ... cannot create organizations ...
    assert_error(api.post("/v1/admin/organizations", token=token, json={"_id": org + "x", "profile": {"name": "x"}}), 403)
    # ... and stops working once deleted.
    assert_error(api.post(f"/v1/{org}.ci/apikeys-api/api-keys/create", json={"name": "dup"}), 409, "DuplicateTarget")
    r = api.delete(f"/v1/{org}.ci/apikeys-api/api-keys/delete")
    assert r.status_code == 204
    assert_error(api.get(f"/v1/{org}/resource-api/resources/list", token=token), 401)
    assert_error(api.delete(f"/v1/{org}.ci/apikeys-api/api-keys/delete"), 404)


def test_api_key_validation(api):
    org = api.org()
    for body, text in [
        ({"name": "x", "roles": ["nosuchrole"]}, "does not exist"),
        ({"name": "x", "roles": ["other.admin"]}, "not a role of"),
        ({"name": "x", "expiration": "soon"}, "expiration"),
        ({"name": ""}, "name"),
        ({"roles": []}, "name"),
    ]:
        assert_error(api.post(f"/v1/{org}.k/apikeys-api/api-keys/create", json=body), 400, contains=text)
    assert_error(api.post(f"/v1/{org}.t.k/apikeys-api/api-keys/create", json={"name": "x"}), 400, "InvalidTarget")


def test_keys_made_by_keys_expire_with_them_and_die_with_them(api):
    org = api.org()
    parent, parent_id = api.key(org, ["admin"], expiration="1h")
    expiry = api.get(f"/v1/{org}/apikeys-api/api-keys/list").json()
    expiry = next(k["expiresAt"] for k in expiry if k["_id"] == parent_id)
    r = api.post(f"/v1/{org}.child/apikeys-api/api-keys/create", token=parent,
                 json={"name": "c", "roles": ["admin"], "expiration": "365d"})
    assert r.status_code == 201, r.text
    child = r.json()
    assert (child["expiresAt"], child["createdBy"]) == (expiry, parent_id)
    assert api.get(f"/v1/{org}/resource-api/resources/list", token=child["token"]).status_code == 200
    assert api.delete(f"/v1/{parent_id}/apikeys-api/api-keys/delete").status_code == 204
    # A new key under the deleted creator's id does not bring the child back.
    api.key(org, ["admin"], key_id=parent_id.split(".", 1)[1])
    body = assert_error(api.get(f"/v1/{org}/resource-api/resources/list", token=child["token"]), 401)
    assert "revoked" in body["message"]


def test_a_role_created_again_gives_nothing_to_the_keys_of_the_old_one(api):
    org = api.org()
    api.tenant(f"{org}.t1")
    api.role(org, "reader", [{"target": f"{org}.t1", "action": "resource-list", "operation": "ADD"}])
    token, _ = api.key(org, ["reader"])
    assert api.get(f"/v1/{org}.t1/resource-api/resources/list", token=token).status_code == 200
    assert api.delete(f"/v1/{org}.reader/resource-api/resources/delete").status_code == 202
    api.role(org, "reader", [{"target": org, "action": "all", "operation": "ADD"}])
    assert_error(api.get(f"/v1/{org}.t1/resource-api/resources/list", token=token), 403)
    assert_error(api.delete(f"/v1/{org}.t1/resource-api/resources/delete-recursive", token=token), 403)


def test_a_key_created_without_roles_gets_them_assigned(api):
    """The Enterprise API way: create the key, then assign roles to it."""
    org = api.org()
    api.tenant(f"{org}.t1")
    token, key_id = api.key(org, [])
    assert_error(api.get(f"/v1/{org}.t1/resource-api/resources/list", token=token), 403)
    r = api.post(f"/v1/{org}.admin/roles-api/roles/apikey/assign", json={"apikey": key_id.split(".", 1)[1]})
    assert r.status_code == 200 and r.json()["roles"] == [f"{org}.admin"], r.text
    assert api.get(f"/v1/{org}.t1/resource-api/resources/list", token=token).status_code == 200
    # A key cannot assign itself a role that grants more than it holds.
    api.role(org, "lister", [{"target": f"{org}.t1", "action": "resource-list", "operation": "ADD"},
                             {"target": org, "action": "apikey-role-assign", "operation": "ADD"}])
    weak, weak_id = api.key(org, ["lister"])
    assert_error(api.post(f"/v1/{org}.admin/roles-api/roles/apikey/assign", token=weak,
                          json={"apikey": weak_id}), 403, contains="grants more")
    r = api.post(f"/v1/{org}.admin/roles-api/roles/apikey/unassign", json={"apikey": key_id})
    assert r.status_code == 200 and r.json()["roles"] == [], r.text
    assert_error(api.get(f"/v1/{org}.t1/resource-api/resources/list", token=token), 403)


def test_expired_key_is_401(api):
    org = api.org()
    token, _ = api.key(org, ["admin"], expiration="1s")
    time.sleep(2.1)
    body = assert_error(api.get(f"/v1/{org}/resource-api/resources/list", token=token), 401)
    assert "expired" in body["message"]


def test_roles_validation(api):
    org = api.org()
    for perms, text in [
        ([{"target": "elsewhere.t1", "action": "all", "operation": "ADD"}], "outside organization"),
        ([{"target": f"{org}.t1", "action": "fly", "operation": "ADD"}], "unknown action"),
        ([{"target": f"{org}.t1", "action": "all", "operation": "MAYBE"}], "operation"),
        ([{"target": "bad target", "action": "all", "operation": "ADD"}], "target"),
    ]:
        r = api.post(f"/v1/{org}.r/roles-api/roles/create", json={"name": "r", "permissions": perms})
        assert_error(r, 400, contains=text)
    api.role(org, "viewer", [{"target": org, "action": "resource-list", "operation": "ADD"}])
    assert_error(api.post(f"/v1/{org}.viewer/roles-api/roles/create", json={"name": "again"}), 409)


@pytest.fixture(scope="module")
def world(api):
    """Two orgs; org A has tenants t1 and t2, each with a service; keys with various scopes."""
    a, b = api.org(), api.org()
    for org in (a, b):
        for t in ("t1", "t2"):
            api.tenant(f"{org}.{t}")
            api.service(f"{org}.{t}.kms", "kms")
            api.service(f"{org}.{t}.x509", "x509-service")
    api.role(a, "t1admin", [{"target": f"{a}.t1", "action": "all", "operation": "ADD"}])
    api.role(a, "t1nodelete", [{"target": f"{a}.t1", "action": "all", "operation": "ADD"},
                               {"target": f"{a}.t1", "action": "resource-delete", "operation": "REMOVE"}])
    api.role(a, "viewer", [{"target": a, "action": "resource-list", "operation": "ADD"},
                           {"target": a, "action": "service-configuration-view", "operation": "ADD"}])
    api.role(a, "keymaker", [{"target": a, "action": "apikey-create", "operation": "ADD"},
                             {"target": f"{a}.t1", "action": "all", "operation": "ADD"}])
    keys = {
        "keymaker": api.key(a, ["keymaker"])[0],
        "t1": api.key(a, ["t1admin"])[0],
        "t1nodelete": api.key(a, ["t1nodelete"])[0],
        "viewer": api.key(a, ["viewer"])[0],
        "norole": api.key(a, [])[0],
    }
    return a, b, keys


def test_tenant_scoped_key(api, world):
    a, b, keys = world
    k = keys["t1"]
    assert api.get(f"/v1/{a}.t1/resource-api/resources/list", token=k).status_code == 200
    assert api.post(f"/v1/{a}.t1.store/resource-api/services/create", token=k, json={"type": "x509-store"}).status_code == 201
    assert api.post(f"/v1/{a}.t1.x509/x509-service-api/dependencies/add", token=k, json=f"{a}.t1.store").status_code == 201
    # Attaching a sibling tenant's service needs rights there too.
    assert_error(api.post(f"/v1/{a}.t1.x509/x509-service-api/dependencies/add", token=k, json=f"{a}.t2.kms"), 403)


def test_remove_beats_add(api, world):
    a, _, keys = world
    k = keys["t1nodelete"]
    assert api.get(f"/v1/{a}.t1.kms/kms-service-api/configuration/view", token=k).status_code == 200
    assert_error(api.delete(f"/v1/{a}.t1.kms/resource-api/resources/delete", token=k), 403)
    assert_error(api.delete(f"/v1/{a}.t1/resource-api/resources/delete-recursive", token=k), 403)


def test_viewer_cannot_change_anything(api, world, ddb):
    a, _, keys = world
    k = keys["viewer"]
    assert api.get(f"/v1/{a}.t2/resource-api/resources/list", token=k).status_code == 200
    assert api.get(f"/v1/{a}.t2.kms/kms-service-api/configuration/view", token=k).status_code == 200
    before = table_items(ddb)
    assert_error(api.post(f"/v1/{a}.t3/resource-api/tenants/create", token=k, json={"name": "x"}), 403)
    assert_error(api.put(f"/v1/{a}.t2.kms/kms-service-api/configuration/update", token=k, json={"config": {}}), 403)
    assert_error(api.post(f"/v1/{a}.evil/apikeys-api/api-keys/create", token=k, json={"name": "x", "roles": ["admin"]}), 403)
    assert_error(api.post(f"/v1/{a}.evil/roles-api/roles/create", token=k, json={"name": "x"}), 403)
    assert table_items(ddb) == before


# Requests a key must not be able to make, on existing and non-existing targets alike.
def forbidden_requests(org, tenant):
    return [
        ("GET", f"/v1/{tenant}/resource-api/resources/list", None),
        ("GET", f"/v1/{tenant}.kms/kms-service-api/configuration/view", None),
        ("PUT", f"/v1/{tenant}.kms/kms-service-api/configuration/update", {"config": {}}),
        ("GET", f"/v1/{tenant}.x509/x509-service-api/dependencies/list", None),
        ("POST", f"/v1/{tenant}.x509/x509-service-api/dependencies/add", f"{tenant}.kms"),
        ("POST", f"/v1/{tenant}.x509/x509-service-api/dependencies/remove", f"{tenant}.kms"),
        ("POST", f"/v1/{tenant}.new/resource-api/services/create", {"type": "kms"}),
        ("POST", f"/v1/{tenant}.sub/resource-api/tenants/create", {"name": "x"}),
        ("DELETE", f"/v1/{tenant}.kms/resource-api/resources/delete", None),
        ("DELETE", f"/v1/{tenant}/resource-api/resources/delete-recursive", None),
        ("GET", f"/v1/{org}/apikeys-api/api-keys/list", None),
        ("GET", f"/v1/{org}/roles-api/roles/list", None),
        ("POST", f"/v1/{org}.newkey/apikeys-api/api-keys/create", {"name": "x"}),
        ("POST", f"/v1/{org}.newrole/roles-api/roles/create", {"name": "x"}),
    ]


@pytest.mark.parametrize("who,where", [("t1", "sibling"), ("t1", "other-org"), ("viewer", "other-org"),
                                       ("norole", "sibling"), ("norole", "other-org")])
def test_no_access_and_no_leak(api, world, ddb, who, where):
    a, b, keys = world
    k = keys[who]
    org, tenant = (a, f"{a}.t2") if where == "sibling" else (b, f"{b}.t1")
    before = table_items(ddb)
    ghost = tenant + "ghost"
    for (method, path, body), (_, gpath, gbody) in zip(forbidden_requests(org, tenant), forbidden_requests(org, ghost)):
        seen = assert_error(api.request(method, path, token=k, json=body), 403)
        unseen = assert_error(api.request(method, gpath, token=k, json=gbody), 403)
        # The answer must not depend on whether the target exists.
        assert {**unseen, "message": unseen["message"].replace(ghost, tenant)} == seen, (path, seen, unseen)
    assert table_items(ddb) == before


def test_key_cannot_grant_more_than_it_holds(api, world):
    a, _, keys = world
    # keymaker may create keys and holds `all` on t1 only: it may hand out t1admin, not admin.
    k = keys["keymaker"]
    r = api.post(f"/v1/{a}.helper1/apikeys-api/api-keys/create", token=k, json={"name": "x", "roles": ["t1admin"]})
    assert r.status_code == 201, r.text
    r = api.post(f"/v1/{a}.helper2/apikeys-api/api-keys/create", token=k, json={"name": "x", "roles": ["admin"]})
    assert_error(r, 403, contains="grants more")


def test_tokens_never_reach_the_logs(api, stack, world):
    _, _, keys = world
    token, _ = api.key(api.org(), ["admin"])
    assert api.get("/v1/nope/resource-api/resources/list", token=token).status_code in (403, 404)
    assert api.get("/v1/nope/resource-api/resources/list").status_code == 404
    logs = "".join(p.read_text(errors="replace") for p in stack.log_dir.glob("*.log"))
    assert "request handled" in logs or "request rejected" in logs
    for secret in [api.admin_token, token, *keys.values()]:
        assert secret not in logs


def route_requests(target, org=None):
    """Every authenticated route of template.yaml, aimed at `target` (organization-level routes,
    API keys and roles, at `org` or a key/role id in it)."""
    import routes
    public = routes.public_routes()
    assert public == {"/health", "/console", "/console/{proxy+}", "/v1/{target}/vical-service-api/latest",
                      "/v1/{target}/credential-status-service-api/status-lists/{listId}"}, "a new public route is a decision"
    for method, path, fn in routes.template_routes():
        if path in public or path == "/v1/admin/organizations":
            continue
        if path == "/v1/events/query":
            yield fn, method, f"{path}?organization={org or target.split('.')[0]}", {}
            continue
        if path.startswith("/v1/audit/"):
            # The audit routes name what they read in the body (or the query).
            if method == "GET":
                yield fn, method, f"{path}?organization={org or target.split('.')[0]}", None
            else:
                yield fn, method, path, {"target": target}
            continue
        t = target
        if org and ("/apikeys-api/" in path or "/roles-api/" in path):
            t = org if path.endswith("/list") else f"{org}.x1"
        yield fn, method, path.replace("{target}", t).replace("{api}", "x509-service-api").replace(
            "{operation}", "issue-iaca"), {}


def credentials(api, world):
    """Every kind of credential that must not reach org A's tenant t1, with the status it gets."""
    a, b, keys = world
    expired, _ = api.key(a, ["admin"], expiration="1s")
    deleted, deleted_id = api.key(a, ["admin"])
    assert api.delete(f"/v1/{deleted_id}/apikeys-api/api-keys/delete").status_code == 204
    api.role(a, "removed", [{"target": f"{a}.t1", "action": "all", "operation": "ADD"},
                            {"target": f"{a}.t1", "action": "all", "operation": "REMOVE"}])
    api.role(a, "unrelated", [{"target": a, "action": "apikey-list", "operation": "ADD"}])
    other_org = api.key(b, ["admin"])[0]
    time.sleep(2.1)
    return {
        "no token": (None, 401),
        "malformed token": ("not-a-token", 401),
        "malformed key": ("tfk_" + "A" * 43, 401),
        "expired key": (expired, 401),
        "deleted key": (deleted, 401),
        "other organization": (other_org, 403),
        "sibling tenant": (keys["t1"], 403),
        "role lacking the action": (api.key(a, ["unrelated"])[0], 403),
        "action REMOVEd": (api.key(a, ["removed"])[0], 403),
    }


def test_isolation_matrix(api, world, ddb):
    """Generated from the route table (a new endpoint is covered automatically): every route, every
    kind of outsider, on an existing and a non-existing target: 401/403, the same answer either way,
    and nothing changes."""
    a, b, keys = world
    creds = credentials(api, world)
    before = table_items(ddb)
    checked = 0
    for name, (token, status) in creds.items():
        # The sibling-tenant key holds `all` on t1: aim it at t2. Everyone else aims at t1.
        tenant = f"{a}.t2" if name == "sibling tenant" else f"{a}.t1"
        real, ghost = f"{tenant}.x509", f"{tenant}.ghost"
        pairs = zip(route_requests(real, a), route_requests(ghost, a + "ghost"))
        for (fn, method, path, body), (_, _, gpath, gbody) in pairs:
            if name == "role lacking the action" and fn == "api-keys-list":
                continue  # the one action the role holds
            seen = assert_error(api.request(method, path, token=token, json=body), status)
            unseen = assert_error(api.request(method, gpath, token=token, json=gbody), status)
            unseen["message"] = unseen["message"].replace(ghost, real).replace(a + "ghost", a)
            assert unseen == seen, (name, fn, seen, unseen)
            checked += 1
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        r = api.request("POST", "/v1/admin/organizations", token=None, headers=headers,
                        json={"_id": "zz", "profile": {"name": "z"}})
        assert_error(r, status)
    assert checked >= 9 * 30
    assert table_items(ddb) == before, "a refused request changed nothing"

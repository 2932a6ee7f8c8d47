"""Single sign-on: access tokens of the configured OpenID Connect issuer (the development provider
of the local stack), the organizations' external role mappings, and every way a token is refused.

walt.id's mapping API is quoted from
https://docs.walt.id/enterprise-stack/administration/access-and-permissions/external-role-mapping/create-mappings
(`PUT /v1/{role}/roles-api/roles/external-mappings/{externalRole}` with `{"enabled": true}`; 201 new,
200 updated) and .../manage-mappings (the list's `externalRole`, `roleId`, `enabled`, `providerId`,
`conditions`)."""
import time

from cryptography.hazmat.primitives.asymmetric import ec

import sso
from conftest import assert_error, table_items


def org_with_mapped_admin(api, stack, group=None, **body):
    """An organization whose Administrator role is mapped to alice's group."""
    org = api.org()
    group = group or stack.oidc_keys()["users"]["alice"]["groups"][0]
    r = api.put(f"/v1/{org}.admin/roles-api/roles/external-mappings/{group}", json={"enabled": True, **body})
    assert r.status_code == 201, r.text
    return org


def test_a_signed_in_user_gets_what_the_mapping_gives_and_loses_it_at_once(api, stack):
    org = api.org()
    alice = sso.login(stack, "alice")
    group = sso.claims_of(alice)["groups"][0]
    roles = f"/v1/{org}/roles-api/roles/list"
    # A valid token of the issuer, but no mapping: authenticated, allowed nothing.
    assert_error(api.get(roles, token=alice), 403)
    mapping = f"/v1/{org}.admin/roles-api/roles/external-mappings/{group}"
    r = api.put(mapping, json={"enabled": True})
    assert r.status_code == 201, r.text
    assert r.json() == {"externalRole": group, "roleId": f"{org}.admin", "enabled": True,
                        "providerId": None, "conditions": None}
    assert api.get(roles, token=alice).status_code == 200
    # The mapping document is listed walt.id's way, on the organization and on the role.
    for on in (org, f"{org}.admin"):
        listed = api.get(f"/v1/{on}/roles-api/roles/external-mappings")
        assert listed.status_code == 200 and [m["externalRole"] for m in listed.json()] == [group]
    # Disabled (200: an update), then an e-mail domain condition: effective on the next request.
    assert api.put(mapping, json={"enabled": False}).status_code == 200
    assert_error(api.get(roles, token=alice), 403)
    assert api.put(mapping, json={"conditions": {"emailDomains": ["dmv-b.example"]}}).status_code == 200
    assert_error(api.get(roles, token=alice), 403)
    assert api.put(mapping, json={"conditions": {"emailDomains": ["DMV-A.example"]}}).status_code == 200
    assert api.get(roles, token=alice).status_code == 200
    # A role deleted and created again under the same id is not given by the old mapping.
    assert api.delete(mapping).status_code == 204
    assert_error(api.delete(mapping), 404)
    assert_error(api.get(roles, token=alice), 403)
    api.role(org, "operators", [{"target": org, "action": "role-list", "operation": "ADD"}])
    assert api.put(f"/v1/{org}.operators/roles-api/roles/external-mappings/{group}", json={}).status_code == 201
    assert api.get(roles, token=alice).status_code == 200
    assert api.delete(f"/v1/{org}.operators/resource-api/resources/delete").status_code in (200, 202, 204)
    api.role(org, "operators", [{"target": org, "action": "role-list", "operation": "ADD"}])
    assert_error(api.get(roles, token=alice), 403)


def test_what_a_user_does_is_on_the_audit_log_under_its_subject(api, stack):
    org = org_with_mapped_admin(api, stack)
    alice = sso.login(stack, "alice")
    r = api.post(f"/v1/{org}.pki/resource-api/tenants/create", json={"name": "PKI"}, token=alice)
    assert r.status_code == 201, r.text
    r = api.post("/v1/audit/query", json={"target": f"{org}.pki"}, token=alice)
    assert r.status_code == 200, r.text
    created = [e for e in r.json() if e["target"] == f"{org}.pki" and e["outcome"] == "success"]
    assert created and created[0]["actor"]["type"] == "user", created
    actor = created[0]["actor"]
    assert actor["subject"] == "alice" and actor["issuer"] == stack.oidc_issuer
    assert actor["roles"] and actor["roles"][0].startswith(f"{org}.admin#")
    assert api.post("/v1/audit/verify", json={"target": org}).json()["valid"] is True


def test_users_act_only_in_their_own_organizations(api, stack):
    org_a = org_with_mapped_admin(api, stack)
    org_b = api.org()
    bob_group = stack.oidc_keys()["users"]["bob"]["groups"][0]
    assert api.put(f"/v1/{org_b}.admin/roles-api/roles/external-mappings/{bob_group}", json={}).status_code == 201
    alice, bob = sso.login(stack, "alice"), sso.login(stack, "bob")
    assert api.get(f"/v1/{org_a}/resource-api/resources/list", token=alice).status_code == 200
    assert api.get(f"/v1/{org_b}/resource-api/resources/list", token=bob).status_code == 200
    for token, other in ((alice, org_b), (bob, org_a)):
        assert_error(api.get(f"/v1/{other}/resource-api/resources/list", token=token), 403)
        assert_error(api.post(f"/v1/{other}.x/resource-api/tenants/create", json={"name": "x"}, token=token), 403)
        assert_error(api.post("/v1/audit/query", json={"target": other}, token=token), 403)
    # A role of one organization cannot be mapped from another's document.
    assert_error(api.put(f"/v1/{org_b}.admin/roles-api/roles/external-mappings/x", json={}, token=alice), 403)
    # Nor does a wrong password give a token.
    assert sso.login(stack, "alice", password="bob-local-password") is None


def test_users_cannot_create_api_keys_or_map_more_than_they_hold(api, stack, ddb):
    org = api.org()
    alice_group = stack.oidc_keys()["users"]["alice"]["groups"][0]
    api.role(org, "mapper", [{"target": org, "action": "role-external-mapping-update", "operation": "ADD"},
                             {"target": org, "action": "apikey-create", "operation": "ADD"},
                             {"target": org, "action": "apikey-role-assign", "operation": "ADD"},
                             {"target": org, "action": "role-list", "operation": "ADD"}])
    assert api.put(f"/v1/{org}.mapper/roles-api/roles/external-mappings/{alice_group}", json={}).status_code == 201
    alice = sso.login(stack, "alice")
    before = table_items(ddb)
    # A key's rights must trace back to keys that can be deleted: a person's session is none.
    assert_error(api.post(f"/v1/{org}.k1/apikeys-api/api-keys/create", json={"name": "k1"}, token=alice), 403,
                 contains="single sign-on users cannot create API keys")
    # Nor map roles: a mapping given by a person would outlive that person's own rights.
    assert_error(api.put(f"/v1/{org}.mapper/roles-api/roles/external-mappings/staff", json={}, token=alice), 403,
                 contains="single sign-on users cannot")
    assert_error(api.delete(f"/v1/{org}.mapper/roles-api/roles/external-mappings/{alice_group}", token=alice), 403)
    # Nor change a key's roles, in either direction (a role of REMOVE rules takes rights away).
    _, plain_key = api.key(org, [])
    for op in ("assign", "unassign"):
        assert_error(api.post(f"/v1/{org}.mapper/roles-api/roles/apikey/{op}", json={"apikey": plain_key}, token=alice),
                     403, contains="single sign-on users cannot")
    # Mapping a role is a delegation: an API key with the limited role cannot map the Administrator.
    key, _ = api.key(org, ["mapper"])
    before = table_items(ddb)
    assert_error(api.put(f"/v1/{org}.admin/roles-api/roles/external-mappings/anything", json={}, token=key), 403,
                 contains="grants more than the caller holds")
    assert table_items(ddb) == before


def test_a_mapping_made_by_an_api_key_ends_with_that_key(api, stack):
    org = api.org()
    group = stack.oidc_keys()["users"]["alice"]["groups"][0]
    token, key_id = api.key(org, ["admin"])
    assert api.put(f"/v1/{org}.admin/roles-api/roles/external-mappings/{group}", json={}, token=token).status_code == 201
    alice = sso.login(stack, "alice")
    path = f"/v1/{org}/resource-api/resources/list"
    assert api.get(path, token=alice).status_code == 200
    assert api.delete(f"/v1/{key_id}/apikeys-api/api-keys/delete").status_code == 204
    assert_error(api.get(path, token=alice), 403)
    # A mapping of a role deleted since can still be removed.
    api.role(org, "gone", [{"target": org, "action": "role-list", "operation": "ADD"}])
    assert api.put(f"/v1/{org}.gone/roles-api/roles/external-mappings/{group}", json={}).status_code == 201
    assert api.delete(f"/v1/{org}.gone/resource-api/resources/delete").status_code in (200, 202, 204)
    assert api.delete(f"/v1/{org}.gone/roles-api/roles/external-mappings/{group}").status_code == 204
    assert [m["roleId"] for m in api.get(f"/v1/{org}/roles-api/roles/external-mappings").json()] == [f"{org}.admin"]


def test_refusals_of_people_without_a_role_do_not_fill_the_organizations_chain(api, stack):
    org = api.org()
    bob = sso.login(stack, "bob")
    for _ in range(3):
        assert_error(api.get(f"/v1/{org}/resource-api/resources/list", token=bob), 403)
    r = api.post("/v1/audit/query", json={"target": org})
    assert r.status_code == 200, r.text
    assert not [e for e in r.json() if e["actor"].get("subject") == "bob"], r.json()


def test_tokens_that_are_not_valid_access_tokens_of_the_issuer_are_401(api, stack, ddb):
    org = org_with_mapped_admin(api, stack)
    path = f"/v1/{org}/resource-api/resources/list"
    assert api.get(path, token=sso.crafted(stack)).status_code == 200, "the control: a valid crafted token"
    now = int(time.time())
    stranger = ec.generate_private_key(ec.SECP256R1())
    _, kid = sso.provider_key(stack)
    header, body, _ = sso.crafted(stack).split(".")
    cases = {
        "wrong issuer": sso.crafted(stack, iss="http://127.0.0.1:1/other"),
        "issuer with a trailing slash": sso.crafted(stack, iss=stack.oidc_issuer + "/"),
        "wrong audience": sso.crafted(stack, aud="urn:another:api"),
        "no audience": sso.crafted(stack, aud=None),
        "expired": sso.crafted(stack, iat=now - 1200, exp=now - 600),
        "not yet valid": sso.crafted(stack, nbf=now + 600),
        "no exp": sso.crafted(stack, exp=None),
        "unknown key": sso.crafted(stack, key=stranger, kid="not-published"),
        "another issuer's key under our kid": sso.crafted(stack, key=stranger, kid=kid),
        "alg none": sso.b64(b'{"alg":"none","typ":"at+jwt"}') + f".{body}.",
        "HS256": sso.crafted(stack, alg="HS256"),
        "ID token (nonce)": sso.crafted(stack, nonce="n-0S6_WzA2Mj"),
        "ID token (at_hash)": sso.crafted(stack, at_hash="77QmUPtjPfzWtF2AnpK9RQ"),
        "altered payload": f"{header}.{sso.crafted(stack, groups=['everyone']).split('.')[1]}.{sso.crafted(stack).split('.')[2]}",
    }
    before = table_items(ddb)
    for name, token in cases.items():
        got = api.get(path, token=token)
        assert got.status_code == 401, f"{name}: {got.status_code} {got.text}"
        assert_error(got, 401)
        assert token.split(".")[2] not in got.text or not token.split(".")[2], name
        r = api.post(f"/v1/{org}.t-{abs(hash(name)) % 10**6}/resource-api/tenants/create", json={"name": "x"}, token=token)
        assert r.status_code == 401, f"{name}: {r.status_code} {r.text}"
    assert table_items(ddb) == before


def test_mapping_requests_are_checked(api, stack):
    org = api.org()
    group = stack.oidc_keys()["users"]["alice"]["groups"][0]
    base = f"/v1/{org}.admin/roles-api/roles/external-mappings"
    assert_error(api.put(f"{base}/{group}", json={"enabled": "yes"}), 400)
    assert_error(api.put(f"{base}/{group}", json={"colour": "red"}), 400)
    assert_error(api.put(f"{base}/{group}", json={"providerId": "https://elsewhere.example"}), 400, contains="providerId")
    assert api.put(f"{base}/{group}", json={"providerId": stack.oidc_issuer}).status_code == 201
    assert_error(api.put(f"{base}/{group}", json={"conditions": {"emailDomains": ["a@b"]}}), 400)
    assert_error(api.put(f"/v1/{org}.nosuchrole/roles-api/roles/external-mappings/{group}", json={}), 404)
    assert_error(api.put(f"/v1/{org}/roles-api/roles/external-mappings/{group}", json={}), 400)
    assert_error(api.put(f"{base}/{'x' * 300}", json={}), 400)
    assert_error(api.get(f"/v1/{org}.nosuchrole/roles-api/roles/external-mappings"), 404)

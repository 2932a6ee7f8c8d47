"""The operator console in a real headless Chromium (Debian's, driven by Playwright): sign in at
the development identity provider, walk the tree, issue an IACA and a Document Signer, revoke the
DS and see it on the CRL page, change a status entry and see its list up to date, and a user of
another organization who sees nothing of the first. Screenshots of each step go to
test-output/console/."""
import json
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

import sso
from conftest import ROOT

# A loaded CI machine answers more slowly than a laptop: assertions wait up to 20 s for the page.
expect.set_options(timeout=20_000)

SHOTS = ROOT / "test-output" / "console"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium's own calls home are refused by this machine's closed network: switched off.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def browser():
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def pki(api, stack):
    """Organization A (alice's group mapped to its administrators) with a tenant, a kms, a store, an
    x509-service publishing CRLs to the local S3, two keys and a status configuration; organization B
    for bob."""
    users = stack.oidc_keys()["users"]
    org_a, org_b = api.org(), api.org()
    for org, user in ((org_a, "alice"), (org_b, "bob")):
        r = api.put(f"/v1/{org}.admin/roles-api/roles/external-mappings/{users[user]['groups'][0]}", json={})
        assert r.status_code == 201, r.text
    t = api.tenant(f"{org_a}.mdl")
    registry = {"type": "aws", "bucketName": "status-lists", "region": "us-east-1", "endpointUrl": stack.moto_url,
                "accessKeyId": "test", "secretKey": "test"}
    api.service(f"{t}.kms", "kms")
    api.service(f"{t}.store", "x509-store")
    api.service(f"{t}.x509", "x509-service", dependencies=[f"{t}.kms", f"{t}.store"],
                config={"crl": {"registry": registry, "validityDays": 7}})
    api.service(f"{t}.status", "credential-status", dependencies=[f"{t}.kms"], config={"registry": registry})
    for k in ("iaca", "ds", "status"):
        r = api.post(f"/v1/{t}.kms.{k}/kms-service-api/keys/generate", json={"keyType": "secp256r1"})
        assert r.status_code == 201, r.text
    r = api.post(f"/v1/{t}.status.mdl/credential-status-service-api/status-credential/create",
                 json={"kid": f"{t}.kms.status", "config": {"type": "TokenStatusList", "statusSize": 2, "size": 1024}})
    assert r.status_code == 201, r.text
    r = api.post(f"/v1/{t}.status.mdl/credential-status-service-api/status-credential/entries", json={"count": 1})
    assert r.status_code == 201, r.text
    return {"a": org_a, "b": org_b, "t": t, "entry": r.json()["entries"][0]["id"]}


def shot(page, name):
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page, stack, user):
    page.goto(f"{stack.api_url}/console/")
    expect(page).to_have_url(re.compile(r"/console$"))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/interaction/"))
    shot(page, f"01-{user}-provider-login")
    page.fill("#login", user)
    page.fill("#password", stack.oidc_keys()["users"][user]["password"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("header .who")).to_contain_text(stack.oidc_keys()["users"][user]["email"])


def open_org(page, org):
    page.fill("#org-input", org)
    page.get_by_role("button", name="Open").click()


def test_an_officer_runs_the_pki_and_the_status_lists_in_the_console(browser, stack, pki):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.on("dialog", lambda d: d.accept())
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in(page, stack, "alice")
    shot(page, "02-alice-signed-in")
    # The token is in the page's memory only.
    stored = page.evaluate("() => JSON.stringify([localStorage, sessionStorage, document.cookie])")
    assert "eyJ" not in stored, stored

    open_org(page, pki["a"])
    page.get_by_role("button", name=re.compile("mdl")).click()
    for svc in ("kms", "store", "x509", "status"):
        expect(page.locator(".tree").get_by_role("link", name=svc, exact=True)).to_be_visible()
    shot(page, "03-tree")

    page.locator(".tree").get_by_role("link", name="x509", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("X.509 service x509"))).to_be_visible()
    iaca_form = page.locator("form", has=page.get_by_role("heading", name="Issue an IACA"))
    iaca_form.get_by_label("KMS key path").fill(f"{pki['t']}.kms.iaca")
    iaca_form.get_by_label("Common name").fill("Console IACA")
    iaca_form.get_by_label("Country").fill("US")
    iaca_form.get_by_label("Issuer alternative name URI").fill("https://dmv.example.gov")
    iaca_form.get_by_role("button", name="Issue IACA").click()
    expect(iaca_form.get_by_role("status")).to_contain_text("Issued Console IACA", timeout=30000)
    expect(page.get_by_role("region", name="IACAs")).to_contain_text("Console IACA")
    shot(page, "04-iaca-issued")

    ds_form = page.locator("form", has=page.get_by_role("heading", name="Issue a Document Signer"))
    ds_form.get_by_label("The IACA's KMS key path").fill(f"{pki['t']}.kms.iaca")
    ds_form.get_by_label("Common name").fill("Console DS 1")
    ds_form.get_by_label("Country").fill("US")
    ds_form.get_by_label("DS KMS key path").fill(f"{pki['t']}.kms.ds")
    ds_form.get_by_role("button", name="Issue Document Signer").click()
    expect(ds_form.get_by_role("status")).to_contain_text("Issued Console DS 1", timeout=30000)
    page.get_by_role("button", name="What it signed").click()
    signed = page.get_by_role("region", name=re.compile("Certificates signed by"))
    expect(signed).to_contain_text("Console DS 1")
    expect(signed).to_contain_text("valid")
    shot(page, "05-ds-issued")

    signed.get_by_label("Reason").select_option("keyCompromise")
    signed.get_by_role("button", name="Revoke").click()
    expect(signed).to_contain_text("revoked (keyCompromise)", timeout=30000)
    page.get_by_role("heading", name="CRLs").get_by_role("button", name="Refresh").click()
    crls = page.get_by_role("region", name="CRLs")
    expect(crls.locator("tbody tr").first.locator("td").nth(4)).to_have_text("1")
    expect(crls).to_contain_text("none")  # no publish error
    shot(page, "06-ds-revoked-on-crl")

    page.goto(f"{stack.api_url}/console#/o/{pki['a']}")
    page.reload()
    # A reload loses the in-memory token: the console asks to sign in again (one click, the
    # provider remembers the session).
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("header .who")).to_contain_text("alice")
    expect(page.get_by_role("heading", name=f"Resources of {pki['a']}")).to_be_visible()
    page.goto(f"{stack.api_url}/console#/s/credential-status/{pki['t']}.status")
    entry_form = page.locator("form", has=page.get_by_role("heading", name="Change one entry's status"))
    entry_form.get_by_label("Entry id").fill(pki["entry"])
    entry_form.get_by_label("Status").select_option("0x1")
    entry_form.get_by_role("button", name="Update status").click()
    expect(entry_form.get_by_role("status")).to_contain_text("Published", timeout=30000)
    page.get_by_role("heading", name=re.compile("Configuration mdl")).get_by_role("button", name="Refresh").click()
    lists = page.get_by_role("region", name=re.compile("Lists of"))
    expect(lists.locator("tbody tr").first.locator("td").nth(2)).to_have_text("yes")
    expect(lists.locator("tbody tr").first.locator("td").nth(3)).to_have_text("0")
    # The entry as verifiers see it: read back from the published list and decoded in the page.
    lookup = page.locator("form", has=page.get_by_role("heading", name="Look up one entry"))
    lookup.get_by_label("Entry id").fill(pki["entry"])
    lookup.get_by_role("button", name="Look up").click()
    expect(lookup.get_by_role("status")).to_contain_text("Published status 0x1", timeout=30000)
    shot(page, "07-status-up-to-date")

    page.goto(f"{stack.api_url}/console#/audit/{pki['a']}")
    expect(page.get_by_role("status")).to_contain_text("Chain verified", timeout=30000)
    expect(page.get_by_role("region", name="Audit entries")).to_contain_text("alice (signed in)")
    shot(page, "08-audit")

    # A phone's width: nothing wider than the screen but the tables, which scroll inside.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{stack.api_url}/console#/s/x509-service/{pki['t']}.x509")
    expect(page.get_by_role("region", name="IACAs")).to_be_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    shot(page, "09-phone-width")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/console"))
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    stored = page.evaluate("() => JSON.stringify([localStorage, sessionStorage, document.cookie])")
    assert "eyJ" not in stored
    assert not [e for e in errors if "Content Security Policy" in e], errors
    ctx.close()


def test_a_user_of_another_organization_sees_nothing_of_the_first(browser, stack, pki):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    sign_in(page, stack, "bob")
    open_org(page, pki["a"])
    expect(page.get_by_role("alert")).to_contain_text("403")
    expect(page.locator(".tree")).to_have_count(0)
    shot(page, "10-bob-sees-nothing-of-a")
    page.goto(f"{stack.api_url}/console#/access/{pki['a']}")
    expect(page.get_by_role("alert").first).to_contain_text("403")
    open_org(page, pki["b"])
    expect(page.locator(".tree")).to_contain_text("Nothing here yet")
    shot(page, "11-bob-in-b")
    ctx.close()


def test_the_console_is_served_with_a_strict_policy(api, stack):
    r = api.get("/console", token=None)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert f"connect-src 'self' {stack.oidc_issuer}" in csp
    assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
    assert "<script" in r.text and not re.search(r"<script(?![^>]*\bsrc=)", r.text), "no inline script"
    assert "style=" not in r.text and "<style" not in r.text
    config = api.get("/console/config.json", token=None).json()
    assert config == {"issuer": stack.oidc_issuer, "clientId": "trustfn-console", "scope": "openid email groups",
                      "resource": stack.OIDC_AUDIENCE}
    js = api.get("/console/app.js", token=None, headers={"Accept-Encoding": "gzip"})
    assert js.status_code == 200 and js.headers["content-encoding"] == "gzip" and "preact" not in js.headers.get("etag", "")
    again = api.get("/console/app.js", token=None, headers={"If-None-Match": js.headers["etag"]})
    assert again.status_code == 304
    for path in ("/console/callback", "/console/anything/deeper"):
        assert api.get(path, token=None).text == r.text
    assert api.get("/console/app.map", token=None).status_code == 404
    assert api.get("/console/", token=None, allow_redirects=False).headers["location"] == "/console"
    assert "localStorage" not in api.get("/console/app.js", token=None).text


def test_an_api_key_signs_in_for_the_tab_and_hostile_links_go_nowhere(browser, api, stack, pki):
    token, _ = api.key(pki["a"], ["admin"])
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    calls = []
    page.on("request", lambda r: calls.append(r.url))
    page.goto(f"{stack.api_url}/console")
    page.get_by_role("button", name="Use an API key instead").click()
    page.get_by_label("API key").fill(token)
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("header .who")).to_have_text("API key")
    open_org(page, pki["a"])
    expect(page.locator(".tree")).to_contain_text("mdl")
    # A link whose route parts are not target-shaped never becomes an API path.
    calls.clear()
    page.goto(f"{stack.api_url}/console#/o/..%2F..%2Fhealth")
    expect(page.get_by_role("heading", name="Welcome")).to_be_visible()
    assert not [u for u in calls if "/v1/" in u or "/health" in u], calls
    shot(page, "12-api-key-session")
    stored = page.evaluate("() => JSON.stringify([localStorage, sessionStorage, document.cookie])")
    assert token not in stored
    ctx.close()

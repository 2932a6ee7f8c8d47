"""Tokens of the development OpenID Connect provider (infra/oidc/provider.mjs): real ones, through
the authorization-code flow with PKCE as the console runs it, and crafted ones signed with the
provider's own key (or another), for the cases a provider never issues."""
import base64
import hashlib
import json
import secrets
import time
from urllib.parse import parse_qs, urlencode, urljoin, urlparse

import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

CLIENT_ID = "trustfn-console"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def login(stack, user, password=None):
    """An access token for `user`, by the flow a browser runs (login form, code, PKCE)."""
    password = password or stack.oidc_keys()["users"][user]["password"]
    iss, redirect = stack.oidc_issuer, f"{stack.api_url}/console/callback"
    s = requests.Session()
    verifier = secrets.token_urlsafe(48)
    challenge = b64(hashlib.sha256(verifier.encode()).digest())
    q = {"client_id": CLIENT_ID, "response_type": "code", "redirect_uri": redirect,
         "scope": "openid email groups", "resource": stack.OIDC_AUDIENCE, "state": secrets.token_urlsafe(8),
         "code_challenge": challenge, "code_challenge_method": "S256"}
    r = s.get(f"{iss}/auth?{urlencode(q)}", allow_redirects=False, timeout=30)
    where = urljoin(iss, r.headers["location"])
    assert "/interaction/" in where, r.text
    r = s.post(where, data={"login": user, "password": password}, allow_redirects=False, timeout=30)
    if r.status_code == 401:
        return None
    while "code=" not in r.headers.get("location", ""):
        assert r.status_code in (302, 303), r.text
        r = s.get(urljoin(iss, r.headers["location"]), allow_redirects=False, timeout=30)
    code = parse_qs(urlparse(r.headers["location"]).query)["code"][0]
    t = s.post(f"{iss}/token", timeout=30, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect, "client_id": CLIENT_ID,
        "code_verifier": verifier, "resource": stack.OIDC_AUDIENCE})
    assert t.status_code == 200, t.text
    return t.json()["access_token"]


def claims_of(token):
    return json.loads(unb64(token.split(".")[1]))


def provider_key(stack):
    jwk = stack.oidc_keys()["jwk"]
    d = int.from_bytes(unb64(jwk["d"]), "big")
    return ec.derive_private_key(d, ec.SECP256R1()), jwk["kid"]


def sign(key, header, claims):
    """A compact JWS with an ES256 signature by `key` (a cryptography EC private key)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def crafted(stack, key=None, kid=None, alg="ES256", **overrides):
    """A token as the provider would issue it for alice, with `overrides` applied to the claims
    (a value None removes the claim); signed by the provider's key unless `key` is given."""
    own, own_kid = provider_key(stack)
    keys = stack.oidc_keys()
    now = int(time.time())
    claims = {"iss": keys["issuer"], "aud": keys["audience"], "sub": "alice", "iat": now, "exp": now + 600,
              "groups": keys["users"]["alice"]["groups"], "email": keys["users"]["alice"]["email"],
              "email_verified": True, "client_id": CLIENT_ID, "scope": "trustfn"}
    for k, v in overrides.items():
        if v is None:
            claims.pop(k, None)
        else:
            claims[k] = v
    return sign(key or own, {"alg": alg, "typ": "at+jwt", "kid": kid or own_kid}, claims)

#!/usr/bin/env python3
"""API Gateway HTTP API (payload v2) events, one per function, in infra/events/<function>.json.

    events.py write     (re)generate the fixtures from template.yaml's routes and the samples below
    events.py check     fail if a fixture is missing or differs from what `write` would produce

Use them with `sam local invoke <Fn> -e infra/events/<function>.json` (needs Docker) or with
`cargo lambda invoke <function> --data-file ...` against `cargo lambda watch`. Replace
REPLACE_WITH_ADMIN_TOKEN with your admin token first.
"""
import json
import sys
from pathlib import Path

from routes import CATCH_ALL, ROOT, public_routes, template_routes

EVENTS = ROOT / "infra" / "events"
TOKEN = "REPLACE_WITH_ADMIN_TOKEN"

# A public key and a certificate for the fixtures (made with openssl; the private key was discarded).
FIXTURE_JWK = {"kty": "EC", "crv": "P-256", "x": "kdulwNstXiPb6UQ0Z9EUqq0nGwPDpm0jNSb1U0hzX-U",
               "y": "vqnZTW3G6zB3_pkqmxx44Idj1glv4gNKB4DO5PazY5U"}
FIXTURE_PEM = (
    "-----BEGIN CERTIFICATE-----\nMIIBzjCCAXWgAwIBAgIUMi/rm9V76klHHZspXnKdcKz0XkQwCgYIKoZIzj0EAwIw\n"
    "PTELMAkGA1UEBhMCVVMxEDAOBgNVBAoMB0V4YW1wbGUxHDAaBgNVBAMME0ZpeHR1\ncmUgQ2VydGlmaWNhdGUwHhcNMjYxMTI0MDYwNzEyWhcNNDYxMTE5MDYwNzEyWjA9\n"
    "MQswCQYDVQQGEwJVUzEQMA4GA1UECgwHRXhhbXBsZTEcMBoGA1UEAwwTRml4dHVy\nZSBDZXJ0aWZpY2F0ZTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABJHbpcDbLV4j\n"
    "2+lENGfRFKqtJxsDw6ZtIzUm9VNIc1/lvqnZTW3G6zB3/pkqmxx44Idj1glv4gNK\nB4DO5PazY5WjUzBRMB0GA1UdDgQWBBSFXIK8pZA8kCKGHKVCgrOjCdDMgjAfBgNV\n"
    "HSMEGDAWgBSFXIK8pZA8kCKGHKVCgrOjCdDMgjAPBgNVHRMBAf8EBTADAQH/MAoG\nCCqGSM49BAMCA0cAMEQCIHsXLZvBkNGCVdDW3PsOW4ngGqC5qoyCiOAQY6YalN7s\n"
    "AiAPn4SbT1EuLCEM+J03wVsbUpSmJdCTzifYNckYltdyFg==\n-----END CERTIFICATE-----\n"
)
KMS_KEY = {"type": "kms-hosted-key-descriptor", "keyIdPath": "demo.tenant1.kms1.iaca-key"}

# function -> (path parameters, body or None). Together they walk the seed flow of the README.
SAMPLES = {
    "health": ({}, None),
    "console": ({"proxy": "config.json"}, None),
    "organizations-create": ({}, {"_id": "demo", "profile": {"name": "Demo GmbH"}}),
    "tenants-create": ({"target": "demo.tenant1"}, {"name": "Tenant 1"}),
    "services-create": ({"target": "demo.tenant1.store1"}, {"type": "x509-store"}),
    "resources-list": ({"target": "demo.tenant1"}, None),
    "configuration-view": ({"target": "demo.tenant1.kms1", "api": "kms-service-api"}, None),
    "configuration-update": ({"target": "demo.tenant1.kms1", "api": "kms-service-api"}, {"config": {"note": "eu keys"}}),
    "dependencies-add": ({"target": "demo.tenant1.x509", "api": "x509-service-api"}, "demo.tenant1.kms1"),
    "dependencies-list": ({"target": "demo.tenant1.x509", "api": "x509-service-api"}, None),
    # The store (the kms service holds the recorded IACA's key: removing it is refused).
    "dependencies-remove": ({"target": "demo.tenant1.x509", "api": "x509-service-api"}, "demo.tenant1.store1"),
    "roles-create": ({"target": "demo.viewer"}, {"name": "Viewer", "permissions": [
        {"target": "demo", "action": "resource-list", "operation": "ADD"}]}),
    "roles-list": ({"target": "demo"}, None),
    "roles-external-mappings": ({"target": "demo.admin", "externalRole": "dmv-a-pki-officers"}, {"enabled": True}),
    "api-keys-create": ({"target": "demo.ci"}, {"name": "CI", "roles": ["viewer"], "expiration": "30d"}),
    "api-keys-list": ({"target": "demo"}, None),
    "audit-query": ({}, {"target": "demo", "limit": 10}),
    "audit-verify": ({}, {"target": "demo"}),
    "audit-checkpoints": ({"query": {"organization": "demo"}}, None),
    "events-query": ({"query": {"organization": "demo", "groupBy": "status.type"}}, {}),
    "roles-apikey-assign": ({"target": "demo.viewer"}, {"apikey": "ci"}),
    "roles-apikey-unassign": ({"target": "demo.viewer"}, {"apikey": "demo.ci"}),
    "api-keys-delete": ({"target": "demo.ci"}, None),
    "resources-delete": ({"target": "demo.tenant1.kms1"}, None),
    "keys-generate": ({"target": "demo.tenant1.kms1.iaca-key"}, {"keyType": "secp256r1"}),
    "keys-import-aws": ({"target": "demo.tenant1.kms1.adopted"},
                        {"keyArn": "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"}),
    "keys-list": ({"target": "demo.tenant1.kms1"}, None),
    "keys-view": ({"target": "demo.tenant1.kms1.iaca-key"}, None),
    "keys-delete": ({"target": "demo.tenant1.kms1.iaca-key"}, None),
    "x509-iacas-issue": ({"target": "demo.tenant1.x509"}, {
        "storedCertificateId": "iaca",
        "certificateData": {"country": "US", "commonName": "Demo IACA", "stateOrProvinceName": "US-CA",
                            "issuerAlternativeNameConf": {"uri": "https://dmv.example.gov/mdl"},
                            "crlDistributionPointUri": "https://crl.example.gov/iaca.crl"},
        "iacaKeyDesc": KMS_KEY}),
    "x509-document-signers-issue": ({"target": "demo.tenant1.x509"}, {
        "storedCertificateId": "ds",
        "iacaSigner": {"type": "stored-certificate-descriptor", "storedCertificatePath": "demo.tenant1.store1.iaca",
                       "iacaKeyDesc": KMS_KEY},
        "certificateData": {"country": "US", "commonName": "Demo Document Signer", "stateOrProvinceName": "US-CA",
                            "crlDistributionPointUri": "https://crl.example.gov/iaca.crl"},
        "dsKeyDescriptor": {"type": "jwk-encoded-key-descriptor", "jwk": FIXTURE_JWK}}),
    "x509-status-list-signers-issue": ({"target": "demo.tenant1.x509"}, {
        "storedCertificateId": "status-signer",
        "iacaSigner": {"type": "stored-certificate-descriptor", "storedCertificatePath": "demo.tenant1.store1.iaca",
                       "iacaKeyDesc": KMS_KEY},
        "certificateData": {"country": "US", "commonName": "Demo status-list signer", "stateOrProvinceName": "US-CA",
                            "crlDistributionPointUri": "https://crl.example.gov/iaca.crl"},
        "signerKeyDescriptor": KMS_KEY}),
    "x509-certificates-issued": ({"target": "demo.tenant1.x509"}, None),
    "x509-certificates-report": ({"target": "demo.tenant1.x509", "query": {"format": "json"}}, None),
    "x509-crls": ({"target": "demo.tenant1.x509"}, None),
    "x509-certificates-revoke": ({"target": "demo.tenant1.x509"}, {"serialNumber": "00", "reason": "keyCompromise"}),
    "store-certificates-add": ({"target": "demo.tenant1.store1.manual"}, {"type": "base", "certificatePem": FIXTURE_PEM}),
    "store-certificates-get": ({"target": "demo.tenant1.store1.manual"}, None),
    "store-certificates-ids": ({"target": "demo.tenant1.store1"}, None),
    "store-certificates-update": ({"target": "demo.tenant1.store1.manual"},
                                  {"type": "vical-entry", "certificatePem": FIXTURE_PEM,
                                   "complementaryMetadata": {"docType": ["org.iso.18013.5.1.mDL"]}}),
    "store-certificates-delete": ({"target": "demo.tenant1.store1.manual"}, None),
    "status-credential-create": ({"target": "demo.tenant1.status.revocation"}, {
        "kid": "demo.tenant1.kms1.iaca-key",
        "config": {"type": "TokenStatusList", "format": "JWT", "statusSize": 2,
                   "statuses": [{"status": "0x0", "message": "VALID"}, {"status": "0x1", "message": "INVALID"},
                                {"status": "0x2", "message": "SUSPENDED"}]}}),
    "status-credential-entries": ({"target": "demo.tenant1.status.revocation"}, {"count": 2}),
    "status-credential-update": ({"target": "demo.tenant1.status.revocation"},
                                 {"entry": "REPLACE_WITH_ENTRY_ID", "status": "0x1"}),
    "status-credential-view": ({"target": "demo.tenant1.status.revocation"}, None),
    "status-lists-get": ({"target": "demo.tenant1.status.revocation", "listId": "REPLACE_WITH_LIST_ID",
                          "accept": "application/statuslist+jwt"}, None),
    "x509-vical-signers-issue": ({"target": "demo.tenant1.x509"}, {
        "storedCertificateId": "vical-signer",
        "iacaSigner": {"type": "stored-certificate-descriptor", "storedCertificatePath": "demo.tenant1.store1.iaca",
                       "iacaKeyDesc": KMS_KEY},
        "certificateData": {"country": "US", "commonName": "Demo VICAL signer", "stateOrProvinceName": "US-CA"},
        "signerKeyDescriptor": KMS_KEY}),
    # The last of its routes: PUT .../x509-service-api/default-requests/{operation}.
    "default-requests": ({"target": "demo.tenant1.x509", "operation": "issue-document-signer"}, {
        "iacaSigner": {"type": "stored-certificate-descriptor", "storedCertificatePath": "demo.tenant1.store1.iaca",
                       "iacaKeyDesc": KMS_KEY}}),
    "x509-csrs": ({"target": "demo.tenant1.x509"}, {
        "type": "generic", "subjectKeyDescriptor": KMS_KEY,
        "subjectName": {"commonName": "Example Leaf", "country": "US", "organizationName": "Example Org"},
        "subjectAlternativeNames": {"dnsNames": ["leaf.example.com"]}}),
    "vical-publish": ({"target": "demo.tenant1.vical"}, {
        "vicalProvider": "Example mDL Trust Provider", "versionId": "production-2026-03-23",
        "issuanceDate": "2026-03-23T10:15:30Z", "nextUpdate": "2026-04-23T10:15:30Z"}),
    "vical-versions": ({"target": "demo.tenant1.vical"}, None),
    "vical-registry": ({"target": "demo.tenant1.vical", "query": {"format": "cbor"}}, None),
    "vical-default-requests": ({"target": "demo.tenant1.vical"}, {"vicalProvider": "Example mDL Trust Provider"}),
    "resources-delete-recursive": ({"target": "demo"}, None),
}



def event(method, route, params, body):
    params = dict(params)
    query = params.pop("query", {})
    accept = params.pop("accept", "application/json")
    raw_path = route
    for k, v in params.items():
        raw_path = raw_path.replace("{" + k + "}", v).replace("{" + k + "+}", v)
    headers = {"accept": accept, "host": "abc123.execute-api.eu-central-1.amazonaws.com",
               "user-agent": "curl/8.5.0"}
    if route not in public_routes():
        headers["authorization"] = f"Bearer {TOKEN}"
    ev = {
        "version": "2.0",
        "routeKey": f"{method} {route}",
        "rawPath": raw_path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in query.items()),
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-central-1.amazonaws.com", "domainPrefix": "abc123",
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.1",
                     "userAgent": "curl/8.5.0"},
            "requestId": "fixture-request", "routeKey": f"{method} {route}", "stage": "$default",
            "time": "24/Nov/2026:05:00:00 +0000", "timeEpoch": 1795496400000,
        },
        "isBase64Encoded": False,
    }
    if params:
        ev["pathParameters"] = params
    if query:
        ev["queryStringParameters"] = query
    if body is not None:
        headers["content-type"] = "application/json"
        ev["body"] = json.dumps(body)
    return ev


# Functions triggered by EventBridge schedules: the "Scheduled Event" envelope.
SCHEDULED = {
    "status-refresh": {"version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
                       "source": "aws.events", "account": "123456789012", "time": "2026-11-24T03:00:00Z",
                       "region": "eu-central-1",
                       "resources": ["arn:aws:events:eu-central-1:123456789012:rule/trustfn-StatusRefresh"],
                       "detail": {}},
}


# The catch-all (`ANY /{proxy+}`, function not-found): a request no route matches.
CATCH_ALL_SAMPLE = ("GET", "/v1/demo.tenant1/no-such-api/things")


def catch_all_event():
    method, path = CATCH_ALL_SAMPLE
    ev = event(method, CATCH_ALL, {"proxy": path.lstrip("/")}, None)
    ev["routeKey"] = ev["requestContext"]["routeKey"] = f"ANY {CATCH_ALL}"
    ev["rawPath"] = ev["requestContext"]["http"]["path"] = path
    return ev


def render():
    out = {fn: json.dumps(ev, indent=2) + "\n" for fn, ev in SCHEDULED.items()}
    out["not-found"] = json.dumps(catch_all_event(), indent=2) + "\n"
    for method, route, fn in template_routes():
        if fn not in SAMPLES:
            raise SystemExit(f"events.py: no sample for function {fn}; add one to SAMPLES")
        params, body = SAMPLES[fn]
        out[fn] = json.dumps(event(method, route, params, body), indent=2) + "\n"
    return out


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else "check"
    files = render()
    if cmd == "write":
        EVENTS.mkdir(parents=True, exist_ok=True)
        for fn, text in files.items():
            (EVENTS / f"{fn}.json").write_text(text)
    elif cmd == "check":
        bad = [fn for fn, text in files.items()
               if not (EVENTS / f"{fn}.json").exists() or (EVENTS / f"{fn}.json").read_text() != text]
        stale = [p.stem for p in EVENTS.glob("*.json") if p.stem not in files]
        for fn in bad:
            print(f"infra/events/{fn}.json is missing or stale; run: python infra/scripts/events.py write", file=sys.stderr)
        for fn in stale:
            print(f"infra/events/{fn}.json has no function in template.yaml", file=sys.stderr)
        sys.exit(1 if bad or stale else 0)
    else:
        raise SystemExit(__doc__)

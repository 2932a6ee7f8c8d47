"""Call counts per operation, from the request counter of the local moto (infra/local/moto_serial.py):
what an operation costs in KMS and DynamoDB calls does not grow with the work it covers."""
import requests

from test_status import allocate, create, make_registry, s3  # noqa: F401 (s3 is a fixture)
from test_x509 import ds_body, iaca_body, key, seed

WRITES = ("dynamodb.TransactWriteItems", "dynamodb.PutItem", "dynamodb.UpdateItem", "dynamodb.DeleteItem",
          "dynamodb.BatchWriteItem")


class Calls:
    def __init__(self, stack):
        self.url = f"{stack.moto_url}/_trustfn/calls"

    def __enter__(self):
        requests.post(self.url, timeout=10)
        return self

    def __exit__(self, *exc):
        self.counts = requests.get(self.url, timeout=10).json()

    def __getitem__(self, op):
        return self.counts.get(op, 0)

    def writes(self):
        return sum(self[w] for w in WRITES)


def test_issuing_makes_one_sign_and_one_transaction_whatever_the_number_of_stores(api, stack):
    for stores in (0, 1, 2):
        org, t = seed(api, stores=stores)
        key(api, t, "iaca")
        key(api, t, "ds")
        with Calls(stack) as iaca_calls:
            r = api.post(f"/v1/{t}.x509/x509-service-api/iso/iacas", json=iaca_body(t))
        assert r.status_code == 201, r.text
        assert len(r.json().get("storedCertificateIds", [])) == stores
        with Calls(stack) as ds_calls:
            r = api.post(f"/v1/{t}.x509/x509-service-api/iso/document-signers",
                         json=ds_body(t, r.json()["certificatePEM"]))
        assert r.status_code == 201, r.text
        for calls in (iaca_calls, ds_calls):
            assert calls["kms.Sign"] == 1, calls.counts
            # The stores and the service's record of what it issued: one transaction.
            assert calls["dynamodb.TransactWriteItems"] == 1, calls.counts
            assert calls.writes() == calls["dynamodb.TransactWriteItems"], calls.counts


def test_a_revocation_costs_one_sign_and_the_same_writes_however_many_were_revoked(api, stack, s3):  # noqa: F811
    org, t = seed(api, stores=0)
    registry, _ = make_registry("aws", stack, s3, "calls-crl-" + org)
    doc = api.get(f"/v1/{t}.x509/x509-service-api/configuration/view").json()
    r = api.put(f"/v1/{t}.x509/x509-service-api/configuration/update",
                json={**doc, "config": {"crl": {"registry": registry}}})
    assert r.status_code == 200, r.text
    key(api, t, "iaca")
    key(api, t, "ds")
    iaca = api.post(f"/v1/{t}.x509/x509-service-api/iso/iacas", json=iaca_body(t, crlDistributionPointUri=None))
    assert iaca.status_code == 201, iaca.text
    serials = []
    for _ in range(4):
        r = api.post(f"/v1/{t}.x509/x509-service-api/iso/document-signers",
                     json=ds_body(t, iaca.json()["certificatePEM"], crlDistributionPointUri=None))
        assert r.status_code == 201, r.text
        serials.append(r.json()["certificatePEM"])
    costs = []
    for pem in serials:
        from cryptography import x509
        serial = format(x509.load_pem_x509_certificate(pem.encode()).serial_number, "x")
        with Calls(stack) as calls:
            r = api.post(f"/v1/{t}.x509/x509-service-api/certificates/revoke", json={"serialNumber": serial})
        assert r.status_code == 200 and r.json()["crlPublished"], r.text
        assert calls["kms.Sign"] == 1, calls.counts
        costs.append(calls.writes())
    # Revocation, lease (with the cRLNumber) and release: the same writes for the 1st and the 4th.
    assert len(set(costs)) == 1, costs


def test_an_update_costs_the_same_writes_and_one_sign_whatever_its_size(api, stack, s3):
    org = api.org()
    t = api.tenant(f"{org}.t1")
    api.service(f"{t}.kms", "kms")
    r = api.post(f"/v1/{t}.kms.signer/kms-service-api/keys/generate", json={"keyType": "secp256r1"})
    registry, _ = make_registry("aws", stack, s3, "calls-" + org)
    api.service(f"{t}.status", "credential-status", config={"registry": registry}, dependencies=[f"{t}.kms"])
    env = {"svc": f"{t}.status", "kid": f"{t}.kms.signer"}
    cfg = create(api, env, "calls", {"type": "TokenStatusList"})
    entries = allocate(api, cfg, 200)
    url = f"/v1/{cfg}/credential-status-service-api/status-credential/status/update"
    seen = []
    for batch in (entries[:1], entries[1:11], entries[11:111]):
        body = {"updates": [{"entry": e["id"], "status": "0x1"} for e in batch]}
        with Calls(stack) as calls:
            r = api.put(url, json=body)
        assert r.status_code == 200 and r.json()["updated"] == len(batch), r.text
        # The change's sequence number, one pending item, the lease, the fold (with the pending
        # item's removal), the release.
        assert calls.writes() == 5, calls.counts
        assert calls["kms.Sign"] == 1, "one publish, one signature"
        assert calls["s3.PUT"] == 2, "the list and the aggregation document"
        seen.append(calls.writes())
    assert len(set(seen)) == 1, f"writes grow with the update size: {seen}"

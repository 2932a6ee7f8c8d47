#!/usr/bin/env python3
"""Show and check a VICAL (ISO/IEC 18013-5 Annex C) with the Python standard library and the
openssl command: decodes the COSE_Sign1, verifies its signature with the first x5chain
certificate's key, and prints the VICAL's header and one line per certificate.

    curl -s "$TRUSTFN/v1/<vical service>/vical-service-api/latest?format=cbor" > vical.cbor
    python3 infra/scripts/vical_show.py vical.cbor        # raw CBOR, hex or base64 text
"""
import base64
import binascii
import subprocess
import sys
import tempfile
from pathlib import Path


def read(b, i=0):
    """One CBOR item of `b` at `i` (definite lengths): (value, next index). Tags become
    ("tag", number, value)."""
    major, info = b[i] >> 5, b[i] & 31
    i += 1
    if info < 24:
        n = info
    elif info in (24, 25, 26, 27):
        size = 1 << (info - 24)
        n, i = int.from_bytes(b[i:i + size], "big"), i + size
    else:
        raise ValueError(f"unsupported CBOR head {info} at {i - 1}")
    if major == 0:
        return n, i
    if major == 1:
        return -1 - n, i
    if major in (2, 3):
        raw = b[i:i + n]
        return (raw if major == 2 else raw.decode()), i + n
    if major == 4:
        out = []
        for _ in range(n):
            v, i = read(b, i)
            out.append(v)
        return out, i
    if major == 5:
        out = {}
        for _ in range(n):
            k, i = read(b, i)
            v, i = read(b, i)
            out[k] = v
        return out, i
    if major == 6:
        v, i = read(b, i)
        return ("tag", n, v), i
    raise ValueError(f"unsupported CBOR major type {major}")


def head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | info]) + n.to_bytes(size, "big")


def der_int(x):
    raw = x.to_bytes((x.bit_length() + 8) // 8 or 1, "big")
    return b"\x02" + bytes([len(raw)]) + raw


def der_signature(raw):
    half = len(raw) // 2
    body = der_int(int.from_bytes(raw[:half], "big")) + der_int(int.from_bytes(raw[half:], "big"))
    return b"\x30" + (bytes([len(body)]) if len(body) < 128 else b"\x81" + bytes([len(body)])) + body


def load(path):
    """Raw CBOR (a COSE_Sign1 array, tagged or not), or hex or base64 text of it."""
    data = Path(path).read_bytes()
    if data[:1] in (b"\x84", b"\xd2"):
        return data
    text = data.strip()
    try:
        return binascii.unhexlify(text)
    except binascii.Error:
        return base64.b64decode(text)


def main(path):
    sign1, _ = read(load(path))
    if isinstance(sign1, tuple):
        sign1 = sign1[2]
    protected, unprotected, payload, signature = sign1
    alg = read(protected)[0][1]
    digest = {-7: "-sha256", -35: "-sha384", -36: "-sha512"}[alg]
    chain = unprotected[33] if isinstance(unprotected[33], list) else [unprotected[33]]
    tbs = head(4, 4) + head(3, 10) + b"Signature1"
    for part in (protected, b"", payload):
        tbs += head(2, len(part)) + part
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "signer.der").write_bytes(chain[0])
        (d / "tbs").write_bytes(tbs)
        (d / "sig").write_bytes(der_signature(signature))
        pub = subprocess.run(["openssl", "x509", "-inform", "DER", "-in", d / "signer.der", "-pubkey", "-noout"],
                             capture_output=True, check=True).stdout
        (d / "pub.pem").write_bytes(pub)
        ok = subprocess.run(["openssl", "dgst", digest, "-verify", d / "pub.pem", "-signature", d / "sig", d / "tbs"],
                            capture_output=True, text=True)
        print("signature:", ok.stdout.strip() or ok.stderr.strip())
    vical, _ = read(payload)
    date = lambda v: v[2] if isinstance(v, tuple) else v  # noqa: E731
    print(f"version {vical['version']}, provider {vical['vicalProvider']!r}, vicalIssueID {vical.get('vicalIssueID')}, "
          f"date {date(vical['date'])}, nextUpdate {date(vical.get('nextUpdate'))}, "
          f"{len(vical['certificateInfos'])} certificate(s), x5chain of {len(chain)}")
    for info in vical["certificateInfos"]:
        print(f"  {info.get('issuingCountry')} {info.get('stateOrProvinceName')} {info['docType']} "
              f"ski {info['ski'].hex()} until {date(info['notAfter'])}")
    return 0 if ok.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "/dev/stdin"))

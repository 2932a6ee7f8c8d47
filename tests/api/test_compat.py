"""The walt.id compatibility suite: the Enterprise API examples in tests/compat/examples.json,
replayed in order against the local stack. Each example must answer what walt.id documents, or be
a documented difference: a row of the README table "Differences from the walt.id Enterprise API"
and exactly the answer given there (the walt.id error JSON)."""
import base64
import json
import re
import uuid

from conftest import ROOT, assert_error

EXAMPLES = json.loads((ROOT / "tests" / "compat" / "examples.json").read_text())["examples"]


def readme_differences():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Differences from the walt.id Enterprise API", 1)[1].split("\n## ", 1)[0]
    return {row.split("|")[1].strip() for row in section.splitlines() if row.startswith("| ") and "---" not in row}


def substitute(value, saved):
    """Fills placeholders in strings, lists and objects."""
    if isinstance(value, dict):
        return {substitute(k, saved): substitute(v, saved) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, saved) for v in value]
    if not isinstance(value, str):
        return value

    def one(m):
        name = m.group(1)
        if name.startswith("didjwk:"):
            jwk = json.dumps(saved[name[7:]], separators=(",", ":")).encode()
            return "did:jwk:" + base64.urlsafe_b64encode(jwk).decode().rstrip("=")
        if name.startswith("pem:"):
            return saved[name[4:]]
        return str(saved[name])
    return re.sub(r"\{([A-Za-z0-9:]+)\}", one, value)


def dig(doc, path):
    for part in path.split("."):
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc


def test_the_enterprise_api_examples_answer_as_documented_or_as_a_documented_difference(api):
    differences = readme_differences()
    saved = {"org": "o" + uuid.uuid4().hex[:10]}
    failures, replayed, differ = [], 0, 0
    for ex in EXAMPLES:
        method, path = ex["method"], substitute(ex["path"], saved)
        kw = {"headers": dict(ex.get("headers", {}))}
        if "raw" in ex:
            kw["data"] = substitute(ex["raw"], saved).encode()
        elif "body" in ex:
            kw["json"] = substitute(ex["body"], saved)
        if ex.get("auth") is False:
            kw["token"] = None
        r = api.request(method, path, **kw)
        label = f"{ex['name']} ({method} {ex['path']})"
        want = ex.get("differs")
        if want:
            differ += 1
            if want["readme"] not in differences:
                failures.append(f"{label}: no README difference row {want['readme']!r}")
            elif r.status_code != want["status"]:
                failures.append(f"{label}: the documented difference answers {want['status']}, got {r.status_code} {r.text[:200]}")
            else:
                assert_error(r, want["status"])
            continue
        replayed += 0 if ex.get("setup") else 1
        expect = ex["expect"]
        if r.status_code != expect["status"]:
            failures.append(f"{label}: expected {expect['status']}, got {r.status_code} {r.text[:300]}")
            continue
        body = r.json() if r.content and r.headers.get("content-type", "").startswith("application/json") else None
        missing = [f for f in expect.get("fields", []) if not isinstance(body, dict) or f not in body]
        if missing:
            failures.append(f"{label}: answer lacks {missing}: {r.text[:300]}")
        if "equals" in expect and body != substitute(expect["equals"], saved):
            failures.append(f"{label}: answered {body}, documented {expect['equals']}")
        if "length" in expect and (not isinstance(body, list) or len(body) != expect["length"]):
            failures.append(f"{label}: answered {body}")
        for where, value in substitute(expect.get("values", {}), saved).items():
            try:
                got = dig(body, where)
            except (KeyError, IndexError, TypeError):
                got = "(absent)"
            if got != value:
                failures.append(f"{label}: {where} is {got!r}, documented {value!r}")
        item_fields = expect.get("item_fields", [])
        if item_fields and (not isinstance(body, list) or not body
                            or any(not isinstance(i, dict) or f not in i for i in body for f in item_fields)):
            failures.append(f"{label}: not every item carries {item_fields}: {r.text[:300]}")
        for name, where in ex.get("save", {}).items():
            saved[name] = dig(body, where)
    assert not failures, "\n".join(failures)
    assert replayed >= 42 and differ >= 1, (replayed, differ)

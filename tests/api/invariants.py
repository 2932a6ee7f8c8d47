"""Storage invariants of the trustfn table, checked after fuzzing and fault injection: what a
half-written operation would leave behind shows up here."""
import json

from conftest import table_items


def violations(ddb, table="trustfn"):
    items = table_items(ddb, table)
    resources = {i["_id"]["S"]: i for i in items if i["pk"]["S"].startswith("R#")}
    children = {}
    for rid, i in resources.items():
        parent = i.get("parent", {}).get("S")
        if parent is not None:
            children[parent] = children.get(parent, 0) + 1
    fwd = {(i["pk"]["S"][2:], i["sk"]["S"]) for i in items if i["pk"]["S"].startswith("D#")}
    rev = {(i["sk"]["S"], i["pk"]["S"][2:]) for i in items if i["pk"]["S"].startswith("U#")}
    out = []
    for rid, i in resources.items():
        parent = i.get("parent", {}).get("S")
        if parent is not None and parent not in resources:
            out.append(f"{rid}: parent {parent} does not exist")
        if int(i["children"]["N"]) != children.get(rid, 0):
            out.append(f"{rid}: children counter {i['children']['N']} but {children.get(rid, 0)} children")
        deps = sum(1 for (_, to) in rev if to == rid)
        if int(i["dependants"]["N"]) != deps:
            out.append(f"{rid}: dependants counter {i['dependants']['N']} but {deps} edges")
    for edge in fwd ^ rev:
        out.append(f"edge {edge} is stored in one direction only")
    for frm, to in fwd:
        for end in (frm, to):
            if end not in resources:
                out.append(f"edge {frm} -> {to}: {end} does not exist")
    for rid, i in resources.items():
        if i.get("type", {}).get("S") != "status-credential":
            continue
        doc = json.loads(i["doc"]["S"])
        key = resources.get(doc["kid"])
        if key is None or key.get("type", {}).get("S") != "key":
            out.append(f"{rid}: kid {doc['kid']} is not an existing key")
        elif (rid, doc["kid"]) not in fwd:
            out.append(f"{rid}: no edge to its kid {doc['kid']}")
        for list_id in doc.get("lists", []) + ([doc["currentList"]] if doc.get("currentList") else []):
            if f"{rid}.{list_id}" not in resources:
                out.append(f"{rid}: list {list_id} does not exist")
    for i in items:
        pk = i["pk"]["S"]
        if pk.startswith("T#") and i["keyId"]["S"] not in resources:
            out.append(f"token of {i['keyId']['S']}: the key record does not exist")
        if pk.startswith("P#") and pk[2:] not in resources:
            out.append(f"pending changes of {pk[2:]}: the list does not exist")
        if pk.startswith("Q#") and pk[2:] not in resources:
            out.append(f"change sequence of {pk[2:]}: the list does not exist")
        if pk.startswith("S#") and pk[2:] not in resources:
            out.append(f"status chunk {i['sk']['S']} of {pk[2:]}: the list does not exist")
        if pk.startswith("LV#") and pk[3:] not in resources:
            out.append(f"kept version {i['sk']['S']} of {pk[3:]}: the list does not exist")
        if pk.startswith("A#"):
            lst = resources.get(pk[2:])
            if lst is None:
                out.append(f"allocation counter of {pk[2:]}: the list does not exist")
            elif int(i["n"]["N"]) > json.loads(lst["doc"]["S"])["size"]:
                out.append(f"allocation counter of {pk[2:]}: {i['n']['N']} exceeds the list's size")
        if pk.startswith("V#"):
            # An IACA's revoked set: one entry per revoked certificate under it, with its date.
            rec = resources.get(f"{pk[2:]}.{i['sk']['S']}")
            doc = json.loads(rec["doc"]["S"]) if rec and "doc" in rec else {}
            rev = doc.get("revocation")
            if not rev:
                out.append(f"revoked-set entry {pk[2:]} {i['sk']['S']}: no revoked certificate")
            elif int(i["rd"]["N"]) != iso_seconds(rev["revocationDate"]):
                out.append(f"revoked-set entry {pk[2:]} {i['sk']['S']}: date differs from the record's")
        if pk.startswith("C#organization-id:"):
            # Held for good, also after the organization is deleted (ids are never reused).
            if i["owner"]["S"] != pk[len("C#organization-id:"):]:
                out.append(f"claim {pk[2:]}: held by {i['owner']['S']}")
        elif pk.startswith("C#"):
            owner = resources.get(i["owner"]["S"])
            arn = pk[len("C#kms-key:"):]
            doc = json.loads(owner["doc"]["S"]) if owner and "doc" in owner else {}
            if not (doc.get("imported") and doc.get("kmsKeyArn") == arn):
                out.append(f"claim {pk[2:]}: {i['owner']['S']} is not the adopted key of that ARN")
    # Every revocation of an IACA that keeps a revoked set is in it.
    entries = {(i["pk"]["S"][2:], i["sk"]["S"]) for i in items if i["pk"]["S"].startswith("V#")}
    for rid, i in resources.items():
        if i.get("type", {}).get("S") != "issued-certificate":
            continue
        doc = json.loads(i["doc"]["S"])
        parent = resources.get(i.get("parent", {}).get("S", ""))
        pdoc = json.loads(parent["doc"]["S"]) if parent and parent.get("type", {}).get("S") == "issued-certificate" else None
        if doc.get("revocation") and pdoc and (pdoc.get("crl") or {}).get("_revokedSet") \
                and (rid.rsplit(".", 1)[0], rid.rsplit(".", 1)[1]) not in entries:
            out.append(f"{rid}: revoked, but not in its IACA's revoked set")
    # A published VICAL's issue id was handed out by its service's series (never reused), and the
    # service's latest is one of its versions.
    series = {i["pk"]["S"][len("N#vical-issue:"):]: int(i["n"]["N"]) for i in items
              if i["pk"]["S"].startswith("N#vical-issue:")}
    for rid, i in resources.items():
        kind = i.get("type", {}).get("S")
        if kind == "vical-version":
            n = json.loads(i["doc"]["S"])["vicalIssueId"]
            if n > series.get(i["parent"]["S"], 0):
                out.append(f"{rid}: vicalIssueID {n} is above its service's issue counter")
        if kind == "service":
            doc = json.loads(i["doc"]["S"])
            latest = doc.get("config", {}).get("_latest") if doc.get("type") == "vical-service" else None
            if latest and f"{rid}.{latest}" not in resources:
                out.append(f"{rid}: its latest VICAL {latest} does not exist")
    return out


def iso_seconds(text):
    from datetime import datetime
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())

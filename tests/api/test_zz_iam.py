"""IAM proven against real calls (README "Deploy"): every AWS call a function made during this
test run (the local moto records each distinct one, signed with the function's own access key,
with the key's tags and key policy for KMS) is evaluated against that function's policy in
template.yaml by an IAM policy simulator (@cloud-copilot/iam-simulate, conditions and tags
included). Any call the deployed function's role would be refused fails the run. Runs last, so it
sees the calls of every other test."""
import json
import re
import subprocess

import pytest

import routes
from conftest import ROOT

ACCOUNT, REGION, STACK = "123456789012", "us-east-1", "trustfn-local"
SIMULATOR = ROOT / "infra" / "scripts" / "iam_simulate.cjs"


def role(fn):
    """The role each function runs as in the simulation (the local stack names keys-generate's in
    every generated key's policy the same way)."""
    return f"arn:aws:iam::{ACCOUNT}:role/{STACK}-{fn}"


def kms_arn(key_id):
    return key_id if key_id.startswith("arn:") else f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"


class Resolver:
    """Resolves the intrinsic functions template.yaml's policies use, for the local stack."""

    def __init__(self, doc, stack):
        self.doc = doc
        self.atts = {"Table.Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/trustfn",
                     "SecretsKey.Arn": kms_arn(stack.secrets_key),
                     "AuditCheckpointKey.Arn": kms_arn(stack.checkpoint_key)}
        self.refs = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": "aws",
                     "AWS::StackName": STACK, "AWS::URLSuffix": "amazonaws.com",
                     # The buckets the local stack lets functions write with their own identity.
                     "StatusBuckets": ["status-lists"]}

    def att(self, name):
        if name in self.atts:
            return self.atts[name]
        m = re.fullmatch(r"(\w+)FunctionRole\.Arn", name)
        if m:
            binary = self.doc["Resources"][m.group(1) + "Function"]["Metadata"]["BuildProperties"]["Binary"]
            return role(binary)
        raise KeyError(f"no local value for !GetAtt {name}")

    def __call__(self, v, env=None):
        env = env or {}
        if isinstance(v, list):
            return [self(x, env) for x in v]
        if not isinstance(v, dict):
            return v
        if len(v) == 1:
            (k, x), = v.items()
            if k == "Ref":
                return env.get(x, self.refs[x]) if x in env or x in self.refs else pytest.fail(f"!Ref {x}")
            if k == "GetAtt":
                return self.att(x if isinstance(x, str) else ".".join(x))
            if k == "Sub":
                text, names = (x, {}) if isinstance(x, str) else (x[0], {n: self(e, env) for n, e in x[1].items()})

                def one(m):
                    name = m.group(1)
                    if name in names:
                        return names[name]
                    if name in self.refs:
                        return self.refs[name]
                    return self.att(name)
                return re.sub(r"\$\{([^}]+)\}", one, text)
            if k == "Join":
                sep, parts = self(x[0], env), self(x[1], env)
                flat = [p for part in parts for p in (part if isinstance(part, list) else [part])]
                return sep.join(flat)
            if k == "Split":
                return self(x[1], env).split(self(x[0], env))
        return {k: self(x, env) for k, x in v.items()}


def policies(stack):
    doc = routes.yaml.load((ROOT / "template.yaml").read_text(), Loader=routes._CfnLoader)
    resolve = Resolver(doc, stack)
    out = {}
    for res in doc["Resources"].values():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        fn = res["Metadata"]["BuildProperties"]["Binary"]
        statements = [s for p in res["Properties"].get("Policies") or [] for s in resolve(p["Statement"])]
        out[fn] = [{"name": f"{fn}-inline", "policy": {"Version": "2012-10-17", "Statement": statements}}] \
            if statements else []
    return out


def normalized(call):
    """One simulation stands for every call that differs only in which item it wrote: the
    partition keys keep their kind (`L#`, `H#`, `R#`...), which is all the conditions look at."""
    ctx = dict(call["context"])
    if "dynamodb:LeadingKeys" in ctx:
        ctx["dynamodb:LeadingKeys"] = [k.split("#", 1)[0] + "#x" if "#" in k else "x"
                                       for k in ctx["dynamodb:LeadingKeys"]]
    return {**call, "context": ctx}


def simulate(sims):
    r = subprocess.run(["node", str(SIMULATOR)], input=json.dumps(sims), capture_output=True, text=True,
                       timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    return {o["id"]: o for o in json.loads(r.stdout)}


def simulation(i, call, pols):
    s = {"id": i, "principal": role(call["function"]), "action": call["action"], "resource": call["resource"],
         "context": {"aws:ResourceAccount": ACCOUNT, "aws:PrincipalAccount": ACCOUNT, **call["context"]},
         "identityPolicies": pols.get(call["function"], [])}
    if call.get("keyPolicy"):
        s["resourcePolicy"] = call["keyPolicy"]
    if call["action"].startswith("kms:") and call["resource"] == "*" or call["action"].startswith("s3:"):
        s["context"].pop("aws:ResourceAccount", None) if call["resource"] == "*" else None
    return s


# Calls the tests make on purpose that AWS refuses, and why that is the intended answer: importing
# a key that was never granted (no `trustfn:adopt-by` tag, or no such key). The KMS adapter reads
# AccessDeniedException as "not visible" (`shared/kms/src/lib.rs`, not_found_or_unavailable), so
# the import answers 404 in AWS exactly as it does here, where the function checks the tag itself.
EXPECTED_DENIALS = [
    ("keys-import-aws", {"kms:DescribeKey", "kms:ListResourceTags", "kms:GetPublicKey"},
     lambda ctx: "aws:ResourceTag/trustfn:adopt-by" not in ctx),
]


def expected_denial(sim):
    fn = sim["principal"].rsplit("/", 1)[1][len(STACK) + 1:]
    return any(fn == f and sim["action"] in actions and rule(sim["context"]) for f, actions, rule in EXPECTED_DENIALS)


def test_every_aws_call_a_function_made_is_allowed_by_its_role_and_nothing_foreign_is(stack, api):
    # Some calls of its own, so the test means something when it runs alone: a key generated
    # (CreateKey under its key policy, TagResource, GetPublicKey) and an IACA signed with it.
    from test_x509 import iaca_body, key, seed
    _, t = seed(api, stores=1)
    key(api, t, "iaca")
    assert api.post(f"/v1/{t}.x509/x509-service-api/iso/iacas", json=iaca_body(t)).status_code == 201
    calls = [json.loads(line) for line in stack.call_log.read_text().splitlines()]
    distinct = {json.dumps(normalized(c), sort_keys=True): normalized(c) for c in calls}
    pols = policies(stack)
    unknown = sorted({c["function"] for c in distinct.values()} - set(pols))
    assert not unknown, f"calls from functions not in template.yaml: {unknown}"
    sims = [simulation(i, c, pols) for i, c in enumerate(distinct.values())]
    # Negative controls: what the roles must refuse, however the code behaves.
    foreign_key = kms_arn("11111111-2222-3333-4444-555555555555")
    controls = [
        # Signing with a key that carries no trustfn tag (someone else's key in the account).
        {"function": "x509-iacas-issue", "action": "kms:Sign", "resource": foreign_key, "context": {}},
        # A key tagged for another stack may not be scheduled for deletion.
        {"function": "keys-delete", "action": "kms:ScheduleKeyDeletion", "resource": foreign_key,
         "context": {"aws:ResourceTag/trustfn:stack": "someone-else", "aws:ResourceTag/trustfn:path": "a.b.c"}},
        # A read-only function writes only audit entries and chain heads.
        {"function": "resources-list", "action": "dynamodb:PutItem",
         "resource": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/trustfn", "context": {"dynamodb:LeadingKeys": ["R#x"]}},
        # No function may tag a key through IAM.
        {"function": "keys-generate", "action": "kms:TagResource", "resource": foreign_key,
         "context": {"aws:RequestTag/trustfn:path": "a.b.c", "aws:TagKeys": ["trustfn:path"]}},
    ]
    first_control = len(sims)
    sims += [simulation(first_control + i, c, pols) for i, c in enumerate(controls)]
    results = simulate(sims)
    errors = [(s, results[s["id"]]) for s in sims if results[s["id"]]["result"] == "Error"]
    assert not errors, f"the simulator could not evaluate {len(errors)} calls, e.g. {errors[:2]}"
    refused = [s for s in sims[:first_control] if results[s["id"]]["result"] != "Allowed"]
    expected = [s for s in refused if expected_denial(s)]
    denied = [s for s in refused if not expected_denial(s)]
    report = [(s["principal"].rsplit("/", 1)[1], s["action"], s["resource"], s["context"]) for s in denied]
    assert not denied, f"{len(denied)} of {first_control} recorded calls would be refused in AWS: {report[:10]}"
    for s in sims[first_control:]:
        assert results[s["id"]]["result"] != "Allowed", f"negative control allowed: {s}"
    kinds = {c["action"].split(":")[0] for c in distinct.values()}
    assert {"dynamodb", "kms"} <= kinds and len(distinct) > 20, (len(distinct), kinds)
    (stack.log_dir / "iam-simulation.json").write_text(json.dumps(
        {"recorded": len(calls), "simulated": first_control, "denied": len(denied),
         "denied_as_intended": len(expected), "controls": len(controls)}))

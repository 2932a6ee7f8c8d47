"""Runs last (file order): no secret handed to or made by the service during the whole run
appears in any answer (body or header), any log line of the functions or the gateway, or in
clear in the table. Secrets: the admin token, every API-key token, registry secrets."""
import json
import re

from conftest import RECORDED, SECRETS, table_items, table_text
from test_status import AZURITE_KEY, SECRET


def test_no_secret_in_any_answer_log_or_item(stack, ddb):
    secrets = {s for s in SECRETS | {stack.admin_token, SECRET, AZURITE_KEY} if len(s) >= 16}
    assert len(secrets) >= 3
    leaks = []
    for method, path, status, headers, body in RECORDED:
        text = body + json.dumps(headers)
        for sec in secrets:
            if sec not in text:
                continue
            # An API key's token is shown once, in the answer that creates it.
            if path.endswith("/apikeys-api/api-keys/create") and status == 201 and json.loads(body)["token"] == sec:
                continue
            leaks.append(f"{method} {path} -> {status} contains a secret")
    logs = sorted(stack.log_dir.glob("fn-*.log")) + [stack.log_dir / "api.log"]
    assert len(logs) > 10, "the functions logged"
    for log in logs:
        text = log.read_text(errors="replace")
        leaks += [f"{log.name} contains a secret" for sec in secrets if sec in text]
    # Secrets by shape, whoever made them: SAS signatures, Google access tokens, private keys.
    shapes = re.compile(r"sig=(?!\*\*\*)[A-Za-z0-9%+/=]{8,}|ya29\.[A-Za-z0-9_-]{8,}|-----BEGIN [A-Z ]*PRIVATE KEY")
    for log in logs:
        leaks += [f"{log.name} contains {m.group(0)[:8]}..." for m in shapes.finditer(log.read_text(errors="replace"))]
    for method, path, status, headers, body in RECORDED:
        leaks += [f"{method} {path} -> {status} contains {m.group(0)[:8]}..." for m in shapes.finditer(body)]
    items = table_text(ddb)
    leaks += ["the table holds a secret in clear" for sec in secrets if sec in items]
    print(f"secrets: {len(secrets)} secrets, {len(RECORDED)} answers, {len(logs)} logs checked")
    assert leaks == []

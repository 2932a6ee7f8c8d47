#!/usr/bin/env python3
"""Summarises a cargo-mutants run (mutants.out/outcomes.json): caught, missed, timeouts and
unviable mutants, the caught ratio (caught + timeouts over viable mutants), and every missed
mutant. A "missed" mutant whose log stops inside a test binary (the tests were killed, e.g. a
mutant that allocates without bound and meets the out-of-memory killer) is counted as crashed,
i.e. caught, and listed apart. Exits 1 when the ratio is under 90%."""
import json
import sys
from pathlib import Path

TARGET = 0.90


def crashed(out_dir: Path, outcome: dict) -> bool:
    """Whether the mutant's test log ends in a running test binary with no result."""
    log = outcome.get("log_path")
    if not log:
        return False
    lines = (out_dir / log).read_text(errors="replace").splitlines()
    last_run = max((i for i, l in enumerate(lines) if l.strip().startswith("Running `")), default=-1)
    return last_run >= 0 and not any(l.startswith("test result:") for l in lines[last_run:])


def main(out_dir: str) -> int:
    out = Path(out_dir)
    outcomes = json.loads((out / "outcomes.json").read_text())
    counts = {k: 0 for k in ("caught", "missed", "timeout", "unviable", "crashed")}
    missed, killed = [], []
    for o in outcomes["outcomes"]:
        scenario = o.get("scenario")
        if not isinstance(scenario, dict) or "Mutant" not in scenario:
            continue  # the baseline
        summary = o.get("summary", "")
        key = {"CaughtMutant": "caught", "MissedMutant": "missed", "Timeout": "timeout",
               "Unviable": "unviable"}.get(summary)
        if key is None:
            continue
        m = scenario["Mutant"]
        name = m.get("name") or f"{m.get('file')}: {m.get('replacement')}"
        if key == "missed" and crashed(out, o):
            key = "crashed"
            killed.append(name)
        counts[key] += 1
        if key == "missed":
            missed.append(name)
    detected = counts["caught"] + counts["timeout"] + counts["crashed"]
    viable = detected + counts["missed"]
    ratio = detected / viable if viable else 0.0
    print(f"mutants: {viable} viable ({counts['unviable']} unviable): {counts['caught']} caught, "
          f"{counts['timeout']} timeouts, {counts['crashed']} crashed the tests, "
          f"{counts['missed']} missed; caught ratio {ratio:.1%}")
    for m in killed:
        print(f"  crashed: {m}")
    for m in missed:
        print(f"  missed: {m}")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "mutants.out"))

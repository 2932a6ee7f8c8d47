#!/usr/bin/env python3
"""Summarises a cargo-mutants run (mutants.out/outcomes.json): caught, missed, timeouts and
unviable mutants, the caught ratio (caught + timeouts over viable mutants), and every missed
mutant. Exits 1 when the ratio is under 90%."""
import json
import sys
from pathlib import Path

TARGET = 0.90


def main(out_dir: str) -> int:
    outcomes = json.loads((Path(out_dir) / "outcomes.json").read_text())
    counts = {k: 0 for k in ("caught", "missed", "timeout", "unviable")}
    missed = []
    for o in outcomes["outcomes"]:
        scenario = o.get("scenario")
        if not isinstance(scenario, dict) or "Mutant" not in scenario:
            continue  # the baseline
        summary = o.get("summary", "")
        key = {"CaughtMutant": "caught", "MissedMutant": "missed", "Timeout": "timeout",
               "Unviable": "unviable"}.get(summary)
        if key is None:
            continue
        counts[key] += 1
        if key == "missed":
            m = scenario["Mutant"]
            missed.append(m.get("name") or f"{m.get('file')}: {m.get('replacement')}")
    viable = counts["caught"] + counts["missed"] + counts["timeout"]
    ratio = (counts["caught"] + counts["timeout"]) / viable if viable else 0.0
    print(f"mutants: {viable} viable ({counts['unviable']} unviable): {counts['caught']} caught, "
          f"{counts['timeout']} timeouts, {counts['missed']} missed; caught ratio {ratio:.1%}")
    for m in missed:
        print(f"  missed: {m}")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "mutants.out"))

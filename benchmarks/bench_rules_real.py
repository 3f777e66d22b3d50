"""`instruct_rules` on real, human-written instruction records nobody corrupted: how many good
records does it reject, by which rule, and which? (The corruption benchmark, bench_instruct.py,
measures the other side: what the rules catch.)

    .venv/bin/python benchmarks/bench_rules_real.py [--extra more.jsonl ...] [--show N]

Always read: the Self-Instruct seed tasks (175) and user-oriented tasks (252) in
../shared/data/instruction-eval-sets, first instance of each. `--extra`: JSONL of alpaca
records (instruction, input, output), e.g. a slice of Databricks Dolly-15k.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_instruct import table  # noqa: E402

from scorers import InstructRules  # noqa: E402

DATA = Path(os.environ.get("TAMIS_SHARED_DATA", REPO.parent / "shared" / "data"))
SELF_INSTRUCT = ("alpaca_seed_tasks.jsonl", "sinstruct_test_set.jsonl")


def self_instruct() -> list[dict[str, str]]:
    """The seed and user-oriented tasks with their first written answer, as alpaca records."""
    rows = []
    for name in SELF_INSTRUCT:
        for line in (DATA / "instruction-eval-sets" / name).read_text().splitlines():
            task = json.loads(line)
            first = task["instances"][0]
            rows.append(
                {
                    "instruction": task["instruction"],
                    "input": first["input"],
                    "output": first["output"],
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", nargs="*", default=[], help="more alpaca JSONL files")
    parser.add_argument("--show", type=int, default=5, help="rejected records printed per set")
    args = parser.parse_args()
    sets = {"Self-Instruct seed + user tasks": self_instruct()}
    for path in args.extra:
        sets[Path(path).name] = [
            {k: r.get(k) or "" for k in ("instruction", "input", "output")}
            for r in map(json.loads, Path(path).read_text().splitlines())
        ]
    rules = InstructRules()
    rules.ready()
    for name, rows in sets.items():
        reasons = rules.reasons(table(rows)).to_pylist()
        hit = [(r, row) for r, row in zip(reasons, rows, strict=True) if r]
        print(f"\n## {name}: {len(rows)} records, {len(hit)} rejected ({len(hit) / len(rows):.1%})")
        for reason, count in Counter(r for r, _ in hit).most_common():
            print(f"  {reason}: {count}")
        for reason, row in hit[: args.show]:
            print(f"  - {reason}: {row['instruction'][:70]!r} -> {row['output'][:90]!r}")


if __name__ == "__main__":
    main()

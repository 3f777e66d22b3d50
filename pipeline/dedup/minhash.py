"""MinHash signatures and LSH band keys, vectorised with numpy over a whole batch of texts.

Shingles are word n-grams of normalised text (lowercase, no punctuation). Each shingle gets a
well-mixed 32-bit hash x; permutation i is the affine bijection a_i * x + b_i mod 2**32 (a_i
odd, seeded), computed in uint32 where the wraparound is the modulo (datasketch's "affine32"
scheme), and a document's signature is the minimum over its shingles.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from pipeline.dedup.exact import normalise
from pipeline.global_steps.shuffle import mix64

EMPTY = np.uint32(0xFFFFFFFF)  # signature of a text without words: never banded
SHINGLE_BLOCK = 1 << 15  # shingles permuted at once: bounds the (permutations x block) matrix
# Missing a duplicate costs more than a spurious candidate (which `verify` can remove), so the
# band layout weighs false negatives 9:1: at 0.8, 14 bands of 9 rows from 128 permutations.
FP_WEIGHT = 0.1
# Odd 64-bit multipliers, one per word position in a shingle: a shingle's hash is the mixed sum.
POSITION_WEIGHTS = mix64(np.arange(1, 65, dtype=np.uint64)) | np.uint64(1)


def shingle_hashes(texts: pa.Array | pa.ChunkedArray, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """(uint64 hash of every word n-gram, index of the first n-gram of each text + the total).

    A text with fewer than `ngram` words has one shingle, all its words.
    """
    return word_shingles(*word_hashes(texts), ngram)


def word_shingles(
    word_hash: np.ndarray, lengths: np.ndarray, ngram: int
) -> tuple[np.ndarray, np.ndarray]:
    """`shingle_hashes` from the texts' `word_hashes`: several n-gram lengths share them."""
    ends = np.cumsum(lengths)
    starts = ends - lengths
    # One shingle per position where a full n-gram fits, or one at the start of a short text.
    counts = np.where(lengths >= ngram, lengths - ngram + 1, np.minimum(lengths, 1))
    offsets = np.concatenate([[0], np.cumsum(counts)])
    position = np.repeat(starts - offsets[:-1], counts) + np.arange(offsets[-1])
    if not len(position):
        return np.zeros(0, np.uint64), offsets
    short = bool((lengths[counts > 0] < ngram).any())
    end = np.repeat(ends, counts) if short else None
    shingles = word_hash[position] * POSITION_WEIGHTS[0]
    for k in range(1, ngram):
        following = word_hash[np.minimum(position + k, len(word_hash) - 1)] * POSITION_WEIGHTS[k]
        if end is not None:  # short texts: words past their end do not count
            following = np.where(position + k < end, following, np.uint64(0))
        shingles += following
    return mix64(shingles), offsets


def word_counts(texts: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The words of each text that shingles are made of (those left after normalising)."""
    return word_hashes(texts)[1]


def word_hashes(texts: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(hash of every normalised word of every text, in order; the words of each text)."""
    words = pc.utf8_split_whitespace(pc.fill_null(texts, ""))
    if isinstance(words, pa.ChunkedArray):
        words = words.combine_chunks()
    flat = pc.list_flatten(words)
    doc_of_word = pc.list_parent_indices(words).to_numpy()
    # Normalise each distinct word once (lowercase, no punctuation or symbols), not the text.
    encoded = pc.dictionary_encode(flat)
    vocab = normalise(encoded.dictionary).to_pylist()
    vocab_hash = np.array([xxhash.xxh3_64_intdigest(w.encode()) for w in vocab], np.uint64)
    word_index = encoded.indices.to_numpy(zero_copy_only=False)
    real = np.array([bool(w) for w in vocab], bool)[word_index]  # words left empty are dropped
    word_hash = vocab_hash[word_index[real]] if len(vocab) else np.zeros(0, np.uint64)
    lengths = np.bincount(doc_of_word[real], minlength=len(words)).astype(np.int64)
    return word_hash, lengths


@lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded affine parameters (a odd, b), as (num_perm x 1) uint32 columns."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2**32, num_perm, dtype=np.uint64).astype(np.uint32) | np.uint32(1)
    b = rng.integers(0, 2**32, num_perm, dtype=np.uint64).astype(np.uint32)
    return a[:, None], b[:, None]


def signatures(
    texts: pa.Array | pa.ChunkedArray, num_perm: int, ngram: int, seed: int
) -> np.ndarray:
    """(texts x num_perm) uint32 MinHash signatures; rows of EMPTY for texts without words."""
    shingles, offsets = shingle_hashes(texts, ngram)
    a, b = permutations(num_perm, seed)
    x = (shingles >> np.uint64(32)).astype(np.uint32)[None, :]
    docs = len(offsets) - 1
    out = np.full((num_perm, docs), EMPTY, np.uint32)
    doc = 0
    while doc < docs:
        # Take whole documents until the block is full (one document may exceed it alone).
        stop = int(np.searchsorted(offsets, offsets[doc] + SHINGLE_BLOCK, "right")) - 1
        stop = min(max(stop, doc + 1), docs)
        lo, hi = offsets[doc], offsets[stop]
        if hi > lo:
            hashed = a * x[:, lo:hi] + b  # uint32: wraps modulo 2**32
            nonempty = np.flatnonzero(np.diff(offsets[doc : stop + 1]) > 0)
            found = np.minimum.reduceat(hashed, offsets[doc:stop][nonempty] - lo, axis=1)
            out[:, doc + nonempty] = found
        doc = stop
    return np.ascontiguousarray(out.T)


def band_keys(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(texts x bands) uint64 key of each band of each signature (band index mixed in)."""
    keys = np.broadcast_to(mix64(np.arange(bands, dtype=np.uint64)), (len(sigs), bands)).copy()
    for r in range(rows):
        keys = mix64(keys ^ sigs[:, r : bands * rows : rows].astype(np.uint64))
    return keys


def lsh_params(threshold: float, num_perm: int, fp_weight: float = FP_WEIGHT) -> tuple[int, int]:
    """(bands, rows) with bands * rows <= num_perm minimising the weighted areas of false
    positives (similarity below `threshold` that collide) and false negatives (above it, not)."""
    grid = np.linspace(0.0, 1.0, 1001)
    best, best_cost = (1, num_perm), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            collide = 1 - (1 - grid**r) ** b
            fp = np.trapezoid(np.where(grid < threshold, collide, 0), grid)
            fn = np.trapezoid(np.where(grid >= threshold, 1 - collide, 0), grid)
            cost = fp_weight * fp + (1 - fp_weight) * fn
            if cost < best_cost:
                best, best_cost = (b, r), cost
    return best


def jaccard(left: np.ndarray, right: np.ndarray) -> float:
    """Jaccard similarity of two sets of shingle hashes (0 when both are empty: a missing
    text never confirms a pair)."""
    a, b = np.unique(left), np.unique(right)
    union = len(np.union1d(a, b))
    return len(np.intersect1d(a, b, assume_unique=True)) / union if union else 0.0

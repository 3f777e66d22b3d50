"""MinHash signatures and LSH band keys, vectorised with numpy over a whole batch of texts.

Shingles are word n-grams of normalised text (lowercase, no punctuation). Each shingle gets a
32-bit hash; permutation i is the multiply-shift hash ((a_i * x + b_i) mod 2**64) >> 32 with
seeded 64-bit a_i (odd), b_i, and a document's signature is the minimum over its shingles.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from pipeline.dedup.exact import normalise
from pipeline.shuffle import mix64

EMPTY = np.uint32(0xFFFFFFFF)  # signature of a text without words: never banded
SHINGLE_BLOCK = 1 << 15
# Missing a duplicate costs more than a spurious candidate (which `verify` can remove), so the
# band layout weighs false negatives 9:1: at 0.8, 14 bands of 9 rows from 128 permutations.
FP_WEIGHT = 0.1  # shingles hashed at once: bounds the (block x permutations) matrix


def shingle_hashes(texts: pa.Array | pa.ChunkedArray, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """(uint64 hash of every word n-gram, index of the first n-gram of each text + the total).

    A text with fewer than `ngram` words has one shingle, all its words.
    """
    normalised = normalise(pc.fill_null(texts, ""))
    # Splitting "" gives [""]: make word-less texts null so that they have no words at all.
    blank = pc.equal(normalised, "")
    words = pc.utf8_split_whitespace(pc.if_else(blank, pa.scalar(None, pa.string()), normalised))
    if isinstance(words, pa.ChunkedArray):
        words = words.combine_chunks()
    lengths = pc.fill_null(pc.list_value_length(words), 0).to_numpy().astype(np.int64)
    encoded = pc.dictionary_encode(pc.list_flatten(words))
    vocab = np.array(
        [xxhash.xxh3_64_intdigest(w.encode()) for w in encoded.dictionary.to_pylist()], np.uint64
    )
    word_hash = vocab[encoded.indices.to_numpy(zero_copy_only=False)] if len(vocab) else vocab
    ends = np.cumsum(lengths)
    starts = ends - lengths
    # One shingle per position where a full n-gram fits, or one at the start of a short text.
    counts = np.where(lengths >= ngram, lengths - ngram + 1, np.minimum(lengths, 1))
    first = np.repeat(starts, counts)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    position = first + (np.arange(offsets[-1]) - np.repeat(offsets[:-1], counts))
    end = np.repeat(ends, counts)
    shingles = word_hash[position] if len(position) else np.zeros(0, np.uint64)
    for k in range(1, ngram):
        inside = position + k < end
        following = word_hash[np.minimum(position + k, max(len(word_hash) - 1, 0))]
        mixed = mix64(shingles * np.uint64(0x100000001B3) ^ following)
        shingles = np.where(inside, mixed, shingles)
    return shingles, offsets


@lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded multiply-shift parameters (a odd, b) for each permutation."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2**63, num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    return a, rng.integers(0, 2**63, num_perm, dtype=np.uint64)


def signatures(
    texts: pa.Array | pa.ChunkedArray, num_perm: int, ngram: int, seed: int
) -> np.ndarray:
    """(texts x num_perm) uint32 MinHash signatures; rows of EMPTY for texts without words."""
    shingles, offsets = shingle_hashes(texts, ngram)
    a, b = permutations(num_perm, seed)
    x = (shingles & np.uint64(0xFFFFFFFF))[:, None]
    out = np.full((len(offsets) - 1, num_perm), EMPTY, np.uint32)
    doc = 0
    while doc < len(offsets) - 1:
        # Take whole documents until the block is full (one document may exceed it alone).
        stop = max(
            int(np.searchsorted(offsets, offsets[doc] + SHINGLE_BLOCK, "right")) - 1, doc + 1
        )
        lo, hi = offsets[doc], offsets[stop]
        if hi > lo:
            hashed = ((x[lo:hi] * a + b) >> np.uint64(32)).astype(np.uint32)
            sizes = np.diff(offsets[doc : stop + 1])
            nonempty = sizes > 0
            starts = offsets[doc:stop][nonempty] - lo
            out[doc:stop][nonempty] = np.minimum.reduceat(hashed, starts, axis=0)
        doc = stop
    return out


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
    """Jaccard similarity of two sets of shingle hashes."""
    a, b = np.unique(left), np.unique(right)
    union = len(np.union1d(a, b))
    return len(np.intersect1d(a, b, assume_unique=True)) / union if union else 1.0

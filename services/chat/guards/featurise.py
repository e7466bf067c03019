"""The classifier's hashed n-gram counts for the windows of one scored text, with numpy over code points.

The model was trained on scikit-learn's `HashingVectorizer` features (character 3-5-grams within word
boundaries plus word uni/bigrams, lower-cased, MurmurHash3 of the UTF-8 bytes modulo 2**19). Making those
features builds one Python string per n-gram: ~24,000 of them for the windows of an 8,000-character message,
5-12 ms of CPU that an attacker chooses (bracket runs, one long word, random words). Here the character
n-grams are never built: every window is laid out as the analyzer sees it (lower-cased, words joined by one
space, a space each side) in one code-point array, the n-grams are the start positions whose interior holds
no space, and MurmurHash3_x86_32 runs on all of them at once as array arithmetic over their UTF-8 bytes. The
word uni/bigrams are hashed the same way from a buffer of the tokens joined by spaces. The counts equal the
library's to the last index and value (tests/unit/guards/test_classifier.py, on every labelled text and on
degenerate ones), so the trained model, its thresholds and its measured rates apply unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from sklearn.utils import murmurhash3_32

HASH_BITS = 19
N_FEATURES = 2**HASH_BITS
# Keys are `window << HASH_BITS | column` in an int32 (half the bytes of an int64 to sort).
MAX_WINDOWS = 2 ** (31 - HASH_BITS)
CHAR_NGRAMS = (3, 4, 5)  # HashingVectorizer(analyzer="char_wb", ngram_range=(3, 5))

_C1, _C2 = np.uint32(0xCC9E2D51), np.uint32(0x1B873593)
_TAIL_MASK = np.array([0, 0xFF, 0xFFFF, 0xFFFFFF, 0xFFFFFFFF], dtype=np.uint32)  # by bytes left in a block
_VECTOR_BYTES = 32  # longer keys (long tokens: few per text) are hashed one by one


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def _mix(k: np.ndarray) -> np.ndarray:
    """A block's scrambling; in place, on the fresh array a gather returned."""
    k *= _C1
    k = _rotl(k, 15)
    k *= _C2
    return k


def murmur3_32(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """MurmurHash3_x86_32 (seed 0) of `data[start : start + length]` for every pair, as uint32.

    The reference algorithm block by block, for all keys at once. A block is the little-endian uint32 at a
    byte offset (an unaligned view of the bytes, no copy). The keys are ordered longest first (a radix sort of
    small integers), so the keys with a full block left, and then those with only a tail left, are slices:
    each round works on the keys it concerns, in place."""
    hashes = np.zeros(len(starts), dtype=np.uint32)
    if len(starts) == 0:
        return hashes
    long = np.flatnonzero(lengths > _VECTOR_BYTES)
    for i in long:
        hashes[i] = murmurhash3_32(data[starts[i] : starts[i] + lengths[i]].tobytes(), seed=0) & 0xFFFFFFFF
    order = np.argsort(-np.minimum(lengths, _VECTOR_BYTES + 1).astype(np.int8), kind="stable")[len(long) :]
    starts, lengths = starts[order], lengths[order]
    padded = np.concatenate([data, np.zeros(_VECTOR_BYTES + 4, dtype=np.uint8)])
    words = np.ndarray(shape=(len(padded) - 3,), dtype="<u4", buffer=padded, strides=(1,))
    h = np.zeros(len(order), dtype=np.uint32)
    descending = -lengths
    for at in range(0, int(lengths[0]) if len(order) else 0, 4):
        full = int(np.searchsorted(descending, -(at + 4), side="right"))  # keys with 4 or more bytes left
        some = int(np.searchsorted(descending, -(at + 1), side="right"))  # keys with any byte left
        h[:full] ^= _mix(words[starts[:full] + at])
        h[:full] = _rotl(h[:full], 13) * np.uint32(5) + np.uint32(0xE6546B64)
        tail = slice(full, some)
        h[tail] ^= _mix(words[starts[tail] + at] & _TAIL_MASK[lengths[tail] - at])
    h ^= lengths.astype(np.uint32)
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    hashes[order] = h
    return hashes


def feature_index(hashes: np.ndarray) -> np.ndarray:
    """FeatureHasher's column, |signed hash| mod 2**19: a bit mask, as 2**19 divides 2**31 (-2**31, whose
    int32 |.| overflows to itself, lands on 0 as the library defines it)."""
    return np.abs(hashes.view(np.int32)) & np.int32(N_FEATURES - 1)


class _Layout(NamedTuple):
    """The windows laid end to end as char_wb reads them: lower-cased, words joined by one space, a space
    each side (so two spaces between windows, which no n-gram spans)."""

    points: np.ndarray  # code points (the UTF-8 bytes themselves when all are ASCII)
    data: np.ndarray  # UTF-8 bytes
    byte_at: np.ndarray  # byte offset of every code point, and of the end
    window_of: np.ndarray  # window of every code point

    @classmethod
    def of(cls, lowered: Sequence[str]) -> _Layout:
        pieces = [" " + " ".join(window.split()) + " " for window in lowered]
        laid_out = "".join(pieces)
        data = np.frombuffer(laid_out.encode("utf-8"), dtype=np.uint8)
        if laid_out.isascii():
            points, byte_at = data, np.arange(len(data) + 1)
        else:
            points = np.frombuffer(laid_out.encode("utf-32-le"), dtype=np.uint32)
            widths = 1 + (points >= 0x80) + (points >= 0x800) + (points >= 0x10000)
            byte_at = np.concatenate([[0], np.cumsum(widths)])
        window_of = np.repeat(np.arange(len(pieces), dtype=np.int32), [len(piece) for piece in pieces])
        return cls(points, data, byte_at, window_of)


def _char_keys(layout: _Layout) -> np.ndarray:
    """The key `window << HASH_BITS | column` (an int32) of every character n-gram of every window (repeats
    kept): the spans of 3, 4 and 5 code points with no space strictly inside (a word shorter than n gives
    none, its padded form having been counted at the smaller n, as char_wb counts it once)."""
    points, length = layout.points, len(layout.points)
    inner = points != 0x20
    starts, ends = [], []
    allowed = np.ones(max(length - 2, 0), dtype=bool)
    for n in CHAR_NGRAMS:
        count = length - n + 1
        if count <= 0:
            break
        allowed = allowed[:count] & inner[n - 2 : n - 2 + count]
        found = np.flatnonzero(allowed)
        starts.append(found)
        ends.append(found + n)
    if not starts:
        return np.zeros(0, dtype=np.int32)
    start = np.concatenate(starts)
    byte_starts = layout.byte_at[start]
    hashes = murmur3_32(layout.data, byte_starts, layout.byte_at[np.concatenate(ends)] - byte_starts)
    return layout.window_of[start] << HASH_BITS | feature_index(hashes)


# Python's `\\w` (str.isalnum() or "_") for every code point of the Basic Multilingual Plane, looked up as an
# array (~4 ms to build at import); code points above it (emoji, historic scripts) are asked one by one.
_BMP_WORD = np.array([chr(c).isalnum() or c == 0x5F for c in range(0x10000)], dtype=bool)


def _is_word(points: np.ndarray) -> np.ndarray:
    """Python's `\\w` on every code point."""
    if points.dtype == np.uint8:
        return _BMP_WORD[points]
    word = _BMP_WORD[np.minimum(points, 0xFFFF)]
    astral = points > 0xFFFF
    if astral.any():
        distinct = np.unique(points[astral])
        table = np.array([chr(point).isalnum() for point in distinct], dtype=bool)
        word[astral] = table[np.searchsorted(distinct, points[astral])]
    return word


def _word_keys(layout: _Layout) -> np.ndarray:
    """The same for the word unigrams and bigrams: the tokens (runs of two or more `\\w`, the library's
    token pattern; the layout's whitespace never splits or joins one) are copied into one buffer, each
    followed by a space, so the bigram "a b" is the span from the start of a to the end of b."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], _is_word(layout.points).view(np.int8), [0]])))
    starts, ends = edges[0::2], edges[1::2]
    keep = ends - starts >= 2
    starts, ends = starts[keep], ends[keep]
    if len(starts) == 0:
        return np.zeros(0, dtype=np.int32)
    first = layout.byte_at[starts]
    size = layout.byte_at[ends] - first  # bytes of each token
    at = np.cumsum(size + 1) - (size + 1)  # where each token starts in the buffer
    buffer = layout.data[np.arange(int(at[-1] + size[-1] + 1)) + np.repeat(first - at, size + 1)]
    buffer[at + size] = 0x20  # the byte after a token is in its window's piece: a space or a symbol
    window = layout.window_of[starts]
    paired = np.flatnonzero(window[:-1] == window[1:])
    key_starts = np.concatenate([at, at[paired]])
    hashes = murmur3_32(
        buffer, key_starts, np.concatenate([at + size, at[paired + 1] + size[paired + 1]]) - key_starts
    )
    return np.concatenate([window, window[paired]]) << HASH_BITS | feature_index(hashes)


def window_counts(windows: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(window, column, count) of the hashed n-grams of every window, sorted by window then column: the
    nonzero entries of `HashingVectorizer.transform(windows)` as the classifier was trained on."""
    if len(windows) > MAX_WINDOWS:
        raise ValueError(f"at most {MAX_WINDOWS} windows fit the int32 keys")
    layout = _Layout.of([window.lower() for window in windows])
    keys, counts = np.unique(np.concatenate([_char_keys(layout), _word_keys(layout)]), return_counts=True)
    return keys >> HASH_BITS, keys & (N_FEATURES - 1), counts

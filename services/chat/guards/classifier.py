"""A learned second opinion for the local detector: logistic regression on hashed word and character n-grams.

The heuristic rules catch the phrasings they were written for and little else (44.8% and 52.5% detection on
two sets of unseen attacks, docs/security.md). Character n-grams see through paraphrase, inflection, spacing
and other languages far better. The model is trained in-process from the labelled sets shipped beside it (a
few seconds, once per process, at service start-up), so there is no opaque model file to trust or unpickle,
and a team extends it by adding labelled lines. `evaluation_prompts.jsonl` and `evaluation_documents.jsonl`
are never trained on: they measure how well the model generalises to questions and to retrieved passages.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from chatfleet.chat.guards.decision import Target
from chatfleet.chat.guards.featurise import HASH_BITS, window_counts

DATA = Path(__file__).parent / "data"
PROMPT_SETS = (
    "labelled_prompts.jsonl",
    "holdout_prompts.jsonl",
    "blind_prompts.jsonl",
    "broad_prompts.jsonl",
    # Long multi-part benign requests ("give me a thorough guide to ... and everything to try when ..."),
    # which the other sets lacked: one of the load test's questions was refused before it was added.
    "detailed_requests.jsonl",
)
# Knowledge-base passages, benign and with indirect injections: retrieved sources read unlike questions, and
# a model that had only seen questions flagged 21% of benign passages (docs/security.md).
DOCUMENT_SETS = ("document_passages.jsonl",)
TRAINING_SETS = (*PROMPT_SETS, *DOCUMENT_SETS)
EVALUATION_SET = "evaluation_prompts.jsonl"
DOCUMENT_EVALUATION_SET = "evaluation_documents.jsonl"
# Chosen by 5-fold cross-validation on the training sets (`cross_validate`, out-of-fold scores as served,
# window by window): C is the best of 4/16/64; each threshold is the 97.5th percentile of the benign scores
# of its kind (about 2.5% false positives each), as a question and a retrieved passage score differently.
# The unit tests recompute them and fail if the data drifted away from these values.
REGULARISATION_C = 64.0
THRESHOLDS: dict[Target, float] = {"user": 0.636, "document": 0.749}
BENIGN_QUANTILE = 0.975
MAX_CHARS = 4_000  # longer texts are scored head and tail
WINDOW_CHARS = 600  # about the length of the training texts; longer ones are scored window by window
WINDOW_STEP = 300


_SUBLINEAR_TF = 1.0 + np.log(np.arange(1, 2048, dtype=np.float64))  # 1 + log(count), count = index + 1


def _sublinear_tf(counts: np.ndarray) -> np.ndarray:
    """1 + log(count), looked up (a log per n-gram was ~0.1 ms an 8,000-character text); the same values."""
    if len(counts) and counts.max() <= len(_SUBLINEAR_TF):
        return _SUBLINEAR_TF[counts - 1]
    return 1.0 + np.log(counts)


def head_and_tail(text: str, limit: int) -> str:
    """At most about `limit` characters: the start and the end, where injected instructions hide."""
    if len(text) <= limit:
        return text
    return text[: limit // 2] + "\n" + text[-limit // 2 :]


def read_labelled(names: Iterable[str]) -> tuple[list[str], np.ndarray]:
    """(texts, is_attack) from JSON lines `{"label": "attack"|"benign", "text": ...}` in guards/data."""
    texts: list[str] = []
    labels: list[bool] = []
    for name in names:
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                texts.append(row["text"])
                labels.append(row["label"] == "attack")
    return texts, np.array(labels)


_CHAR_NGRAMS = HashingVectorizer(analyzer="char_wb", ngram_range=(3, 5)).build_analyzer()
_WORD_NGRAMS = HashingVectorizer(ngram_range=(1, 2)).build_analyzer()


def _ngrams(text: str) -> list[str]:
    """Character 3-5-grams within word boundaries (paraphrase, inflection, other languages) and word
    uni/bigrams, lower-cased, in one feature space: one hashing pass per text instead of two."""
    return _CHAR_NGRAMS(text) + _WORD_NGRAMS(text)


# Hashing keeps the model free of a vocabulary: nothing to persist, and unseen words still land somewhere.
_VECTORIZER = HashingVectorizer(analyzer=_ngrams, n_features=2**HASH_BITS, alternate_sign=False, norm=None)


def _counts(texts: Sequence[str]) -> sp.csr_matrix:
    return _VECTORIZER.transform(texts)


class InjectionClassifier:
    """`probability(text)` that the text is an injection or jailbreak attempt; thread-safe once trained."""

    def __init__(
        self, tfidf: TfidfTransformer, model: LogisticRegression, thresholds: dict[Target, float] = THRESHOLDS
    ) -> None:
        self.tfidf = tfidf
        self.model = model
        self.thresholds = dict(thresholds)
        # Scoring one text through sklearn's estimators spends ~10x the arithmetic on input validation, so
        # `probability` applies the fitted parameters itself (tests prove it equals `predict_proba`).
        self._idf = tfidf.idf_
        self._coef = model.coef_[0]
        self._intercept = float(model.intercept_[0])

    @classmethod
    def train(
        cls,
        texts: Sequence[str],
        labels: np.ndarray,
        c: float = REGULARISATION_C,
        thresholds: dict[Target, float] = THRESHOLDS,
    ) -> InjectionClassifier:
        tfidf = TfidfTransformer(sublinear_tf=True)
        features = tfidf.fit_transform(_counts(texts))
        model = LogisticRegression(C=c, max_iter=5000).fit(features, labels)
        return cls(tfidf, model, thresholds)

    def threshold(self, target: Target) -> float:
        return self.thresholds[target]

    def probability(self, text: str) -> float:
        """The highest score over overlapping windows: one injected sentence in a long document must not be
        diluted by the paragraphs around it."""
        text = head_and_tail(text, MAX_CHARS)
        windows = [text[i : i + WINDOW_CHARS] for i in range(0, max(1, len(text) - WINDOW_STEP), WINDOW_STEP)]
        if len(windows) > 1:
            rows, columns, counts = window_counts(windows)
        else:  # one window (most questions): the library's fixed cost is below numpy's ~60 array calls
            library = _counts(windows)
            rows = np.zeros(library.nnz, dtype=np.int64)
            columns, counts = library.indices, library.data.astype(np.int64)
        weights = _sublinear_tf(counts) * self._idf[columns]  # sublinear tf times idf
        # per-window sums over the rows (sorted by window) of the windows that have features
        bounds = np.searchsorted(rows, np.arange(len(windows) + 1))
        filled = bounds[:-1] < bounds[1:]
        dots, squares = np.zeros(len(windows)), np.zeros(len(windows))
        if filled.any():
            starts = bounds[:-1][filled]
            dots[filled] = np.add.reduceat(weights * self._coef[columns], starts)
            squares[filled] = np.add.reduceat(weights * weights, starts)
        norms = np.sqrt(squares)
        z = self._intercept + np.divide(dots, norms, out=np.zeros(len(windows)), where=norms > 0)
        return 1.0 / (1.0 + math.exp(-float(z.max())))

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """The library's own path, for batches (training checks and the tests)."""
        return self.model.predict_proba(self.tfidf.transform(_counts(texts)))[:, 1]


@dataclass(frozen=True)
class Rates:
    threshold: float
    detection: float
    false_positives: float


def read_training() -> tuple[list[str], np.ndarray, np.ndarray]:
    """(texts, is_attack, is_document) of every training set."""
    prompts, prompt_labels = read_labelled(PROMPT_SETS)
    documents, document_labels = read_labelled(DOCUMENT_SETS)
    is_document = np.array([False] * len(prompts) + [True] * len(documents))
    return prompts + documents, np.concatenate([prompt_labels, document_labels]), is_document


def cross_validate(
    texts: Sequence[str], labels: np.ndarray, is_document: np.ndarray, c: float, folds: int = 5
) -> dict[Target, Rates]:
    """Per kind of text: the threshold at the benign quantile, and detection and false-positive rates there,
    over out-of-fold scores computed the way the service scores (`probability`, window by window)."""
    scores = np.zeros(len(labels))
    strata = labels * 2 + is_document  # every fold holds both kinds and both labels
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=0).split(texts, strata):
        fold = InjectionClassifier.train([texts[i] for i in train], labels[train], c)
        scores[test] = [fold.probability(texts[i]) for i in test]
    rates: dict[Target, Rates] = {}
    kinds: dict[Target, np.ndarray] = {"user": ~is_document, "document": is_document}
    for target, kind in kinds.items():
        attacks, benign = scores[kind & labels], scores[kind & ~labels]
        cut = float(np.quantile(benign, BENIGN_QUANTILE))
        rates[target] = Rates(cut, float((attacks > cut).mean()), float((benign > cut).mean()))
    return rates


@functools.cache
def bundled_classifier() -> InjectionClassifier:
    """Trained once per process on the shipped training sets (the service does it at start-up)."""
    texts, labels, _ = read_training()
    return InjectionClassifier.train(texts, labels)

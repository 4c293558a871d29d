"""Reference sentence embeddings of nomic-embed-text-v1.5 for tests/embed.rs,
computed independently of llama.cpp and of Quire.

A float64 NumPy implementation of the nomic-bert encoder: token and token-type
embeddings, layer norm; per layer a fused QKV projection, rotary position embedding
(NeoX halves, base from the file), full attention, post-attention layer norm, a
SwiGLU feed-forward and a post-feed-forward layer norm; then mean pooling and L2
normalisation. Weights and hyper-parameters are read from the GGUF file with the
`gguf` package (the F16 weights widened to float64). Token ids come from HF
`tokenizers`' BERT WordPiece tokenizer (lower-casing, accents stripped) built from
the file's vocabulary, undoing llama.cpp's spelling of it (word-initial pieces
carry U+2581, continuation pieces lose their "##").

Each text carries the task prefix Quire puts before it ("search_document: " for
passages, "search_query: " for queries).

Run once with numpy, gguf and tokenizers installed:
    python3 tests/reference/nomic_reference.py ~/.cache/quire/models/nomic-embed-text-v1.5.f16.gguf \
        > tests/reference/nomic_reference.json
"""

import json
import math
import sys

import numpy as np
from gguf import GGUFReader
from tokenizers import BertWordPieceTokenizer

SENTENCES = [
    "The cat sits on the mat.",
    "Quarterly revenue grew by twelve percent, driven by strong demand in Europe.",
    "Vitamin D deficiency is associated with a higher risk of respiratory infections.",
]
PREFIXES = {"passage": "search_document: ", "query": "search_query: "}


def field(reader, name):
    return reader.fields[name].contents()


def wordpiece(reader):
    vocab = {}
    for index, token in enumerate(field(reader, "tokenizer.ggml.tokens")):
        if token.startswith("[") and token.endswith("]"):
            piece = token
        elif token.startswith("\u2581"):
            piece = token[1:]
        else:
            piece = "##" + token
        vocab.setdefault(piece, index)
    return BertWordPieceTokenizer(vocab, lowercase=True, strip_accents=True, clean_text=True)


def layer_norm(x, weight, bias, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def rotary(x, base):
    # x: (heads, n, dh); NeoX style: dimension i pairs with i + dh/2.
    _, n, dh = x.shape
    half = dh // 2
    inverse = base ** (-np.arange(half, dtype=np.float64) * 2.0 / dh)
    angles = np.arange(n, dtype=np.float64)[:, None] * inverse[None, :]
    cos, sin = np.cos(angles), np.sin(angles)
    first, second = x[..., :half], x[..., half:]
    return np.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)


def silu(x):
    return x / (1.0 + np.exp(-x))


class Model:
    def __init__(self, path):
        reader = GGUFReader(path)
        arch = field(reader, "general.architecture")
        self.layers = field(reader, f"{arch}.block_count")
        self.heads = field(reader, f"{arch}.attention.head_count")
        self.eps = field(reader, f"{arch}.attention.layer_norm_epsilon")
        self.base = field(reader, f"{arch}.rope.freq_base")
        self.w = {t.name: np.array(t.data, dtype=np.float64) for t in reader.tensors}
        self.tokenizer = wordpiece(reader)

    def embed(self, text):
        w = self.w
        ids = np.array(self.tokenizer.encode(text).ids)
        n = len(ids)
        x = w["token_embd.weight"][ids] + w["token_types.weight"][0]
        x = layer_norm(x, w["token_embd_norm.weight"], w["token_embd_norm.bias"], self.eps)
        hidden = x.shape[1]
        dh = hidden // self.heads
        for layer in range(self.layers):
            def p(name):
                return w[f"blk.{layer}.{name}"]

            qkv = x @ p("attn_qkv.weight").T
            q, k, v = (qkv[:, i * hidden:(i + 1) * hidden].reshape(n, self.heads, dh).transpose(1, 0, 2)
                       for i in range(3))
            q, k = rotary(q, self.base), rotary(k, self.base)
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(dh)
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(1, 0, 2).reshape(n, hidden)
            x = layer_norm(x + context @ p("attn_output.weight").T,
                           p("attn_output_norm.weight"), p("attn_output_norm.bias"), self.eps)
            gated = silu(x @ p("ffn_gate.weight").T) * (x @ p("ffn_up.weight").T)
            x = layer_norm(x + gated @ p("ffn_down.weight").T,
                           p("layer_output_norm.weight"), p("layer_output_norm.bias"), self.eps)
        pooled = x.mean(0)
        return pooled / np.linalg.norm(pooled)


if __name__ == "__main__":
    model = Model(sys.argv[1])
    result = [
        {"text": s, "as": kind, "embedding": [round(float(v), 7) for v in model.embed(prefix + s)]}
        for s in SENTENCES
        for kind, prefix in PREFIXES.items()
    ]
    json.dump(result, sys.stdout, indent=None)
    sys.stdout.write("\n")

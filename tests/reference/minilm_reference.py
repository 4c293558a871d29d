"""Reference sentence embeddings for tests/embed.rs, computed independently of Quire.

A float64 NumPy implementation of what sentence-transformers does for
all-MiniLM-L6-v2: BERT encoder (post-layer-norm, exact erf GELU), mean pooling
over the attention mask, L2 normalisation. Weights come from the model's
model.safetensors, token ids from its tokenizer.json (HF `tokenizers`),
truncated at max_seq_length 256.

Run once with numpy, safetensors and tokenizers installed:
    python3 tests/reference/minilm_reference.py ~/.cache/quire/models/all-MiniLM-L6-v2 \
        > tests/reference/minilm_reference.json
"""

import json
import math
import sys

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

SENTENCES = [
    "The cat sits on the mat.",
    "Quarterly revenue grew by twelve percent, driven by strong demand in Europe.",
    "Vitamin D deficiency is associated with a higher risk of respiratory infections.",
]


def layer_norm(x, weight, bias, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def gelu(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def embed(model_dir, sentence):
    config = json.load(open(f"{model_dir}/config.json"))
    w = {k: v.astype(np.float64) for k, v in load_file(f"{model_dir}/model.safetensors").items()}
    prefix = "bert." if "bert.embeddings.word_embeddings.weight" in w else ""
    tokenizer = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    tokenizer.no_padding()
    tokenizer.enable_truncation(256)
    ids = np.array(tokenizer.encode(sentence).ids)
    n = len(ids)
    eps = config["layer_norm_eps"]
    heads = config["num_attention_heads"]
    hidden = config["hidden_size"]
    dh = hidden // heads

    def p(name):
        return w[prefix + name]

    x = p("embeddings.word_embeddings.weight")[ids] + p("embeddings.position_embeddings.weight")[:n] \
        + p("embeddings.token_type_embeddings.weight")[np.zeros(n, dtype=int)]
    x = layer_norm(x, p("embeddings.LayerNorm.weight"), p("embeddings.LayerNorm.bias"), eps)
    for layer in range(config["num_hidden_layers"]):
        def q(name):
            return p(f"encoder.layer.{layer}.{name}")

        def linear(inp, name):
            return inp @ q(f"{name}.weight").T + q(f"{name}.bias")

        qs = linear(x, "attention.self.query").reshape(n, heads, dh).transpose(1, 0, 2)
        ks = linear(x, "attention.self.key").reshape(n, heads, dh).transpose(1, 0, 2)
        vs = linear(x, "attention.self.value").reshape(n, heads, dh).transpose(1, 0, 2)
        scores = qs @ ks.transpose(0, 2, 1) / math.sqrt(dh)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        context = (scores @ vs).transpose(1, 0, 2).reshape(n, hidden)
        attn = linear(context, "attention.output.dense")
        x = layer_norm(attn + x, q("attention.output.LayerNorm.weight"), q("attention.output.LayerNorm.bias"), eps)
        inter = gelu(linear(x, "intermediate.dense"))
        out = linear(inter, "output.dense")
        x = layer_norm(out + x, q("output.LayerNorm.weight"), q("output.LayerNorm.bias"), eps)
    pooled = x.mean(0)
    return pooled / np.linalg.norm(pooled)


if __name__ == "__main__":
    model_dir = sys.argv[1]
    result = [{"text": s, "embedding": [round(float(v), 7) for v in embed(model_dir, s)]} for s in SENTENCES]
    json.dump(result, sys.stdout, indent=None)
    sys.stdout.write("\n")

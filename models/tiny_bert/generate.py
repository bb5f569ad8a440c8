#!/usr/bin/python3
"""Writes models/tiny_bert: a tiny BERT-style encoder (seeded random weights) and two test data sets.

Architecture: token embedding (Gather) + LayerNormalization, then LAYERS post-LN encoder layers of
multi-head self-attention with an additive padding mask and a GELU (erf form) feed-forward block,
each followed by LayerNormalization. Batch and sequence are symbolic dims ("batch", "seq").
Position embeddings are left out: they need Shape/Slice, which normrt gains with the Transformer
op coverage; the bundled model exercises the ops of the foundation.

Expected outputs come from a float64 NumPy evaluation of the same weights, independent of normrt.
Run with Debian's python3 (python3-onnx, python3-numpy):  /usr/bin/python3 models/tiny_bert/generate.py
"""
import math
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

VOCAB, HIDDEN, HEADS, LAYERS, FFN = 1000, 64, 4, 4, 256
HEAD_DIM = HIDDEN // HEADS
EPS = 1e-12
OUT = os.path.dirname(os.path.abspath(__file__))

rng = np.random.default_rng(20261128)


def weight(*shape, scale=0.05):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


params = {"word_emb": weight(VOCAB, HIDDEN, scale=1.0),
          "emb_ln_g": (1 + weight(HIDDEN)), "emb_ln_b": weight(HIDDEN)}
for l in range(LAYERS):
    for n in ("q", "k", "v", "o"):
        params[f"l{l}_{n}_w"] = weight(HIDDEN, HIDDEN)
        params[f"l{l}_{n}_b"] = weight(HIDDEN)
    params[f"l{l}_ffn1_w"] = weight(HIDDEN, FFN)
    params[f"l{l}_ffn1_b"] = weight(FFN)
    params[f"l{l}_ffn2_w"] = weight(FFN, HIDDEN)
    params[f"l{l}_ffn2_b"] = weight(HIDDEN)
    for ln in ("ln1", "ln2"):
        params[f"l{l}_{ln}_g"] = 1 + weight(HIDDEN)
        params[f"l{l}_{ln}_b"] = weight(HIDDEN)

consts = {
    "c_one": np.array(1.0, np.float32),
    "c_mask_value": np.array(-10000.0, np.float32),
    "c_scale": np.array(1.0 / math.sqrt(HEAD_DIM), np.float32),
    "c_half": np.array(0.5, np.float32),
    "c_inv_sqrt2": np.array(1.0 / math.sqrt(2.0), np.float32),
    "shape_heads": np.array([0, 0, HEADS, HEAD_DIM], np.int64),
    "shape_hidden": np.array([0, 0, HIDDEN], np.int64),
    "shape_mask": np.array([0, 1, 1, -1], np.int64),
}

nodes = []


def node(op, inputs, name, **attrs):
    nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
    return name


def layer_norm(x, g, b, name):
    return node("LayerNormalization", [x, g, b], name, axis=-1, epsilon=EPS)


def linear(x, w, b, name):
    return node("Add", [node("MatMul", [x, w], name + "_mm"), b], name)


x = node("Gather", ["word_emb", "input_ids"], "embed", axis=0)
x = layer_norm(x, "emb_ln_g", "emb_ln_b", "embed_ln")
m = node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
m = node("Sub", ["c_one", m], "mask_inv")
m = node("Mul", [m, "c_mask_value"], "mask_scaled")
mask_bias = node("Reshape", [m, "shape_mask"], "mask_bias")
for l in range(LAYERS):
    p = f"l{l}_"
    heads = {}
    for n, perm in (("q", [0, 2, 1, 3]), ("k", [0, 2, 3, 1]), ("v", [0, 2, 1, 3])):
        t = linear(x, p + n + "_w", p + n + "_b", p + n)
        t = node("Reshape", [t, "shape_heads"], p + n + "_split")
        heads[n] = node("Transpose", [t], p + n + "_heads", perm=perm)
    s = node("MatMul", [heads["q"], heads["k"]], p + "scores")
    s = node("Mul", [s, "c_scale"], p + "scores_scaled")
    s = node("Add", [s, mask_bias], p + "scores_masked")
    s = node("Softmax", [s], p + "probs", axis=-1)
    c = node("MatMul", [s, heads["v"]], p + "context")
    c = node("Transpose", [c], p + "context_t", perm=[0, 2, 1, 3])
    c = node("Reshape", [c, "shape_hidden"], p + "context_merged")
    a = linear(c, p + "o_w", p + "o_b", p + "attn_out")
    x = layer_norm(node("Add", [x, a], p + "attn_residual"), p + "ln1_g", p + "ln1_b", p + "ln1")
    h = linear(x, p + "ffn1_w", p + "ffn1_b", p + "ffn1")
    e = node("Erf", [node("Mul", [h, "c_inv_sqrt2"], p + "gelu_scaled")], p + "gelu_erf")
    e = node("Add", [e, "c_one"], p + "gelu_1p")
    h = node("Mul", [node("Mul", [h, "c_half"], p + "gelu_half"), e], p + "gelu")
    f = linear(h, p + "ffn2_w", p + "ffn2_b", p + "ffn2")
    x = layer_norm(node("Add", [x, f], p + "ffn_residual"), p + "ln2_g", p + "ln2_b",
                   "last_hidden_state" if l == LAYERS - 1 else p + "ln2")

graph = helper.make_graph(
    nodes, "tiny_bert",
    inputs=[helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
    outputs=[helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", HIDDEN])],
    initializer=[numpy_helper.from_array(v, k) for k, v in {**params, **consts}.items()])
model = helper.make_model(graph, producer_name="normrt models/tiny_bert/generate.py",
                          opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
onnx.checker.check_model(model)


def reference(ids, mask):
    """The same network in float64 NumPy."""
    P = {k: v.astype(np.float64) for k, v in params.items()}
    erf = np.vectorize(math.erf)

    def ln(v, g, b):
        mu = v.mean(-1, keepdims=True)
        var = ((v - mu) ** 2).mean(-1, keepdims=True)
        return (v - mu) / np.sqrt(var + EPS) * g + b

    B, S = ids.shape
    h = ln(P["word_emb"][ids], P["emb_ln_g"], P["emb_ln_b"])
    bias = ((1.0 - mask.astype(np.float64)) * -10000.0).reshape(B, 1, 1, S)
    for l in range(LAYERS):
        p = f"l{l}_"
        proj = {n: (h @ P[p + n + "_w"] + P[p + n + "_b"]).reshape(B, S, HEADS, HEAD_DIM).transpose(0, 2, 1, 3)
                for n in "qkv"}
        s = proj["q"] @ proj["k"].transpose(0, 1, 3, 2) / math.sqrt(HEAD_DIM) + bias
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        c = (s @ proj["v"]).transpose(0, 2, 1, 3).reshape(B, S, HIDDEN)
        h = ln(h + c @ P[p + "o_w"] + P[p + "o_b"], P[p + "ln1_g"], P[p + "ln1_b"])
        f = h @ P[p + "ffn1_w"] + P[p + "ffn1_b"]
        f = 0.5 * f * (1.0 + erf(f / math.sqrt(2.0)))
        h = ln(h + f @ P[p + "ffn2_w"] + P[p + "ffn2_b"], P[p + "ln2_g"], P[p + "ln2_b"])
    return h.astype(np.float32)


def write_set(index, ids, mask):
    d = os.path.join(OUT, f"data_{index}")
    os.makedirs(d, exist_ok=True)
    for k, (name, arr) in enumerate((("input_ids", ids), ("attention_mask", mask))):
        with open(os.path.join(d, f"input_{k}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(arr, name).SerializeToString())
    with open(os.path.join(d, "output_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(reference(ids, mask), "last_hidden_state").SerializeToString())


onnx.save(model, os.path.join(OUT, "model.onnx"))
ids0 = rng.integers(0, VOCAB, size=(2, 8), dtype=np.int64)
mask0 = np.ones((2, 8), np.int64)
mask0[1, 5:] = 0  # second sequence is padded
write_set(0, ids0, mask0)
write_set(1, rng.integers(0, VOCAB, size=(1, 5), dtype=np.int64), np.ones((1, 5), np.int64))
print("wrote", os.path.join(OUT, "model.onnx"), os.path.getsize(os.path.join(OUT, "model.onnx")), "bytes")

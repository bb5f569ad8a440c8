#!/usr/bin/python3
"""Writes models/ort_cases: small single-op models whose expected outputs come from ONNX Runtime.

For ops with no ONNX conformance data (the com.microsoft contrib ops), each case is a model plus
data_0/input_N.pb and data_0/output_N.pb, the outputs computed by ONNX Runtime 1.30
(onnxruntime-node, CPU provider, perf/peers: `scripts/setup.sh --peers`). tests/ort_cases_test.sh
checks normrt against them with `normrt run --data`. Needs Python and node only to regenerate:
    /usr/bin/python3 models/ort_cases/generate.py
"""
import json
import os
import shutil
import subprocess
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20261128)
NP_TO_ONNX = {np.float32: TensorProto.FLOAT, np.int32: TensorProto.INT32, np.int64: TensorProto.INT64, np.bool_: TensorProto.BOOL}
NP_TO_JS = {np.float32: "float32", np.int32: "int32", np.int64: "int64", np.bool_: "bool"}


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def make_model(name, node, inputs, outputs, opsets):
    graph = helper.make_graph(
        [node], name,
        [helper.make_tensor_value_info(n, NP_TO_ONNX[a.dtype.type], list(a.shape)) for n, a in inputs],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets], producer_name="normrt ort_cases")
    model.ir_version = 8
    return model


def write_case(name, node, inputs, outputs, reference=None, opsets=(("", 17), ("com.microsoft", 1))):
    """inputs: list of (name, array); outputs: list of output names. reference: (node, inputs) of an
    equivalent model for ONNX Runtime to run instead, for forms its CPU provider lacks."""
    folder = os.path.join(OUT, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(os.path.join(folder, "data_0"))
    onnx.save(make_model(name, node, inputs, outputs, opsets), os.path.join(folder, "model.onnx"))
    for i, (n, a) in enumerate(inputs):
        onnx.save_tensor(numpy_helper.from_array(a, n), os.path.join(folder, "data_0", f"input_{i}.pb"))
    ref_node, ref_inputs = reference or (node, inputs)
    with tempfile.TemporaryDirectory() as tmp:
        fin, fout, fmodel = os.path.join(tmp, "in.json"), os.path.join(tmp, "out.json"), os.path.join(tmp, "model.onnx")
        onnx.save(make_model(name, ref_node, ref_inputs, outputs, opsets), fmodel)
        with open(fin, "w") as f:
            json.dump([{"name": n, "type": NP_TO_JS[a.dtype.type], "dims": list(a.shape), "data": a.ravel().tolist()} for n, a in ref_inputs], f)
        subprocess.run(["node", os.path.join(OUT, "ort_run.js"), fmodel, fin, fout], check=True)
        with open(fout) as f:
            results = json.load(f)
    for i, r in enumerate(results):
        a = np.array(r["data"], dtype=np.float32).reshape(r["dims"])
        onnx.save_tensor(numpy_helper.from_array(a, r["name"]), os.path.join(folder, "data_0", f"output_{i}.pb"))
    print(f"{name}: " + ", ".join(f"{r['name']} {r['dims']}" for r in results))


def mha_node(inputs, outputs, attrs):
    while inputs and inputs[-1] is None:
        inputs = inputs[:-1]
    node = helper.make_node("MultiHeadAttention", [i[0] if i else "" for i in inputs], outputs, domain="com.microsoft", **attrs)
    return node, [i for i in inputs if i]


def mha(name, inputs, outputs, reference_inputs=None, **attrs):
    """inputs: the MultiHeadAttention inputs in order, (name, array) or None for an omitted one.
    reference_inputs: the same problem in a form ONNX Runtime's CPU provider runs (unpacked)."""
    node, ins = mha_node(inputs, outputs, attrs)
    write_case(name, node, ins, outputs, mha_node(reference_inputs, outputs, attrs) if reference_inputs else None)


B, N, H = 2, 4, 8
D = N * H
# Self attention, input-projection bias, key lengths.
mha("mha_self_bias_key_lengths",
    [("query", randn(B, 5, D)), ("key", randn(B, 5, D)), ("value", randn(B, 5, D)), ("bias", randn(3 * D)),
     ("key_padding_mask", np.array([5, 3], dtype=np.int32))], ["output"], num_heads=N)
# Decoder step with a past, causal, head-broadcast attention bias, present outputs.
mha("mha_causal_past_present",
    [("query", randn(B, 3, D)), ("key", randn(B, 3, D)), ("value", randn(B, 3, D)), None, None,
     ("attention_bias", randn(1, N, 3, 10)), ("past_key", randn(B, N, 7, H)), ("past_value", randn(B, N, 7, H))],
    ["output", "present_key", "present_value"], num_heads=N, unidirectional=1)
# Cross attention over keys/values already split into heads, 0/1 padding mask (batch 1 fully padded), custom scale.
pad = np.ones((B, 9), dtype=np.int32)
pad[0, 6:] = 0
pad[1, :] = 0
mha("mha_cross_split_heads_padding_mask",
    [("query", randn(B, 5, D)), ("key", randn(B, N, 9, H)), ("value", randn(B, N, 9, H)), None, ("key_padding_mask", pad)],
    ["output"], num_heads=N, scale=0.3)
# Packed QKV with bias and a per-query 3-D mask.
mask3 = (rng.random((B, 5, 5)) > 0.3).astype(np.int32)
mask3[:, :, 0] = 1
qkv, qkv_bias = randn(B, 5, N, 3, H), randn(3 * D)
mha("mha_packed_qkv_bias_mask3d",
    [("query", qkv), None, None, ("bias", qkv_bias), ("key_padding_mask", mask3)], ["output"],
    reference_inputs=[("query", qkv[:, :, :, 0].reshape(B, 5, D)), ("key", qkv[:, :, :, 1].reshape(B, 5, D)),
                      ("value", qkv[:, :, :, 2].reshape(B, 5, D)), ("bias", qkv_bias), ("key_padding_mask", mask3)],
    num_heads=N)
# Packed KV with a per-batch attention bias and a custom mask filter value.
q, kv, lengths, attn_bias = randn(B, 5, D), randn(B, 7, N, 2, H), np.array([7, 4], dtype=np.int32), randn(B, 1, 5, 7)
mha("mha_packed_kv_attention_bias",
    [("query", q), ("key", kv), None, None, ("key_padding_mask", lengths), ("attention_bias", attn_bias)], ["output"],
    reference_inputs=[("query", q), ("key", kv[:, :, :, 0].reshape(B, 7, D)), ("value", kv[:, :, :, 1].reshape(B, 7, D)), None,
                      ("key_padding_mask", lengths), ("attention_bias", attn_bias)],
    num_heads=N, mask_filter_value=-500.0)
# Sequences long enough (>= 16 queries) for the ops to pack K and V per head, with the scale folded in.
mha("mha_long_self_key_lengths",
    [("query", randn(B, 40, D)), ("key", randn(B, 40, D)), ("value", randn(B, 40, D)), ("bias", randn(3 * D)),
     ("key_padding_mask", np.array([40, 23], dtype=np.int32))], ["output"], num_heads=N, unidirectional=1)
attention = helper.make_node("Attention", ["Q", "K", "V", "attn_mask"], ["Y"], is_causal=1, softcap=3.0)
write_case("attention_gqa_causal_mask_long", attention,
           [("Q", randn(2, 8, 40, 16)), ("K", randn(2, 2, 70, 16)), ("V", randn(2, 2, 70, 12)), ("attn_mask", randn(40, 70))],
           ["Y"], opsets=(("", 23),))

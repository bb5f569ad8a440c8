"""Dynamically quantized MatMul under normrt and ONNX Runtime 1.30 (perf/quantized_peers.sh).

The graph ONNX Runtime's dynamic quantization writes for a Linear layer: X float [M, K] quantized
at run time (DynamicQuantizeLinear), a constant uint8 weight [K, N] (zero point 128, one scale),
MatMulInteger, Cast to float, and the two scales multiplied in. ONNX Runtime fuses it into its
DynamicQuantizeMatMul (int8 kernels); normrt runs it node by node, MatMulInteger on the float GEMM.
The float MatMul of the same weight is timed beside it. Outputs are compared with ONNX Runtime's
first. Shapes: M in {1, 128, 512} against BERT-base's (K, N) = (768, 768), (768, 3072), (3072, 768).
  perf/quantized_peers.sh [SECONDS]   (or: /usr/bin/python3 perf/quantized_peers.py BUILD SECONDS)
  ROUNDS=N in the environment sets how many alternating rounds each row takes (default 3).
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
build, seconds = sys.argv[1], float(sys.argv[2])
out_dir = os.path.join(build, "perf", "quantized_models")
os.makedirs(out_dir, exist_ok=True)
rounds = int(os.environ.get("ROUNDS", "3"))


def make_models(m, k, n):
    rng = np.random.default_rng(k * 7 + n)
    w = rng.standard_normal((k, n)).astype(np.float32)
    w_scale = np.float32(np.abs(w).max() / 127)
    wq = (np.round(w / w_scale) + 128).astype(np.uint8)
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [m, k])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [m, n])
    q = helper.make_graph([
        helper.make_node("DynamicQuantizeLinear", ["X"], ["Xq", "Xs", "Xz"]),
        helper.make_node("MatMulInteger", ["Xq", "Wq", "Xz", "Wz"], ["P"]),
        helper.make_node("Cast", ["P"], ["Pf"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["Xs", "Ws"], ["S"]),
        helper.make_node("Mul", ["Pf", "S"], ["Y"])], "quantized", [x], [y],
        [numpy_helper.from_array(wq, "Wq"), numpy_helper.from_array(np.array(128, np.uint8), "Wz"),
         numpy_helper.from_array(np.array(w_scale, np.float32), "Ws")])
    f = helper.make_graph([helper.make_node("MatMul", ["X", "W"], ["Y"])], "float", [x], [y], [numpy_helper.from_array(w, "W")])
    paths = []
    for name, g in (("q", q), ("f", f)):
        path = os.path.join(out_dir, f"{name}_{m}x{k}x{n}.onnx")
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
        paths.append(path)
    return paths


def agree(path, m, k):
    """normrt against ONNX Runtime on one input: `normrt run`'s verdict line."""
    x = np.random.default_rng(3).uniform(-1, 1, (m, k)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        os.makedirs(data)
        onnx.save_tensor(numpy_helper.from_array(x, "X"), os.path.join(data, "input_0.pb"))
        fin, fout = os.path.join(tmp, "in.json"), os.path.join(tmp, "out.json")
        with open(fin, "w") as fh:
            json.dump([{"name": "X", "type": "float32", "dims": [m, k], "data": x.ravel().tolist()}], fh)
        subprocess.run(["node", os.path.join(ROOT, "models", "ort_cases", "ort_run.js"), path, fin, fout], check=True)
        with open(fout) as fh:
            r = json.load(fh)[0]
        y = np.array(r["data"], dtype=np.float32).reshape(r["dims"])
        onnx.save_tensor(numpy_helper.from_array(y, r["name"]), os.path.join(data, "output_0.pb"))
        res = subprocess.run([os.path.join(build, "normrt"), "run", path, "--data", data, "--rtol", "1e-3", "--atol", "1e-3"],
                             capture_output=True, text=True)
        last = (res.stdout.strip() or res.stderr.strip()).splitlines()[-1]
        return res.returncode == 0, last


def normrt_ms(path, threads):
    args = [os.path.join(build, "normrt"), "bench", path, "--threads", str(threads), "--seconds", str(seconds), "--warmup", "2", "--json"]
    return json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)[0]["median_ms"]


def ort_ms(path, threads):
    r = subprocess.run(["node", os.path.join(ROOT, "perf", "peers", "ort_bench.js"), path, str(threads), str(seconds)],
                       check=True, capture_output=True, text=True)
    return json.loads(r.stdout)["median_ms"]


# Whole processes alternate (this VM's speed drifts over minutes): ROUNDS rounds of (normrt
# quantized, ONNX Runtime quantized, normrt float); the medians of the round medians are printed.
print("| M | K | N | threads | normrt quantized ms | ORT quantized ms | normrt / ORT (speed) | per-round ratios | normrt float ms | "
      "normrt quantized / float (speed) | outputs agree |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
for k, n in ((768, 768), (768, 3072), (3072, 768)):
    for m in (1, 128, 512):
        q, f = make_models(m, k, n)
        ok, detail = agree(q, m, k)
        for threads in (1, 2):
            runs = [(normrt_ms(q, threads), ort_ms(q, threads), normrt_ms(f, threads)) for _ in range(rounds)]
            nq, oq, nf = (float(np.median([r[i] for r in runs])) for i in range(3))
            ratios = [r[1] / r[0] for r in runs]
            print(f"| {m} | {k} | {n} | {threads} | {nq:.3f} | {oq:.3f} | {oq / nq:.2f}x | {min(ratios):.2f}-{max(ratios):.2f} | {nf:.3f} | "
                  f"{nf / nq:.2f}x | {'yes' if ok else 'NO'} ({' '.join(detail.split()[2:4])}) |", flush=True)

"""Full-size Transformer families under normrt and ONNX Runtime 1.30 (perf/models_peers.sh).

Generates the models on demand with the classes of models/families/generate.py at full size
(BERT-base, GPT-2 small, ViT-B/16, a wav2vec2-base-sized encoder, a UNet block at 320 channels),
checks that normrt's outputs agree with ONNX Runtime's on one input, then times both at 1 and 2
threads: median latency, the ratio, and each process's peak resident memory.
  perf/models_peers.sh [SECONDS]   (or: /usr/bin/python3 perf/models_peers.py BUILD SECONDS [MODEL...]);
  ROUNDS=N in the environment sets how many alternating rounds each row takes (default 3).
"""
import glob
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import torch
from onnx import numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "models", "families"))
import generate as fam  # noqa: E402

build, seconds = sys.argv[1], float(sys.argv[2])
only = set(sys.argv[3:])
out_dir = os.path.join(build, "perf", "full_models")
os.makedirs(out_dir, exist_ok=True)

# name -> (constructor, example inputs for export, input names, dynamic axes, benchmark configs)
# A config is (label, {symbolic dim: value}).
MODELS = {
    "bert_base": (lambda: fam.Bert(vocab=30522, d=768, heads=12, layers=12, ffn=3072, max_len=512),
                  lambda: [torch.ones(1, 16, dtype=torch.int64), torch.ones(1, 16, dtype=torch.int64)],
                  ["input_ids", "attention_mask"], {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}},
                  [("batch 1, seq 128", {"batch": 1, "seq": 128}), ("batch 1, seq 512", {"batch": 1, "seq": 512})]),
    "gpt2_small": (lambda: fam.Gpt2(vocab=50257, d=768, heads=12, layers=12, max_len=1024),
                   lambda: [torch.ones(1, 16, dtype=torch.int64)], ["input_ids"], {"input_ids": {0: "batch", 1: "seq"}},
                   [("batch 1, seq 128", {"batch": 1, "seq": 128}), ("batch 1, seq 512", {"batch": 1, "seq": 512})]),
    "vit_b16": (lambda: fam.Vit(image=224, patch=16, d=768, heads=12, layers=12), lambda: [torch.zeros(1, 3, 224, 224)], ["pixel_values"],
                {"pixel_values": {0: "batch"}}, [("batch 1, 224x224", {"batch": 1})]),
    # wav2vec2-base's seven feature convolutions (49 frames per second of audio).
    "wav2vec2_base": (lambda: fam.Wav2Vec2(d=768, heads=12, layers=12, conv=512, kernels=(10, 3, 3, 3, 3, 2, 2),
                                           strides=(5, 2, 2, 2, 2, 2, 2), pos_kernel=128, pos_groups=16),
                      lambda: [torch.zeros(1, 16000)], ["audio"],
                      {"audio": {0: "batch", 1: "samples"}}, [("1 s of 16 kHz audio", {"batch": 1, "samples": 16000})]),
    # The same Transformer behind the tiny model's three convolutions: 800 frames per second, so
    # its time is the Transformer's products (the benchmark's wav2vec2 row until the 21st session).
    "wav2vec2_3conv": (lambda: fam.Wav2Vec2(d=768, heads=12, layers=12, conv=512), lambda: [torch.zeros(1, 16000)], ["audio"],
                       {"audio": {0: "batch", 1: "samples"}}, [("1 s of 16 kHz audio", {"batch": 1, "samples": 16000})]),
    "unet_block": (lambda: fam.UnetBlock(c=320, groups=32, heads=8), lambda: [torch.zeros(1, 320, 64, 64)], ["sample"],
                   {"sample": {0: "batch"}}, [("320 channels, 64x64", {"batch": 1})]),
}


with open(os.path.join(ROOT, "models", "families", "generate.py"), "rb") as f:
    GENERATOR_HASH = hashlib.sha256(f.read()).hexdigest()[:8]


def export(name):
    # The generator's hash is in the file name, so a changed model class is exported again.
    path = os.path.join(out_dir, f"{name}-{GENERATOR_HASH}.onnx")
    if os.path.exists(path):
        return path
    for stale in glob.glob(os.path.join(out_dir, name + "-*.onnx")) + glob.glob(os.path.join(out_dir, name + ".onnx")):
        os.remove(stale)
    make, example, names, axes, _ = MODELS[name]
    torch.manual_seed(20261128)
    model = make().eval()
    with torch.no_grad():
        torch.onnx.export(model, tuple(example()), path, input_names=names, dynamic_axes=axes, opset_version=17, do_constant_folding=True)
    print(f"generated {path} ({os.path.getsize(path) / 1e6:.0f} MB)", file=sys.stderr, flush=True)
    return path


def inputs_for(names, dims, model_path):
    m = onnx.load(model_path, load_external_data=False)
    arrays = []
    for inp in m.graph.input:
        if inp.name not in names:
            continue
        shape = [d.dim_value if d.dim_value else dims[d.dim_param] for d in inp.type.tensor_type.shape.dim]
        if inp.type.tensor_type.elem_type == onnx.TensorProto.INT64:
            arrays.append((inp.name, np.ones(shape, dtype=np.int64)))
        else:
            arrays.append((inp.name, np.random.default_rng(1).uniform(-1, 1, shape).astype(np.float32)))
    return arrays


def agree(path, arrays):
    """Max abs and relative difference of normrt against ONNX Runtime on the same inputs."""
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        os.makedirs(data)
        for i, (n, a) in enumerate(arrays):
            onnx.save_tensor(numpy_helper.from_array(a, n), os.path.join(data, f"input_{i}.pb"))
        fin, fout = os.path.join(tmp, "in.json"), os.path.join(tmp, "out.json")
        with open(fin, "w") as f:
            json.dump([{"name": n, "type": "int64" if a.dtype == np.int64 else "float32", "dims": list(a.shape), "data": a.ravel().tolist()}
                       for n, a in arrays], f)
        subprocess.run(["node", os.path.join(ROOT, "models", "ort_cases", "ort_run.js"), path, fin, fout], check=True)
        with open(fout) as f:
            for i, r in enumerate(json.load(f)):
                a = np.array(r["data"], dtype=np.float32).reshape(r["dims"])
                onnx.save_tensor(numpy_helper.from_array(a, r["name"]), os.path.join(data, f"output_{i}.pb"))
        res = subprocess.run([os.path.join(build, "normrt"), "run", path, "--data", data, "--rtol", "1e-3", "--atol", "1e-3"],
                             capture_output=True, text=True)
        return res.returncode == 0, res.stdout.strip().splitlines()[-1] if res.stdout.strip() else res.stderr.strip()


def normrt_ms(path, dims, threads):
    args = [os.path.join(build, "normrt"), "bench", path, "--threads", str(threads), "--seconds", str(seconds), "--warmup", "2", "--json"]
    for k, v in dims.items():
        args += ["--dim", f"{k}={v}"]
    r = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)[0]  # one row
    return r["median_ms"], r["peak_rss_mb"]


def ort_ms(path, dims, threads):
    env = dict(os.environ, ORT_DIMS=json.dumps(dims))
    r = json.loads(subprocess.run(["node", os.path.join(ROOT, "perf", "peers", "ort_bench.js"), path, str(threads), str(seconds)],
                                  check=True, capture_output=True, text=True, env=env).stdout)
    return r["median_ms"], r["peak_rss_mb"]


# This VM's speed drifts by 10-20% over minutes, so the two runtimes take turns: ROUNDS rounds of
# (normrt, ONNX Runtime), each a median over SECONDS; the table gives the median of each runtime's
# round medians, their ratio, and the range of the per-round ratios.
rounds = int(os.environ.get("ROUNDS", "3"))
print("| model | input | threads | normrt ms | ORT ms | normrt / ORT (speed) | per-round ratios | normrt peak MB | ORT peak MB | outputs agree |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
for name, (_, _, names, _, configs) in MODELS.items():
    if only and name not in only:
        continue
    path = export(name)
    for label, dims in configs:
        ok, detail = agree(path, inputs_for(names, dims, path))
        for threads in (1, 2):
            n_runs, o_runs = [], []
            for _ in range(rounds):
                n_runs.append(normrt_ms(path, dims, threads))
                o_runs.append(ort_ms(path, dims, threads))
            n_ms, o_ms = float(np.median([r[0] for r in n_runs])), float(np.median([r[0] for r in o_runs]))
            n_mb, o_mb = max(r[1] for r in n_runs), max(r[1] for r in o_runs)
            ratios = [o[0] / n[0] for n, o in zip(n_runs, o_runs)]
            print(f"| {name} | {label} | {threads} | {n_ms:.1f} | {o_ms:.1f} | {o_ms / n_ms:.2f}x | {min(ratios):.2f}-{max(ratios):.2f} | "
                  f"{n_mb:.0f} | {o_mb:.0f} | {'yes' if ok else 'NO'} ({' '.join(detail.split()[2:4])}) |", flush=True)

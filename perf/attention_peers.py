"""Runs the models of make_attention_models under `normrt bench --json` and ONNX Runtime
(perf/peers/ort_bench.js), one process per measurement so each peak RSS is that run's own."""
import json
import os
import subprocess
import sys

import numpy as np

build, seconds = sys.argv[1], float(sys.argv[2])
models = f"{build}/perf/attention_models"


def normrt(model, threads, optimize=True):
    # The unfused model runs with the graph passes off: the attention pass would otherwise turn its
    # MatMul-Softmax-MatMul back into the fused kernel and the comparison would measure nothing.
    args = [f"{build}/normrt", "bench", f"{models}/{model}.onnx", "--threads", str(threads), "--seconds", str(seconds), "--json"]
    out = subprocess.run(args + ([] if optimize else ["--no-optimize"]), check=True, capture_output=True, text=True).stdout
    r = json.loads(out)[0]  # one row: one model, one thread count
    return r["median_ms"], r["peak_rss_mb"]


def ort(model, threads):
    out = subprocess.run(["node", "perf/peers/ort_bench.js", f"{models}/{model}.onnx", str(threads), str(seconds)],
                         check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    return r["median_ms"], r["peak_rss_mb"]


# This VM's speed drifts by 10-20% over minutes: the four measurements of a row take turns, ROUNDS
# rounds of them (default 3), and each column is the median of its round medians.
rounds = int(os.environ.get("ROUNDS", "3"))
print("| heads x seq x head size | threads | normrt fused ms | normrt unfused ms | fused speedup | per-round speedups | ORT Attention ms | ORT unfused ms "
      "| normrt fused / ORT best | peak MB: normrt fused | normrt unfused | ORT Attention |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for shape in ("12x128x64", "12x512x64", "12x2048x64", "8x4096x40"):
    for threads in (1, 2):
        runs = []
        for _ in range(rounds):
            runs.append((normrt(f"attn_fused_{shape}", threads), normrt(f"attn_unfused_{shape}", threads, optimize=False),
                         ort(f"attn_fused_{shape}", threads), ort(f"attn_unfused_{shape}", threads)))
        nf, nu, of, ou = (float(np.median([r[i][0] for r in runs])) for i in range(4))
        nf_mb, nu_mb, of_mb = (max(r[i][1] for r in runs) for i in range(3))
        speedups = [r[1][0] / r[0][0] for r in runs]
        print(f"| {shape} | {threads} | {nf:.3f} | {nu:.3f} | {nu / nf:.2f}x | {min(speedups):.2f}-{max(speedups):.2f} | {of:.3f} | {ou:.3f} "
              f"| {min(of, ou) / nf:.2f}x | {nf_mb:.0f} | {nu_mb:.0f} | {of_mb:.0f} |", flush=True)

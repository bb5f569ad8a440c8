"""Runs the models of make_attention_models under `normrt bench --json` and ONNX Runtime
(perf/peers/ort_bench.js), one process per measurement so each peak RSS is that run's own."""
import json
import subprocess
import sys

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


print("| seq | threads | normrt fused ms | normrt unfused ms | fused speedup | ORT Attention ms | ORT unfused ms | normrt fused / ORT best "
      "| peak MB: normrt fused | normrt unfused | ORT Attention |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for seq in (128, 512, 2048):
    for threads in (1, 2):
        (nf, nf_mb), (nu, nu_mb) = normrt(f"attn_fused_{seq}", threads), normrt(f"attn_unfused_{seq}", threads, optimize=False)
        (of, of_mb), (ou, _) = ort(f"attn_fused_{seq}", threads), ort(f"attn_unfused_{seq}", threads)
        print(f"| {seq} | {threads} | {nf:.3f} | {nu:.3f} | {nu / nf:.2f}x | {of:.3f} | {ou:.3f} | {min(of, ou) / nf:.2f}x "
              f"| {nf_mb:.0f} | {nu_mb:.0f} | {of_mb:.0f} |", flush=True)

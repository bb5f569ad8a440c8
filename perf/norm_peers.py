"""Model-level half of perf/norm_peers.sh: normrt (`normrt bench --json`) against ONNX Runtime
(perf/peers/ort_bench.js) on the models of make_norm_models, and PyTorch's group_norm.
  ROUNDS=N in the environment sets how many alternating rounds each row takes (default 3)."""
import json
import os
import subprocess
import sys
import time

build, seconds = sys.argv[1], float(sys.argv[2])
models = f"{build}/perf/norm_models"
SHAPES = {  # model -> (shape, ops in the chain)
    "ln_1x128x768": ([1, 128, 768], 1), "ln_8x512x768": ([8, 512, 768], 1),
    "ln_32x128x1024": ([32, 128, 1024], 1), "ln_1x2048x4096": ([1, 2048, 4096], 1),
    "gn_1x320x64x64_g32": ([1, 320, 64, 64], 1), "gn_2x640x32x32_g32": ([2, 640, 32, 32], 1),
    "gn_1x512x4000_g512": ([1, 512, 4000], 1),
    "chain_ln64_8x128x768": ([8, 128, 768], 64), "chain_gn16_1x320x64x64_g32": ([1, 320, 64, 64], 16),
}


def normrt_ms(model, threads):
    out = subprocess.run([f"{build}/normrt", "bench", f"{models}/{model}.onnx", "--threads", str(threads),
                          "--seconds", str(seconds), "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)[0]["median_ms"]  # one row: one model, one thread count


def ort_ms(model, threads):
    out = subprocess.run(["node", "perf/peers/ort_bench.js", f"{models}/{model}.onnx", str(threads), str(seconds)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["median_ms"]


def torch_gn_ms(shape, groups, threads):
    import torch
    torch.set_num_threads(threads)
    x = torch.randn(*shape)
    w, b = torch.randn(shape[1]), torch.randn(shape[1])
    with torch.no_grad():
        for _ in range(3):
            torch.nn.functional.group_norm(x, groups, w, b)
        times, start = [], time.perf_counter()
        while len(times) < 10 or time.perf_counter() - start < seconds:
            t0 = time.perf_counter()
            torch.nn.functional.group_norm(x, groups, w, b)
            times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return times[len(times) // 2]


try:
    import torch  # noqa: F401
    have_torch = True
except ImportError:
    have_torch = False

# This VM's speed drifts by 10-20% over minutes (the 64-LayerNorm chain's ratio read 2.5x and 3.1x
# in back-to-back runs): normrt, ONNX Runtime and PyTorch take turns, ROUNDS rounds of them, and each time
# column is the median of its round medians; the ratio column gives the range of per-round ratios.
rounds = int(os.environ.get("ROUNDS", "3"))
print("| model | threads | normrt ms/op | ORT ms/op | PyTorch ms/op | normrt GB/s | ORT GB/s | normrt / ORT | per-round ratios "
      "| normrt / PyTorch |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")


def median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else 0.5 * (values[mid - 1] + values[mid])


for threads in (1, 2):
    over_n, over_o = normrt_ms("overhead_ln_1x8", threads), ort_ms("overhead_ln_1x8", threads)
    for model, (shape, count) in SHAPES.items():
        with_torch = model.startswith(("gn_", "chain_gn")) and have_torch
        n_ops, o_ops, t_ops = [], [], []
        for _ in range(rounds):  # PyTorch (one group_norm call) takes its turn in each round too
            n_ms, o_ms = normrt_ms(model, threads), ort_ms(model, threads)
            if count == 1:  # single op: subtract each runtime's own per-call cost
                n_ops.append(max(n_ms - over_n, 1e-6))
                o_ops.append(max(o_ms - over_o, 1e-6))
            else:
                n_ops.append(n_ms / count)
                o_ops.append(o_ms / count)
            if with_torch:
                t_ops.append(torch_gn_ms(shape, int(model.rsplit("_g", 1)[1]), threads))
        n_op, o_op = median(n_ops), median(o_ops)
        ratios = [o / n for n, o in zip(n_ops, o_ops)]
        elems = 1
        for d in shape:
            elems *= d
        gb = 8.0 * elems / 1e9
        t_col, t_ratio = "n/a", "n/a"
        if with_torch:
            t_op = median(t_ops)
            t_col, t_ratio = f"{t_op:.3f}", f"{t_op / n_op:.2f}x"
        print(f"| {model} | {threads} | {n_op:.4f} | {o_op:.4f} | {t_col} | {gb / (n_op / 1e3):.1f} | "
              f"{gb / (o_op / 1e3):.1f} | {o_op / n_op:.2f}x | {min(ratios):.2f}-{max(ratios):.2f} | {t_ratio} |", flush=True)
    print(f"| per-call overhead (LN [1,8]) | {threads} | {over_n:.4f} | {over_o:.4f} | | | | | | |")

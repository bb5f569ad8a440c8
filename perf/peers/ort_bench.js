// Times ONNX Runtime (onnxruntime-node, CPU provider, all graph optimizations) on a model:
//   node ort_bench.js MODEL THREADS MIN_SECONDS  ->  prints {"median_ms": ..., "runs": ..., "peak_rss_mb": ...}
// Inputs are filled like `normrt bench` does: floats with uniform noise in [-1, 1), integer inputs
// (token ids, masks) with 1. Symbolic dims come from the environment: ORT_DIMS='{"seq": 128}'.
const ort = require('onnxruntime-node');

async function main() {
  const [model, threads, minSeconds] = [process.argv[2], parseInt(process.argv[3]), parseFloat(process.argv[4] || '1')];
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
  });
  const named = JSON.parse(process.env.ORT_DIMS || '{}');
  const feeds = {};
  for (const meta of session.inputMetadata) {
    const dims = meta.shape.map((d) => {
      if (typeof d === 'number' && d >= 0) return d;
      if (!(d in named)) throw new Error(`input ${meta.name} has the free dim '${d}': give it in ORT_DIMS`);
      return named[d];
    });
    const n = dims.reduce((a, b) => a * b, 1);
    let data;
    if (meta.type === 'int64') data = new BigInt64Array(n).fill(1n);
    else if (meta.type === 'int32') data = new Int32Array(n).fill(1);
    else {
      data = new Float32Array(n);
      for (let i = 0; i < n; ++i) data[i] = Math.random() * 2 - 1;
    }
    feeds[meta.name] = new ort.Tensor(meta.type === 'int64' || meta.type === 'int32' ? meta.type : 'float32', data, dims);
  }
  for (let i = 0; i < 3; ++i) await session.run(feeds);
  const times = [];
  const start = process.hrtime.bigint();
  while (times.length < 5 || Number(process.hrtime.bigint() - start) / 1e9 < minSeconds) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  // VmHWM starts afresh at exec; getrusage's maxRSS would carry the parent's peak.
  const hwm = /VmHWM:\s+(\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'));
  console.log(JSON.stringify({ median_ms: times[Math.floor(times.length / 2)], runs: times.length,
                              peak_rss_mb: (hwm ? parseInt(hwm[1]) : process.resourceUsage().maxRSS) / 1024 }));
}
main().catch((e) => { console.error(e.message || e); process.exit(2); });

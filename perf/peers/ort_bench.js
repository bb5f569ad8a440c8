// Times ONNX Runtime (onnxruntime-node, CPU provider, all graph optimizations) on a model:
//   node ort_bench.js MODEL THREADS MIN_SECONDS  ->  prints {"median_ms": ..., "runs": ..., "peak_rss_mb": ...}
// The input is filled like `normrt bench` does (uniform noise); shapes come from the model.
const ort = require('onnxruntime-node');

async function main() {
  const [model, threads, minSeconds] = [process.argv[2], parseInt(process.argv[3]), parseFloat(process.argv[4] || '1')];
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
  });
  const feeds = {};
  for (const name of session.inputNames) {
    const meta = session.inputMetadata ? session.inputMetadata.find?.((m) => m.name === name) : undefined;
    const dims = (meta && meta.shape) || JSON.parse(process.env.ORT_SHAPE);
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; ++i) data[i] = Math.random() * 2 - 1;
    feeds[name] = new ort.Tensor('float32', data, dims);
  }
  for (let i = 0; i < 3; ++i) await session.run(feeds);
  const times = [];
  const start = process.hrtime.bigint();
  while (times.length < 10 || Number(process.hrtime.bigint() - start) / 1e9 < minSeconds) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({ median_ms: times[Math.floor(times.length / 2)], runs: times.length,
                              peak_rss_mb: process.resourceUsage().maxRSS / 1024 }));
}
main().catch((e) => { console.error(e.message || e); process.exit(2); });

// Runs one model under ONNX Runtime (onnxruntime-node, CPU provider) for models/ort_cases/generate.py:
//   node ort_run.js MODEL INPUTS_JSON OUTPUTS_JSON
// INPUTS_JSON: [{"name", "type" ("float32" | "int32" | "int64" | "bool"), "dims", "data"}];
// OUTPUTS_JSON gets the same form for every model output.
const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, '..', '..', 'perf', 'peers', 'node_modules', 'onnxruntime-node'));

const arrays = { float32: Float32Array, int32: Int32Array, int64: BigInt64Array, bool: Uint8Array };

async function main() {
  const [model, inputsPath, outputsPath] = process.argv.slice(2);
  const session = await ort.InferenceSession.create(model, { executionProviders: ['cpu'], graphOptimizationLevel: 'disabled' });
  const feeds = {};
  for (const t of JSON.parse(fs.readFileSync(inputsPath, 'utf8'))) {
    const data = t.type === 'int64' ? BigInt64Array.from(t.data.map(BigInt)) : arrays[t.type].from(t.data);
    feeds[t.name] = new ort.Tensor(t.type, data, t.dims);
  }
  const results = await session.run(feeds);
  const out = session.outputNames.map((name) => {
    const t = results[name];
    return { name, type: t.type, dims: t.dims, data: Array.from(t.data, Number) };
  });
  fs.writeFileSync(outputsPath, JSON.stringify(out));
}
main().catch((e) => { console.error(e.message || e); process.exit(2); });

// Runs an ONNX model (bench/ortmodel writes difflab's) under ONNX Runtime's
// profiler with random inputs and prints where a run's time goes, per operator
// type, per output element type and for the slowest nodes, after one untimed
// warm-up run:
//
//	node bench/ort-profile.mjs MODEL.onnx [RUNS] [THREADS]
//
// ORT_NODE names the onnxruntime-node package directory (bench/ort-profile.sh
// installs it under build/ort/node_modules); TOP is how many of the slowest nodes to
// list (25).
import { createRequire } from 'node:module';
import { readFileSync, readdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';

const [model, runsArg, threadsArg] = process.argv.slice(2);
if (!model) {
  console.error('usage: node bench/ort-profile.mjs MODEL.onnx [RUNS] [THREADS]');
  process.exit(2);
}
const runs = Number(runsArg ?? 5);
const threads = Number(threadsArg ?? 0);
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`RUNS ${runsArg}: want a whole number >= 1`);
  process.exit(2);
}
if (!Number.isInteger(threads) || threads < 0) {
  console.error(`THREADS ${threadsArg}: want a whole number >= 0 (0: ONNX Runtime's default)`);
  process.exit(2);
}
const require = createRequire(import.meta.url);
const ort = require(process.env.ORT_NODE ?? 'onnxruntime-node');

const prefix = `ort-profile-${process.pid}`;
const options = { enableProfiling: true, profileFilePrefix: path.join(path.dirname(model), prefix) };
if (threads > 0) options.intraOpNumThreads = threads;
const session = await ort.InferenceSession.create(model, options);

// Random inputs of the model's shapes: N(0, 1)/4 for floats (Box-Muller, seeded),
// 0..999 for int32 (the timesteps), large integers for 64-bit ones (random states).
let seed = 1;
const uniform = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) + 0.5) / 2147483648;
const feeds = {};
for (const m of session.inputMetadata) {
  const n = m.shape.reduce((a, d) => a * d, 1);
  if (m.type === 'int32') {
    feeds[m.name] = new ort.Tensor('int32', Int32Array.from({ length: n }, () => Math.floor(uniform() * 1000)), m.shape);
  } else if (m.type === 'uint64' || m.type === 'int64') { // random-number states (dropout)
    const v = Array.from({ length: n }, () => BigInt(Math.floor(uniform() * 2 ** 31)) * 4294967311n);
    feeds[m.name] = new ort.Tensor(m.type, m.type === 'uint64' ? BigUint64Array.from(v) : BigInt64Array.from(v), m.shape);
  } else if (m.type !== 'float32') {
    throw new Error(`input ${m.name}: type ${m.type} not handled (float32, int32, int64, uint64 are)`);
  } else {
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()) / 4;
    feeds[m.name] = new ort.Tensor('float32', v, m.shape);
  }
}

const wall = [];
for (let i = 0; i <= runs; i++) {
  const t0 = process.hrtime.bigint();
  await session.run(feeds);
  wall.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
session.endProfiling(); // writes PREFIX_DATE.json next to the model
const name = readdirSync(path.dirname(model)).find((f) => f.startsWith(prefix) && f.endsWith('.json'));
if (!name) throw new Error(`no profile ${prefix}*.json written in ${path.dirname(model)}`);
const file = path.join(path.dirname(model), name);
const events = JSON.parse(readFileSync(file, 'utf8'));
unlinkSync(file);

// Keep the nodes of the timed runs: those after the end of the first model_run.
const modelRuns = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts - b.ts);
const after = modelRuns.length > 1 ? modelRuns[0].ts + modelRuns[0].dur : 0;
const nodes = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.ts >= after);
const byOp = new Map();
const byNode = new Map();
const byType = new Map(); // by the element type of a node's first output
for (const e of nodes) {
  const op = e.args.op_name;
  const s = byOp.get(op) ?? { us: 0, count: 0 };
  s.us += e.dur;
  s.count++;
  byOp.set(op, s);
  const k = e.name.replace(/_kernel_time$/, '');
  const t = byNode.get(k) ?? { op, us: 0, shape: JSON.stringify(e.args.output_type_shape ?? '') };
  t.us += e.dur;
  byNode.set(k, t);
  const out = (e.args.output_type_shape ?? [])[0];
  const type = out ? Object.keys(out)[0] : '(none)';
  const u = byType.get(type) ?? { us: 0, count: 0 };
  u.us += e.dur;
  u.count++;
  byType.set(type, u);
}
const total = [...byOp.values()].reduce((a, s) => a + s.us, 0);
const timed = wall.slice(1);
console.log(`model ${model}: ${nodes.length / runs} node runs a run; wall per run (ms) ${timed.map((w) => w.toFixed(0)).join(' ')} after a ${wall[0].toFixed(0)} ms warm-up`);
console.log(`kernel time ${(total / runs / 1000).toFixed(1)} ms a run (summed over nodes; with ${threads || 'default'} intra-op threads)`);
console.log('\nop type                     nodes/run   ms/run   share');
for (const [op, s] of [...byOp].sort((a, b) => b[1].us - a[1].us)) {
  console.log(`${op.padEnd(26)} ${String(s.count / runs).padStart(10)} ${(s.us / runs / 1000).toFixed(2).padStart(8)} ${(100 * s.us / total).toFixed(1).padStart(6)}%`);
}
console.log('\noutput type                 nodes/run   ms/run   share');
for (const [type, s] of [...byType].sort((a, b) => b[1].us - a[1].us)) {
  console.log(`${type.padEnd(26)} ${String(s.count / runs).padStart(10)} ${(s.us / runs / 1000).toFixed(2).padStart(8)} ${(100 * s.us / total).toFixed(1).padStart(6)}%`);
}
console.log('\nslowest nodes                                   op           ms/run  output');
for (const [k, t] of [...byNode].sort((a, b) => b[1].us - a[1].us).slice(0, Number(process.env.TOP ?? 25))) {
  console.log(`${k.slice(0, 46).padEnd(47)} ${t.op.padEnd(12)} ${(t.us / runs / 1000).toFixed(2).padStart(7)}  ${t.shape.slice(0, 80)}`);
}

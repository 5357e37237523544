// Runner for tools/ab-speed.sh: loads two bundles of the simulator (A and B),
// warms both, then times them in alternating batches in this one process, so
// that drift in the host's speed (large on shared 2-core machines) hits both
// alike. Prints the best and mean ms per run of each and the ratios B/A.
// Usage: node tools/ab-speed.mjs A.mjs B.mjs [scenario] [cpus] [rounds]
const [aPath, bPath, name = 'ping-pong', cpusArg = '1', roundsArg = '16'] = process.argv.slice(2);
if (!aPath || !bPath) {
  console.error('usage: node tools/ab-speed.mjs A.mjs B.mjs [scenario] [cpus] [rounds]');
  process.exit(2);
}
const cpus = Number(cpusArg);
const rounds = Number(roundsArg);
const mods = [];
for (const p of [aPath, bPath]) {
  const m = await import(p);
  mods.push({ m, sc: m.resolveScenario(name) });
}
const BATCH = 30;
for (const { m, sc } of mods) for (let i = 0; i < 300; i++) m.runScenario(sc, { seed: 1 + i, metrics: false, cpus });
const best = [Infinity, Infinity];
const sum = [0, 0];
const ratios = []; // B/A of each round's two adjacent batches: robust to the host's drift
for (let r = 0; r < rounds; r++) {
  const t2 = [0, 0];
  for (const idx of r % 2 === 0 ? [0, 1] : [1, 0]) {
    const { m, sc } = mods[idx];
    const t0 = performance.now();
    for (let i = 0; i < BATCH; i++) m.runScenario(sc, { seed: 1 + i + r * BATCH, metrics: false, cpus });
    const t = (performance.now() - t0) / BATCH;
    best[idx] = Math.min(best[idx], t);
    sum[idx] += t;
    t2[idx] = t;
  }
  ratios.push(t2[1] / t2[0]);
}
ratios.sort((x, y) => x - y);
const median = ratios[Math.floor(ratios.length / 2)];
const f = (x) => x.toFixed(3);
console.log(`${name}, ${cpus} CPU(s), ${rounds} alternating batches of ${BATCH} runs each`);
console.log(`A: best ${f(best[0])} ms/run, mean ${f(sum[0] / rounds)}`);
console.log(`B: best ${f(best[1])} ms/run, mean ${f(sum[1] / rounds)}`);
console.log(`B/A: best ${f(best[1] / best[0])}, mean ${f(sum[1] / sum[0])}, median of paired rounds ${f(median)} (below 1: B is faster)`);

// Host baselines measured in the same process as the simulator figures, so
// ratios compare like with like: the raw generator-resume rate (a generator
// yielding op-shaped objects, the simulator's inner loop without the
// simulator) and the short-lived object allocation rate.

export function generatorResumeRate(iterations = 5_000_000): number {
  function* gen(): Generator<{ k: number; a: number; b: number; c: number; x: unknown }, void, number> {
    let v = 0;
    for (;;) v = yield { k: v & 7, a: v, b: 4, c: 0, x: null };
  }
  const g = gen();
  let acc = 0;
  g.next(0);
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) {
    const r = g.next(i);
    acc += (r.value as { k: number }).k;
  }
  const ms = performance.now() - t0;
  if (acc < 0) console.log(acc);
  return iterations / (ms / 1000);
}

export function heapAllocRate(iterations = 5_000_000): number {
  let keep: { a: number; b: number }[] = [];
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) {
    keep.push({ a: i, b: i + 1 });
    if (keep.length > 1024) keep = [];
  }
  const ms = performance.now() - t0;
  return iterations / (ms / 1000);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

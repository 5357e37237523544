// Fairness over time: Jain's index J = (Σx)² / (n·Σx²) over the threads
// that have wanted the CPU since the first context switch, where x is the
// share of a thread's wanted time (running + runnable) that it actually ran,
// accumulated up to time t. J = 1 when every thread got the same share of
// what it asked for, 1/n when one thread got everything. Cumulative, so a
// time slice longer than the sampling step does not read as unfair. One
// panel per scenario (time scales differ); per series the median over seeds
// at each step, with the interquartile band.
import { frame, serialize, pathOf, r2, fmtHz, legend, legendHeight, cycleTicks, usTicks, FONT, type LegendItem } from '../svg.ts';
import { quantile } from './boxplot.ts';

export interface FairnessSeries {
  label: string;
  color: string;
  dash: string;
  /** Sampling step in cycles. */
  stepCycles: number;
  /** Per seed: Jain's index at the end of each step (null = no thread wanted the CPU yet). */
  perSeed: readonly (readonly (number | null)[])[];
}

export interface FairnessPanel {
  title: string;
  series: readonly FairnessSeries[];
}

/** Cumulative Jain's index at start + k*step, k = 1..steps, for one run (see the file header). */
export function jainOverTime(runs: readonly number[], waits: readonly number[], scheduled: ReadonlySet<number>, start: number, stepCycles: number, steps: number): (number | null)[] {
  const ran = new Map<number, Float64Array>();
  const wanted = new Map<number, Float64Array>();
  const add = (m: Map<number, Float64Array>, id: number, s: number, e: number): void => {
    let a = m.get(id);
    if (a === undefined) m.set(id, (a = new Float64Array(steps)));
    const s0 = Math.max(s, start) - start;
    const e0 = e - start;
    if (e0 <= s0) return;
    for (let w = Math.floor(s0 / stepCycles); w < steps && w * stepCycles < e0; w++) {
      const lo = Math.max(s0, w * stepCycles);
      const hi = Math.min(e0, (w + 1) * stepCycles);
      if (hi > lo) a[w] += hi - lo;
    }
  };
  for (let i = 0; i + 3 < runs.length; i += 4) {
    const id = runs[i + 1];
    if (!scheduled.has(id)) continue;
    add(ran, id, runs[i + 2], runs[i + 3]);
    add(wanted, id, runs[i + 2], runs[i + 3]);
  }
  for (let i = 0; i + 3 < waits.length; i += 4) if (scheduled.has(waits[i])) add(wanted, waits[i], waits[i + 1], waits[i + 2]);
  const ids = [...wanted.keys()].sort((a, b) => a - b);
  const cumRan = new Float64Array(ids.length);
  const cumWant = new Float64Array(ids.length);
  const out: (number | null)[] = [];
  for (let w = 0; w < steps; w++) {
    let sum = 0;
    let sq = 0;
    let n = 0;
    ids.forEach((id, j) => {
      cumRan[j] += ran.get(id)?.[w] ?? 0;
      cumWant[j] += wanted.get(id)![w];
      if (cumWant[j] <= 0) return;
      const x = cumRan[j] / cumWant[j];
      sum += x;
      sq += x * x;
      n++;
    });
    out.push(n === 0 || sq === 0 ? null : (sum * sum) / (n * sq));
  }
  return out;
}

const PANEL_H = 230;
const GAP = 110;

export function fairnessChart(title: string, subtitle: string, cpuHz: number, panels: readonly FairnessPanel[]): string {
  const items: LegendItem[] = [];
  const seen = new Set<string>();
  for (const p of panels) {
    for (const s of p.series) {
      if (seen.has(s.label)) continue;
      seen.add(s.label);
      items.push({ label: `${s.label} (median of ${s.perSeed.length} seeds, IQR band)`, color: s.color, dash: s.dash });
    }
  }
  const lh = legendHeight(items, 820 - 72 - 28);
  const margin = { top: 100, right: 28, bottom: 66 + lh, left: 72 };
  const h = margin.top + margin.bottom + panels.length * PANEL_H + (panels.length - 1) * GAP;
  const f = frame(title, subtitle, 820, h, margin);
  const d3 = f.d3;
  panels.forEach((p, pi) => {
    const g = f.plot.append('g').attr('transform', `translate(0,${pi * (PANEL_H + GAP)})`);
    let maxT = 0;
    for (const s of p.series) for (const r of s.perSeed) maxT = Math.max(maxT, r.length * s.stepCycles);
    g.append('text').attr('x', 0).attr('y', -42).attr('font-weight', 'bold').text(p.title);
    const x = d3.scaleLinear().domain([0, Math.max(1, maxT)]).range([0, f.width]);
    const y = d3.scaleLinear().domain([0, 1.05]).range([PANEL_H, 0]);
    const grid = g.append('g').attr('stroke', '#e6e6e6');
    for (const t of y.ticks(5)) grid.append('line').attr('x1', 0).attr('x2', r2(f.width)).attr('y1', r2(y(t))).attr('y2', r2(y(t)));
    for (const s of p.series) {
      const steps = Math.max(0, ...s.perSeed.map((r) => r.length));
      const med: [number, number][] = [];
      const upper: [number, number][] = [];
      const lower: [number, number][] = [];
      for (let w = 0; w < steps; w++) {
        const vals = s.perSeed.map((r) => r[w]).filter((v): v is number => v !== null && v !== undefined).sort((a, b) => a - b);
        if (vals.length === 0) continue;
        const t = x((w + 1) * s.stepCycles);
        med.push([t, y(quantile(vals, 0.5))]);
        upper.push([t, y(quantile(vals, 0.75))]);
        lower.push([t, y(quantile(vals, 0.25))]);
      }
      if (med.length === 0) continue;
      g.append('path').attr('d', pathOf([...upper, ...lower.reverse()]) + 'Z').attr('fill', s.color).attr('fill-opacity', 0.15).attr('stroke', 'none');
      const line = g.append('path').attr('d', pathOf(med)).attr('fill', 'none').attr('stroke', s.color).attr('stroke-width', 2);
      if (s.dash !== '') line.attr('stroke-dasharray', s.dash);
    }
    const bottom = g.append('g').attr('transform', `translate(0,${PANEL_H})`).call(d3.axisBottom(x).ticks(6).tickFormat(cycleTicks(x, 6)));
    bottom.selectAll('text').attr('font-family', FONT);
    g.append('text').attr('x', r2(f.width / 2)).attr('y', PANEL_H + 36).attr('text-anchor', 'middle').attr('class', 'axis-label').text('time since the first context switch (cycles)');
    const xu = x.copy().domain(x.domain().map((c: number) => (c * 1e6) / cpuHz));
    const top = g.append('g').call(d3.axisTop(xu).ticks(6).tickFormat(usTicks(xu, 6)));
    top.selectAll('text').attr('font-family', FONT);
    g.append('text').attr('x', r2(f.width)).attr('y', -24).attr('text-anchor', 'end').attr('class', 'axis-label').text(`(µs at ${fmtHz(cpuHz)})`);
    const left = g.append('g').call(d3.axisLeft(y).ticks(5).tickFormat((v: number) => String(Number(v.toFixed(2)))));
    left.selectAll('text').attr('font-family', FONT);
    g.append('text').attr('transform', `translate(${-margin.left + 16},${r2(PANEL_H / 2)}) rotate(-90)`).attr('text-anchor', 'middle').attr('class', 'axis-label').text("Jain's index (1 = fair)");
  });
  legend(f, items, margin.left, h - lh + 4, f.width);
  return serialize(f);
}

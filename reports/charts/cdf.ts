// Latency CDFs: for each series, the fraction of samples at or below a
// latency, from its cycle histogram (log-linear buckets, merged over all
// seeds), on a log time axis in cycles with microseconds above.
import type { Histogram } from '../../sim/histogram.ts';
import { frame, dualTimeAxis, yAxis, yGrid, legend, legendHeight, serialize, pathOf, noData, type LegendItem } from '../svg.ts';

export interface CdfSeries {
  label: string;
  color: string;
  dash: string;
  hist: Histogram;
}

export function cdfChart(title: string, subtitle: string, quantity: string, cpuHz: number, series: readonly CdfSeries[]): string {
  const items: LegendItem[] = series.map((s) => ({ label: `${s.label} (n=${s.hist.count})`, color: s.color, dash: s.dash }));
  const lh = legendHeight(items, 820 - 72 - 28);
  const margin = { top: 100, right: 28, bottom: 78 + lh, left: 72 };
  const H = 472 + lh;
  const f = frame(title, subtitle, 820, H, margin);
  const withData = series.filter((s) => s.hist.count > 0);
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of withData) {
    lo = Math.min(lo, Math.max(1, s.hist.min));
    hi = Math.max(hi, s.hist.max);
  }
  if (withData.length === 0) {
    lo = 1;
    hi = 10;
  }
  if (hi <= lo) hi = lo * 2;
  const x = f.d3.scaleLog().domain([lo / 1.25, hi * 1.25]).range([0, f.width]).clamp(true);
  const y = f.d3.scaleLinear().domain([0, 1]).range([f.height, 0]);
  yGrid(f, y, 5);
  for (const s of withData) {
    const pts: [number, number][] = [];
    let cum = 0;
    const n = s.hist.count;
    for (const [blo, bhi, c] of s.hist.buckets()) {
      const a = Math.max(blo, s.hist.min, 1);
      const b = Math.max(a, Math.min(bhi - 1, s.hist.max));
      pts.push([x(a), y(cum / n)]);
      cum += c;
      pts.push([x(b), y(cum / n)]);
    }
    const p = f.plot.append('path').attr('d', pathOf(pts)).attr('fill', 'none').attr('stroke', s.color).attr('stroke-width', 2);
    if (s.dash !== '') p.attr('stroke-dasharray', s.dash);
  }
  if (withData.length === 0) noData(f, 'no samples in this sweep');
  dualTimeAxis(f, x, cpuHz, quantity);
  yAxis(f, y, 'fraction of samples ≤ latency (CDF)', (v) => String(v), 5);
  legend(f, items, margin.left, H - lh + 4, f.width);
  return serialize(f);
}

// Spread across seeds: box plots of a per-run figure, one panel per scenario
// (each with its own scale, since scenarios differ by orders of magnitude),
// one box per configuration: quartiles, the median line, whiskers to the
// most extreme value within 1.5 IQR, points beyond. Values in cycles (left
// axis) and microseconds (right axis).
import { frame, serialize, r2, fmtHz, cycleTicks, usTicks, FONT, type Frame } from '../svg.ts';

export interface BoxSeries {
  label: string;
  color: string;
  values: readonly number[];
}

export interface BoxPanel {
  title: string;
  series: readonly BoxSeries[];
}

/** Type-7 quantile (linear interpolation, as R and NumPy default to) of sorted values. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

const PANEL_LEFT = 92;
const PANEL_RIGHT = 84;
const BOX_SLOT = 96;

function panel(f: Frame, x0: number, width: number, p: BoxPanel, quantity: string, cpuHz: number): void {
  const d3 = f.d3;
  const g = f.plot.append('g').attr('transform', `translate(${x0 + PANEL_LEFT},0)`);
  const pw = width - PANEL_LEFT - PANEL_RIGHT;
  g.append('text').attr('x', r2(pw / 2)).attr('y', -14).attr('text-anchor', 'middle').attr('font-weight', 'bold').text(p.title);
  const all = p.series.flatMap((s) => s.values);
  if (all.length === 0) {
    g.append('text').attr('x', r2(pw / 2)).attr('y', r2(f.height / 2)).attr('text-anchor', 'middle').attr('fill', '#888888').text('no samples');
    return;
  }
  let lo = Math.min(...all);
  let hi = Math.max(...all);
  if (hi === lo) {
    lo = lo * 0.95;
    hi = hi * 1.05 + 1;
  }
  const pad = (hi - lo) * 0.08;
  const y = d3.scaleLinear().domain([Math.max(0, lo - pad), hi + pad]).range([f.height, 0]).nice(5);
  const x = d3.scaleBand().domain(p.series.map((_, i) => String(i))).range([0, pw]).padding(0.3);
  const grid = g.append('g').attr('stroke', '#e6e6e6');
  for (const t of y.ticks(5)) grid.append('line').attr('x1', 0).attr('x2', r2(pw)).attr('y1', r2(y(t))).attr('y2', r2(y(t)));
  p.series.forEach((s, i) => {
    const v = [...s.values].sort((a, b) => a - b);
    const cx = x(String(i)) as number;
    const bw = x.bandwidth() as number;
    const mid = cx + bw / 2;
    g.append('text').attr('x', r2(mid)).attr('y', f.height + 18).attr('text-anchor', 'middle').text(s.label.length > 16 ? s.label.slice(0, 15) + '…' : s.label);
    g.append('text').attr('x', r2(mid)).attr('y', f.height + 33).attr('text-anchor', 'middle').attr('fill', '#666666').text(`n=${v.length}`);
    if (v.length === 0) return;
    const q1 = quantile(v, 0.25);
    const q2 = quantile(v, 0.5);
    const q3 = quantile(v, 0.75);
    const iqr = q3 - q1;
    const wlo = v.find((z) => z >= q1 - 1.5 * iqr) ?? v[0];
    const whi = [...v].reverse().find((z) => z <= q3 + 1.5 * iqr) ?? v[v.length - 1];
    const b = g.append('g').attr('stroke', '#333333');
    b.append('line').attr('x1', r2(mid)).attr('x2', r2(mid)).attr('y1', r2(y(wlo))).attr('y2', r2(y(q1)));
    b.append('line').attr('x1', r2(mid)).attr('x2', r2(mid)).attr('y1', r2(y(q3))).attr('y2', r2(y(whi)));
    b.append('line').attr('x1', r2(mid - bw / 4)).attr('x2', r2(mid + bw / 4)).attr('y1', r2(y(wlo))).attr('y2', r2(y(wlo)));
    b.append('line').attr('x1', r2(mid - bw / 4)).attr('x2', r2(mid + bw / 4)).attr('y1', r2(y(whi))).attr('y2', r2(y(whi)));
    b.append('rect')
      .attr('x', r2(cx))
      .attr('y', r2(y(q3)))
      .attr('width', r2(bw))
      .attr('height', r2(Math.max(1, y(q1) - y(q3))))
      .attr('fill', s.color)
      .attr('fill-opacity', 0.75);
    b.append('line').attr('x1', r2(cx)).attr('x2', r2(cx + bw)).attr('y1', r2(y(q2))).attr('y2', r2(y(q2))).attr('stroke-width', 2.5);
    for (const z of v) if (z < wlo || z > whi) b.append('circle').attr('cx', r2(mid)).attr('cy', r2(y(z))).attr('r', 2.5).attr('fill', 'none');
  });
  const left = g.append('g').call(d3.axisLeft(y).ticks(5).tickFormat(cycleTicks(y, 5)));
  left.selectAll('text').attr('font-family', FONT);
  const yu = y.copy().domain(y.domain().map((c: number) => (c * 1e6) / cpuHz));
  const right = g.append('g').attr('transform', `translate(${r2(pw)},0)`).call(d3.axisRight(yu).ticks(5).tickFormat(usTicks(yu, 5)));
  right.selectAll('text').attr('font-family', FONT);
  g.append('text').attr('transform', `translate(${-PANEL_LEFT + 14},${r2(f.height / 2)}) rotate(-90)`).attr('text-anchor', 'middle').attr('class', 'axis-label').text(`${quantity} (cycles)`);
  g.append('text').attr('transform', `translate(${r2(pw + PANEL_RIGHT - 10)},${r2(f.height / 2)}) rotate(90)`).attr('text-anchor', 'middle').attr('class', 'axis-label').text(`(µs at ${fmtHz(cpuHz)})`);
}

export function boxChart(title: string, subtitle: string, quantity: string, cpuHz: number, panels: readonly BoxPanel[]): string {
  const widths = panels.map((p) => PANEL_LEFT + PANEL_RIGHT + Math.max(150, p.series.length * BOX_SLOT));
  const margin = { top: 80, right: 12, bottom: 70, left: 12 };
  const w = Math.max(520, widths.reduce((a, b) => a + b, 0) + margin.left + margin.right + 24 * (panels.length - 1));
  const f = frame(title, subtitle, w, 440, margin);
  let x0 = 0;
  panels.forEach((p, i) => {
    panel(f, x0, widths[i], p, quantity, cpuHz);
    x0 += widths[i] + 24;
  });
  return serialize(f);
}

// Chart scaffolding on d3-node (server-side d3 on a jsdom document): a
// frame with title, subtitle, plot area and legend; axes that carry units
// (cycles below, microseconds above, at the run's CPU frequency); and
// serialization. Everything is deterministic: no ids from counters shared
// across charts, coordinates rounded to 0.01 px, fixed number formats.
import { D3Node } from 'd3-node';

export const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';
/** Colour-blind-friendly categorical palette (Tableau 10). */
export const PALETTE = ['#4e79a7', '#f28e2c', '#e15759', '#76b7b2', '#59a14f', '#edc949', '#af7aa1', '#ff9da7', '#9c755f', '#bab0ab'];
export const DASHES = ['', '6,3', '2,2', '8,3,2,3'];

/** Rounds a coordinate to 0.01 (stable, short output). */
export function r2(v: number): number {
  return Math.round(v * 100) / 100;
}

export interface Margin {
  top: number;
  right: number;
  bottom: number;
  left: number;
}

export interface Frame {
  readonly d3n: D3Node;
  readonly d3: any;
  readonly svg: any;
  /** The plot group, translated to the plot area's origin. */
  readonly plot: any;
  readonly width: number;
  readonly height: number;
  readonly margin: Margin;
}

/** A chart: `w` x `h` pixels overall, a title and a subtitle line, and a plot area inside `margin`. */
export function frame(title: string, subtitle: string, w: number, h: number, margin: Margin): Frame {
  const d3n = new D3Node();
  const svg = d3n.createSVG(w, h, { viewBox: `0 0 ${w} ${h}`, 'font-family': FONT, 'font-size': 12 });
  svg.append('rect').attr('width', w).attr('height', h).attr('fill', '#ffffff');
  svg.append('text').attr('x', 12).attr('y', 20).attr('font-size', 15).attr('font-weight', 'bold').text(title);
  if (subtitle !== '') svg.append('text').attr('x', 12).attr('y', 38).attr('fill', '#555555').text(subtitle);
  const plot = svg.append('g').attr('transform', `translate(${margin.left},${margin.top})`);
  return { d3n, d3: d3n.d3, svg, plot, width: w - margin.left - margin.right, height: h - margin.top - margin.bottom, margin };
}

/** SI-style cycle counts: 950, 12k, 3.4M, 1.2G. */
export function fmtCycles(v: number): string {
  const a = Math.abs(v);
  const unit = (d: number, s: string): string => `${Number((v / d).toPrecision(3))}${s}`;
  if (a >= 1e9) return unit(1e9, 'G');
  if (a >= 1e6) return unit(1e6, 'M');
  if (a >= 1e4) return unit(1e3, 'k');
  return String(Number(v.toPrecision(4)));
}

/** Microseconds with up to 3 significant digits (no exponent). */
export function fmtUs(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1000) return String(Math.round(v)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return String(Number(v.toPrecision(3)));
}

/** Tick values for a log axis over [lo, hi]: powers of ten, plus 2x and 5x when the range is short. */
export function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  const k0 = Math.floor(Math.log10(lo));
  const k1 = Math.ceil(Math.log10(hi));
  const mult = k1 - k0 <= 3 ? [1, 2, 5] : [1];
  for (let k = k0; k <= k1; k++) {
    for (const m of mult) {
      const v = Number((m * 10 ** k).toPrecision(12));
      if (v >= lo && v <= hi) out.push(v);
    }
  }
  return out;
}

/** Tick labels in cycles for a linear scale: SI prefixes with just enough digits to tell ticks apart. */
export function cycleTicks(scale: any, ticks: number): (v: number) => string {
  if (typeof scale.base === 'function') return fmtCycles;
  const f = scale.tickFormat(ticks, '~s');
  return (v: number) => (v === 0 ? '0' : f(v));
}

/** Tick labels in microseconds for a linear scale (thousands separated, no trailing zeros). */
export function usTicks(scale: any, ticks: number): (v: number) => string {
  return typeof scale.base === 'function' ? fmtUs : scale.tickFormat(ticks, ',~f');
}

function axisTicks(axis: any, scale: any, ticks: number): any {
  if (typeof scale.base === 'function') {
    const [lo, hi] = scale.domain();
    return axis.tickValues(logTicks(lo, hi));
  }
  return axis.ticks(ticks);
}

/**
 * A time axis in cycles below the plot and in microseconds above it.
 * `x` is a d3 scale (linear or log) in cycles; `cpuHz` converts.
 */
export function dualTimeAxis(f: Frame, x: any, cpuHz: number, label: string, ticks = 6): void {
  const d3 = f.d3;
  const bottom = f.plot.append('g').attr('transform', `translate(0,${f.height})`).call(axisTicks(d3.axisBottom(x), x, ticks).tickFormat(cycleTicks(x, ticks)));
  bottom.selectAll('text').attr('font-family', FONT);
  f.plot.append('text').attr('x', r2(f.width / 2)).attr('y', f.height + 40).attr('text-anchor', 'middle').attr('class', 'axis-label').text(`${label} (cycles)`);
  const toUs = (c: number): number => (c * 1e6) / cpuHz;
  const xu = x.copy().domain(x.domain().map(toUs));
  const top = f.plot.append('g').call(axisTicks(d3.axisTop(xu), xu, ticks).tickFormat(usTicks(xu, ticks)));
  top.selectAll('text').attr('font-family', FONT);
  f.plot.append('text').attr('x', r2(f.width / 2)).attr('y', -32).attr('text-anchor', 'middle').attr('class', 'axis-label').text(`${label} (µs at ${fmtHz(cpuHz)})`);
}

export function fmtHz(hz: number): string {
  return hz % 1e9 === 0 ? `${hz / 1e9} GHz` : hz % 1e6 === 0 ? `${hz / 1e6} MHz` : `${hz} Hz`;
}

/** A y axis with a rotated label. */
export function yAxis(f: Frame, y: any, label: string, format: (v: number) => string, ticks = 6): void {
  const g = f.plot.append('g').call(f.d3.axisLeft(y).ticks(ticks).tickFormat(format));
  g.selectAll('text').attr('font-family', FONT);
  f.plot
    .append('text')
    .attr('transform', `translate(${-f.margin.left + 16},${r2(f.height / 2)}) rotate(-90)`)
    .attr('text-anchor', 'middle')
    .attr('class', 'axis-label')
    .text(label);
}

/** Light horizontal grid lines at the y ticks. */
export function yGrid(f: Frame, y: any, ticks = 6): void {
  const g = f.plot.append('g').attr('stroke', '#e6e6e6');
  for (const t of y.ticks(ticks)) g.append('line').attr('x1', 0).attr('x2', f.width).attr('y1', r2(y(t))).attr('y2', r2(y(t)));
}

export interface LegendItem {
  label: string;
  color: string;
  dash?: string;
  /** 'line' (default) or 'box'. */
  kind?: 'line' | 'box';
}

function itemWidth(it: LegendItem): number {
  return 28 + it.label.length * 6.6;
}

/** Height in pixels of a legend of `items` wrapped at `maxWidth`. */
export function legendHeight(items: readonly LegendItem[], maxWidth: number): number {
  let cx = 0;
  let rows = items.length > 0 ? 1 : 0;
  for (const it of items) {
    const w = itemWidth(it);
    if (cx > 0 && cx + w > maxWidth) {
      cx = 0;
      rows++;
    }
    cx += w;
  }
  return rows * 18;
}

/** A legend in rows, from (x, y) in svg coordinates, wrapping at `maxWidth`. */
export function legend(f: Frame, items: readonly LegendItem[], x: number, y: number, maxWidth: number): number {
  const g = f.svg.append('g').attr('class', 'legend');
  let cx = 0;
  let cy = 0;
  for (const it of items) {
    const w = itemWidth(it);
    if (cx > 0 && cx + w > maxWidth) {
      cx = 0;
      cy += 18;
    }
    if (it.kind === 'box') g.append('rect').attr('x', x + cx).attr('y', y + cy - 9).attr('width', 14).attr('height', 10).attr('fill', it.color);
    else {
      const l = g.append('line').attr('x1', x + cx).attr('x2', x + cx + 18).attr('y1', y + cy - 4).attr('y2', y + cy - 4).attr('stroke', it.color).attr('stroke-width', 2.5);
      if (it.dash) l.attr('stroke-dasharray', it.dash);
    }
    g.append('text').attr('x', x + cx + 22).attr('y', y + cy).text(it.label);
    cx += w;
  }
  return cy + 18;
}

/** A polyline path ("M x,y L x,y ...") with rounded coordinates. */
export function pathOf(points: readonly [number, number][]): string {
  let s = '';
  for (let i = 0; i < points.length; i++) s += `${i === 0 ? 'M' : 'L'}${r2(points[i][0])},${r2(points[i][1])}`;
  return s;
}

/** The chart as a standalone SVG file. */
export function serialize(f: Frame): string {
  return '<?xml version="1.0" encoding="UTF-8"?>\n' + f.d3n.svgString() + '\n';
}

/** A note drawn in the plot area when a chart has no data. */
export function noData(f: Frame, text: string): void {
  f.plot.append('text').attr('x', r2(f.width / 2)).attr('y', r2(f.height / 2)).attr('text-anchor', 'middle').attr('fill', '#888888').text(text);
}

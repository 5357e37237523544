// CPU timeline: a Gantt chart with one row per CPU over a window of one run,
// each stretch coloured by the thread that ran; idle-thread time is grey and
// halted time is left blank. One pixel column shows the thread that ran most
// of it (halted when the CPU was halted for at least half), so the chart
// stays small for long runs; the subtitle gives the window.
import { frame, dualTimeAxis, legend, legendHeight, serialize, r2, PALETTE, type LegendItem } from '../svg.ts';

export interface TimelineInput {
  title: string;
  subtitle: string;
  cpus: number;
  cpuHz: number;
  /** Window [start, end) in cycles. */
  start: number;
  end: number;
  /** cpu, stack id, start, end (Timeline.runs). */
  runs: readonly number[];
  /** cpu, start, end (Timeline.halts). */
  halts: readonly number[];
  names: ReadonlyMap<number, string>;
  /** What time 0 of the axis is ("time since the first context switch"). */
  axisLabel: string;
  /** Threads the scheduler queued (coloured); the others (idle threads, boot stacks) are grey. */
  scheduled: ReadonlySet<number>;
}

const WIDTH = 960;
const ROW = 28;
const GREY = '#c8c8c8';

/** Colour of each scheduled thread: palette by ascending id. */
export function threadColors(scheduled: ReadonlySet<number>): Map<number, string> {
  const ids = [...scheduled].sort((a, b) => a - b);
  return new Map(ids.map((id, i) => [id, PALETTE[i % PALETTE.length]]));
}

export function timelineChart(d: TimelineInput): string {
  const colors = threadColors(d.scheduled);
  // Legend: the scheduled threads that ran in the window (up to 16), then the greys.
  const inWindow = new Set<number>();
  for (let i = 0; i + 3 < d.runs.length; i += 4) if (d.runs[i + 3] > d.start && d.runs[i + 2] < d.end && colors.has(d.runs[i + 1])) inWindow.add(d.runs[i + 1]);
  const items: LegendItem[] = [...inWindow].sort((a, b) => a - b).map((id) => ({ label: `${d.names.get(id) ?? `thread ${id}`} (${id})`, color: colors.get(id)!, kind: 'box' as const }));
  const shown = items.slice(0, 16);
  if (items.length > shown.length) shown.push({ label: `+${items.length - shown.length} more threads`, color: '#ffffff', kind: 'box' });
  shown.push({ label: 'idle thread / boot stack', color: GREY, kind: 'box' }, { label: 'halted', color: '#f4f4f4', kind: 'box' });
  const lh = legendHeight(shown, WIDTH - 70 - 24);
  const margin = { top: 100, right: 24, bottom: 78 + lh, left: 70 };
  const height = margin.top + margin.bottom + d.cpus * (ROW + 8);
  const f = frame(d.title, d.subtitle, WIDTH, height, margin);
  const cols = Math.floor(f.width);
  const span = Math.max(1, d.end - d.start);
  const colCycles = span / cols;
  const x = f.d3.scaleLinear().domain([0, span]).range([0, f.width]);
  // Coverage per CPU: stack id -> cycles per column; halted cycles per column.
  const cover: Map<number, Float64Array>[] = [];
  const halted: Float64Array[] = [];
  for (let c = 0; c < d.cpus; c++) {
    cover.push(new Map());
    halted.push(new Float64Array(cols));
  }
  const spread = (arr: Float64Array, s: number, e: number): void => {
    const a = Math.max(s, d.start) - d.start;
    const b = Math.min(e, d.end) - d.start;
    if (b <= a) return;
    let i = Math.floor(a / colCycles);
    while (i < cols) {
      const c0 = i * colCycles;
      const c1 = c0 + colCycles;
      if (c0 >= b) break;
      arr[i] += Math.min(b, c1) - Math.max(a, c0);
      i++;
    }
  };
  for (let i = 0; i + 3 < d.runs.length; i += 4) {
    const cpu = d.runs[i];
    if (cpu >= d.cpus) continue;
    const id = d.runs[i + 1];
    let arr = cover[cpu].get(id);
    if (arr === undefined) cover[cpu].set(id, (arr = new Float64Array(cols)));
    spread(arr, d.runs[i + 2], d.runs[i + 3]);
  }
  for (let i = 0; i + 2 < d.halts.length; i += 3) if (d.halts[i] < d.cpus) spread(halted[d.halts[i]], d.halts[i + 1], d.halts[i + 2]);

  for (let c = 0; c < d.cpus; c++) {
    const y = c * (ROW + 8);
    f.plot.append('rect').attr('x', 0).attr('y', y).attr('width', r2(f.width)).attr('height', ROW).attr('fill', '#f4f4f4');
    f.plot.append('text').attr('x', -8).attr('y', y + ROW / 2 + 4).attr('text-anchor', 'end').text(`CPU ${c}`);
    const ids = [...cover[c].keys()].sort((a, b) => a - b);
    // Column owner: -1 blank (halted or nothing), else the stack id that covered most.
    let runStart = 0;
    let runOwner = -2;
    const flush = (endCol: number): void => {
      if (runOwner >= 0 && endCol > runStart) {
        f.plot
          .append('rect')
          .attr('x', runStart)
          .attr('y', y)
          .attr('width', endCol - runStart)
          .attr('height', ROW)
          .attr('fill', colors.get(runOwner) ?? GREY);
      }
    };
    for (let col = 0; col <= cols; col++) {
      let owner = -1;
      if (col < cols) {
        let best = 0;
        for (const id of ids) {
          const v = cover[c].get(id)![col];
          if (v > best) {
            best = v;
            owner = id;
          }
        }
        if (owner >= 0 && halted[c][col] * 2 >= colCycles) owner = -1;
      }
      if (col === cols || owner !== runOwner) {
        flush(col);
        runStart = col;
        runOwner = owner;
      }
    }
  }
  dualTimeAxis(f, x, d.cpuHz, d.axisLabel, 8);
  legend(f, shown, margin.left, height - lh + 4, f.width);
  return serialize(f);
}

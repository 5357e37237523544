// The report generator behind `rugo report`: runs a sweep (scenarios x
// configurations x seeds) with run metrics and timelines, then draws SVG
// charts with d3-node and writes an index.html that links them with a
// summary table, plus summary.json with every figure.
//
// Charts (reports/charts/): a CPU timeline of one chosen seed per scenario
// and configuration; latency CDFs (scheduling, IPC round trip, interrupt,
// syscall, context switch) merged over seeds; box plots of per-seed figures
// (spread across seeds); Jain's fairness index over time. With --compare
// KEY=A,B every chart carries both configurations (overlaid in one chart,
// timelines side by side) and the table adds the change from A to B.
//
// Output is a pure function of the inputs: no timestamps, host names,
// absolute paths or wall times; series, threads and files in a fixed order;
// numbers formatted with fixed rules.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveScenario, type Scenario } from '../scenarios/scenario.ts';
import { runScenario } from '../scenarios/runner.ts';
import { failureKind } from '../scenarios/fuzz.ts';
import { Histogram, type HistogramSummary } from '../sim/histogram.ts';
import type { Timeline } from '../sim/metrics.ts';
import { KNOWN_KEYS } from '../os/options.ts';
import { PALETTE, DASHES, fmtHz } from './svg.ts';
import { timelineChart } from './charts/timeline.ts';
import { cdfChart } from './charts/cdf.ts';
import { boxChart, quantile } from './charts/boxplot.ts';
import { fairnessChart, jainOverTime } from './charts/fairness.ts';
import { indexHtml } from './html.ts';

export class ReportError extends Error {}

export interface ReportOptions {
  /** Scenario names or files. */
  scenarios: readonly string[];
  /** Seeds per scenario and configuration: firstSeed .. firstSeed+seeds-1. */
  seeds: number;
  firstSeed?: number;
  /** CPU count for every run (default: each scenario's). */
  cpus?: number;
  /** "KEY=A,B": compare configurations; KEY is `cpus` or a kernel option (sched, quantum, hz, ...). */
  compare?: string;
  /** Seed whose CPU timeline is drawn (default: the first seed). */
  timelineSeed?: number;
  /** Fairness sampling steps over the timeline seed's run (default 60). */
  windows?: number;
  /** Called after every run. */
  onProgress?: (done: number, total: number, label: string) => void;
}

export interface Config {
  /** "" without --compare, else "KEY=V". */
  label: string;
  slug: string;
  cpus?: number;
  extra: string[];
}

/** Parses --compare KEY=A,B[,C...] into configurations; refuses bad input with a message. */
export function parseCompare(spec: string | undefined, cpus?: number): Config[] {
  if (spec === undefined) return [{ label: '', slug: '', cpus, extra: [] }];
  const m = /^([a-z_][a-z0-9_]*)=([^,\s]+(?:,[^,\s]+)+)$/i.exec(spec.trim());
  if (m === null) throw new ReportError(`--compare must look like KEY=A,B (e.g. sched=rr,stride or cpus=1,4), got '${spec}'`);
  const key = m[1];
  const values = m[2].split(',');
  if (values.length > 4) throw new ReportError(`--compare takes at most 4 values, got ${values.length}`);
  if (new Set(values).size !== values.length) throw new ReportError(`--compare values must differ, got '${m[2]}'`);
  if (key === 'cpus') {
    return values.map((v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 8) throw new ReportError(`--compare cpus values must be integers in 1..8, got '${v}'`);
      return { label: `cpus=${n}`, slug: `cpus-${n}`, cpus: n, extra: [] };
    });
  }
  if (!KNOWN_KEYS.has(key)) throw new ReportError(`--compare: '${key}' is not a kernel option (known: cpus, ${[...KNOWN_KEYS].sort().join(', ')})`);
  return values.map((v) => ({ label: `${key}=${v}`, slug: `${key}-${v}`.replace(/[^a-z0-9-]+/gi, '_'), cpus, extra: [`${key}=${v}`] }));
}

/** Latency histograms kept per series (merged over seeds). */
export const LATENCIES = [
  { key: 'sched', file: 'cdf-sched-latency', title: 'Scheduling latency', quantity: 'wakeup to running', note: 'From the kernel making a sleeping thread runnable (paravirtual trace port, Wake) to the switch onto it.' },
  { key: 'ipcRtt', file: 'cdf-ipc-round-trip', title: 'IPC round trip', quantity: 'send to own next receive', note: 'From a thread queueing a message on an endpoint to the same thread taking its next message (a request and its reply).' },
  { key: 'irq', file: 'cdf-irq-latency', title: 'Interrupt latency', quantity: 'line raised to handler entry', note: 'From the source raising the interrupt (IOAPIC pin, IPI, LAPIC timer expiry) to the handler frame being pushed; includes the APIC bus latency and any time with interrupts off.' },
  { key: 'syscall', file: 'cdf-syscall', title: 'Syscall latency (all numbers)', quantity: 'int 0x80 entry to iret', note: 'From syscall entry to its return, every syscall number; a blocking call includes its wait.' },
  { key: 'switch', file: 'cdf-context-switch', title: 'Context switch', quantity: 'pick to switch', note: 'From the scheduler choosing the next thread to the switch completing (address-space load, bookkeeping, swtch).' },
  { key: 'io', file: 'cdf-io-latency', title: 'Block I/O latency', quantity: 'request service time', note: 'Per request: the device model taking it from the ring to completing it (virtio-blk), and driver-reported submit to completion where the kernel reports it.' },
] as const;

type LatencyKey = (typeof LATENCIES)[number]['key'];

interface SeriesAcc {
  scenario: Scenario;
  config: Config;
  label: string;
  color: string;
  dash: string;
  cpus: number;
  cpuHz: number;
  runs: number;
  pass: number;
  failures: Map<string, number>;
  hist: Record<LatencyKey, Histogram>;
  perSeed: { seed: number; cycles: number; workload: number; schedP50: number; schedP99: number; ipcRttP50: number; switches: number; syscalls: number; jainMean: number }[];
  windowCycles: number;
  jain: (number | null)[][];
  timeline: { seed: number; tl: Timeline; start: number; end: number; scheduled: Set<number> } | null;
}

export interface SeriesSummary {
  label: string;
  scenario: string;
  config: string;
  cpus: number;
  runs: number;
  pass: number;
  failures: Record<string, number>;
  medianCycles: number;
  medianWorkloadCycles: number;
  medianSwitches: number;
  medianSyscalls: number;
  jainMean: number | null;
  latency: Record<LatencyKey, HistogramSummary>;
}

export interface Report {
  /** File name -> contents, in a stable order. */
  files: Map<string, string>;
  series: SeriesSummary[];
  command: string;
}

function median(xs: readonly number[]): number {
  return quantile([...xs].sort((a, b) => a - b), 0.5);
}

/** Runs the sweep and renders every file (nothing is written). */
export function buildReport(o: ReportOptions): Report {
  if (o.scenarios.length === 0) throw new ReportError('give at least one scenario');
  if (!Number.isInteger(o.seeds) || o.seeds < 1) throw new ReportError(`--seeds must be a positive integer, got ${o.seeds}`);
  const first = o.firstSeed ?? 1;
  const seeds = Array.from({ length: o.seeds }, (_, i) => first + i);
  const tlSeed = o.timelineSeed ?? first;
  if (!seeds.includes(tlSeed)) throw new ReportError(`--timeline-seed ${tlSeed} is not among the seeds ${first}..${first + o.seeds - 1}`);
  const order = [tlSeed, ...seeds.filter((s) => s !== tlSeed)];
  const windows = o.windows ?? 60;
  const configs = parseCompare(o.compare, o.cpus);
  const scenarios = [...new Set(o.scenarios)].map((n) => resolveScenario(n));
  const compare = configs.length > 1;
  const series: SeriesAcc[] = [];
  scenarios.forEach((sc, si) => {
    configs.forEach((cfg, ci) => {
      series.push({
        scenario: sc,
        config: cfg,
        label: compare ? `${sc.name} · ${cfg.label}` : sc.name,
        color: PALETTE[(compare ? ci : si) % PALETTE.length],
        dash: compare ? DASHES[si % DASHES.length] : '',
        cpus: cfg.cpus ?? sc.machine.cpus,
        cpuHz: 0,
        runs: 0,
        pass: 0,
        failures: new Map(),
        hist: { sched: new Histogram(), ipcRtt: new Histogram(), irq: new Histogram(), syscall: new Histogram(), switch: new Histogram(), io: new Histogram() },
        perSeed: [],
        windowCycles: 0,
        jain: [],
        timeline: null,
      });
    });
  });
  const total = series.length * seeds.length;
  let done = 0;
  for (const s of series) {
    for (const seed of order) {
      const r = runScenario(s.scenario, { seed, cpus: s.cpus, extraOptions: s.config.extra, timeline: true });
      const m = r.metrics!;
      const tl = m.timeline!;
      const sum = m.summary();
      s.runs++;
      s.cpuHz = sum.cpuHz;
      if (r.verdict === 'pass') s.pass++;
      else {
        const k = failureKind(r);
        s.failures.set(k, (s.failures.get(k) ?? 0) + 1);
      }
      s.hist.sched.merge(m.schedLatency);
      s.hist.ipcRtt.merge(m.ipcRoundTrip);
      s.hist.irq.merge(m.irqLatency);
      s.hist.switch.merge(m.switchLatency);
      for (const h of m.ioLatency().values()) s.hist.io.merge(h);
      let syscalls = 0;
      for (const num of [...m.syscallLatency.keys()].sort((a, b) => a - b)) {
        const h = m.syscallLatency.get(num)!;
        s.hist.syscall.merge(h);
        syscalls += h.count;
      }
      const start = tl.firstSwitch >= 0 ? tl.firstSwitch : 0;
      const end = r.cycles;
      const scheduled = new Set<number>();
      for (let i = 0; i < tl.waits.length; i += 4) scheduled.add(tl.waits[i]);
      if (s.windowCycles === 0) s.windowCycles = Math.max(1, Math.ceil((end - start) / windows));
      const jw = jainOverTime(tl.runs, tl.waits, scheduled, start, s.windowCycles, Math.max(1, Math.ceil((end - start) / s.windowCycles)));
      s.jain.push(jw);
      const jv = jw.filter((v): v is number => v !== null);
      s.perSeed.push({
        seed,
        cycles: r.cycles,
        workload: end - start,
        schedP50: m.schedLatency.quantile(0.5),
        schedP99: m.schedLatency.quantile(0.99),
        ipcRttP50: m.ipcRoundTrip.quantile(0.5),
        switches: sum.contextSwitch.count,
        syscalls,
        jainMean: jv.length === 0 ? NaN : jv.reduce((a, b) => a + b, 0) / jv.length,
      });
      if (seed === tlSeed) s.timeline = { seed, tl, start, end, scheduled };
      done++;
      o.onProgress?.(done, total, `${s.label} seed ${seed}`);
    }
    s.perSeed.sort((a, b) => a.seed - b.seed);
  }

  const files = new Map<string, string>();
  const cpuHz = series[0].cpuHz;
  const sweep = `${seeds.length} seed${seeds.length === 1 ? '' : 's'} (${first}..${first + seeds.length - 1})`;
  const charts: { file: string; title: string; note: string; group: string }[] = [];

  // CPU timelines (one seed each).
  for (const s of series) {
    const t = s.timeline!;
    const file = `timeline-${s.scenario.name}${s.config.slug ? '-' + s.config.slug : ''}.svg`;
    files.set(
      file,
      timelineChart({
        title: `CPU timeline — ${s.label}`,
        subtitle: `seed ${t.seed}, ${s.cpus} CPU${s.cpus === 1 ? '' : 's'}; cycles ${t.start}–${t.end} (boot before the first context switch is left out); ${fmtHz(s.cpuHz)}`,
        cpus: s.cpus,
        cpuHz: s.cpuHz,
        start: t.start,
        end: t.end,
        runs: t.tl.runs,
        halts: t.tl.halts,
        names: t.tl.names,
        scheduled: t.scheduled,
        axisLabel: 'time since the first context switch',
      }),
    );
    charts.push({ file, title: `CPU timeline — ${s.label}`, note: 'Which thread ran on each CPU (one colour per thread; grey: idle thread or boot stack; blank: halted).', group: 'timeline' });
  }

  // Latency CDFs.
  for (const l of LATENCIES) {
    if (series.every((s) => s.hist[l.key].count === 0)) continue;
    const file = `${l.file}.svg`;
    files.set(file, cdfChart(`${l.title} — CDF`, `${l.quantity}; all samples of ${sweep} per series`, l.quantity, cpuHz, series.map((s) => ({ label: s.label, color: s.color, dash: s.dash, hist: s.hist[l.key] }))));
    charts.push({ file, title: `${l.title} (CDF)`, note: l.note, group: 'cdf' });
  }

  // Spread across seeds.
  const boxes: { file: string; title: string; quantity: string; pick: (p: SeriesAcc['perSeed'][number]) => number; note: string }[] = [
    { file: 'box-workload-cycles', title: 'Run length after boot', quantity: 'cycles from first switch to end', pick: (p) => p.workload, note: 'Per seed: simulated time from the first context switch to the end of the run.' },
    { file: 'box-sched-latency-p99', title: 'Tail scheduling latency per seed', quantity: 'p99 wakeup to running', pick: (p) => p.schedP99, note: 'Per seed: the 99th percentile of the scheduling latency.' },
    { file: 'box-ipc-round-trip-p50', title: 'Median IPC round trip per seed', quantity: 'p50 round trip', pick: (p) => p.ipcRttP50, note: 'Per seed: the median IPC round trip.' },
  ];
  const byScenario = scenarios.map((sc) => ({ name: sc.name, series: series.filter((s) => s.scenario === sc) }));
  for (const b of boxes) {
    const panels = byScenario
      .map((g) => ({ title: g.name, series: g.series.map((s) => ({ label: compare ? s.config.label : s.scenario.name, color: s.color, values: s.perSeed.map(b.pick).filter((v) => Number.isFinite(v)) })) }))
      .filter((p) => p.series.some((x) => x.values.length > 0));
    if (panels.length === 0) continue;
    const file = `${b.file}.svg`;
    files.set(file, boxChart(`${b.title} — spread across seeds`, `${sweep}; box: quartiles, line: median, whiskers: 1.5 IQR; one panel per scenario`, b.quantity, cpuHz, panels));
    charts.push({ file, title: `${b.title} (box plot)`, note: b.note, group: 'box' });
  }

  // Fairness.
  files.set(
    'fairness.svg',
    fairnessChart(
      "Fairness over time — Jain's index",
      `cumulative since the first context switch, over the threads that wanted the CPU; ${sweep}`,
      cpuHz,
      byScenario.map((g) => ({ title: g.name, series: g.series.map((s) => ({ label: s.label, color: s.color, dash: s.dash, stepCycles: s.windowCycles, perSeed: s.jain })) })),
    ),
  );
  charts.push({ file: 'fairness.svg', title: "Fairness (Jain's index over time)", note: "J = (Σx)²/(n·Σx²) over the n threads that have been running or runnable since the first context switch, x = the fraction of that wanted time each one actually ran, accumulated up to t; 1 = every thread got the same share, 1/n = one got everything. Median over seeds, band = interquartile range; one panel per scenario.", group: 'fairness' });

  const summaries: SeriesSummary[] = series.map((s) => {
    const jm = s.perSeed.map((p) => p.jainMean).filter((v) => Number.isFinite(v));
    return {
      label: s.label,
      scenario: s.scenario.name,
      config: s.config.label,
      cpus: s.cpus,
      runs: s.runs,
      pass: s.pass,
      failures: Object.fromEntries([...s.failures.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))),
      medianCycles: median(s.perSeed.map((p) => p.cycles)),
      medianWorkloadCycles: median(s.perSeed.map((p) => p.workload)),
      medianSwitches: median(s.perSeed.map((p) => p.switches)),
      medianSyscalls: median(s.perSeed.map((p) => p.syscalls)),
      jainMean: jm.length === 0 ? null : Math.round((jm.reduce((a, b) => a + b, 0) / jm.length) * 10000) / 10000,
      latency: { sched: s.hist.sched.summary(), ipcRtt: s.hist.ipcRtt.summary(), irq: s.hist.irq.summary(), syscall: s.hist.syscall.summary(), switch: s.hist.switch.summary(), io: s.hist.io.summary() },
    };
  });
  const command = [
    'rugo report',
    ...scenarios.map((s) => s.name),
    `--seeds ${o.seeds}`,
    first !== 1 ? `--seed ${first}` : '',
    o.cpus !== undefined ? `--cpus ${o.cpus}` : '',
    o.compare !== undefined ? `--compare ${o.compare}` : '',
    o.timelineSeed !== undefined ? `--timeline-seed ${o.timelineSeed}` : '',
  ]
    .filter((x) => x !== '')
    .join(' ');
  files.set('summary.json', JSON.stringify({ command, cpuHz, seeds, configs: configs.map((c) => c.label), series: summaries }, null, 2) + '\n');
  files.set('index.html', indexHtml({ command, cpuHz, sweep, compare, configs: configs.map((c) => c.label), series: summaries, charts }));
  return { files: new Map([...files.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))), series: summaries, command };
}

/** Runs the sweep and writes every file under `outDir` (created if needed); returns the file names. */
export function writeReport(o: ReportOptions, outDir: string): Report {
  const rep = buildReport(o);
  mkdirSync(outDir, { recursive: true });
  for (const [name, text] of rep.files) writeFileSync(join(outDir, name), text);
  return rep;
}

// Runs a scenario: builds the machine from its config, boots the Rugo
// kernel with its options, runs to a stop reason, and checks the verdict
// (expected markers in order, absent markers absent, expected stop reason).
import { Machine, DEFAULT_MACHINE, type RunResult, type StopReason } from '../sim/machine.ts';
import { RandomSource, ReplaySource, NominalSource, type Decision, type DecisionSource } from '../sim/decisions.ts';
import { ChromeTraceWriter, type TraceSink } from '../sim/chrome-trace.ts';
import { RunMetrics } from '../sim/metrics.ts';
import { combineObservers } from '../sim/observer.ts';
import { SYSCALL_NAMES } from '../os/syscall/abi.ts';
import { createKernel, KERNEL_ENTRY } from '../os/kernel.ts';
import { IMAGES } from '../os/user/programs.ts';
import type { BootModule } from '../sim/x86/boot.ts';

/** Every user program as a boot module /user/<name> (images are stateless, so shared by all machines). */
const USER_MODULES: BootModule[] = Object.entries(IMAGES).map(([name, image]) => ({ path: `/user/${name}`, cmdline: '', image }));
import { checkMarkers, type MarkerCheck, type Scenario } from './scenario.ts';
import { diskConfigFor } from './disk.ts';
import type { DiskImage } from '../sim/virtio/disk.ts';
import type { BlkStats } from '../sim/virtio/blk.ts';

export type Strategy = 'random' | 'nominal' | 'replay';

export interface RunOptions {
  /** Run seed (random decision streams); default 1. */
  seed?: number;
  /** Decision source kind; 'replay' needs `decisions`. Default 'random'. */
  strategy?: Strategy;
  /** Recorded decisions to replay. */
  decisions?: readonly Decision[];
  /** Overrides the scenario's CPU count. */
  cpus?: number;
  /** Overrides the scenario's cycle limit. */
  maxCycles?: number;
  /** Extra kernel command-line words (e.g. bug=lost-update). */
  extraOptions?: readonly string[];
  /** A decision source to use instead of the strategy (PCT, fast-check lists). */
  source?: DecisionSource;
  /** Streams serial bytes as they are transmitted. */
  onSerialByte?: (byte: number) => void;
  /** Writes a Chrome trace to this sink. */
  traceSink?: TraceSink;
  /** Keep run metrics (counters, cycle histograms); default true. They never change the run. */
  metrics?: boolean;
  /** Also record the metrics timeline (run, halt and wait intervals) for report charts. */
  timeline?: boolean;
  /** A disk image to use instead of the one the scenario creates (`--disk FILE`); the run writes it in place. */
  disk?: DiskImage;
}

/** The virtio-blk device after a run (null without a disk). */
export interface BlkReport {
  /** The image as the run left it (save it with `--save-disk`). */
  readonly image: DiskImage;
  readonly stats: BlkStats;
  /** End-of-run audit: lost completions or interrupts, contract violations (empty when clean). */
  readonly audit: readonly string[];
}

export type Verdict = 'pass' | 'fail';

export interface ScenarioResult {
  readonly scenario: string;
  readonly seed: number;
  readonly cpus: number;
  readonly options: readonly string[];
  readonly verdict: Verdict;
  /** Why the verdict is fail (empty on pass). */
  readonly reasons: readonly string[];
  readonly stopReason: StopReason;
  readonly expectedStop: StopReason;
  readonly message: string;
  readonly cycles: number;
  readonly simulatedNs: number;
  readonly traceHash: string;
  readonly wallMs: number;
  readonly markers: MarkerCheck;
  readonly run: RunResult;
  /** Run metrics (null with `metrics: false`); summary() gives the figures. */
  readonly metrics: RunMetrics | null;
  /** The disk after the run (null without one). */
  readonly blk: BlkReport | null;
}

/** The kernel command line for a scenario plus extra words. */
export function cmdlineFor(sc: Scenario, extra: readonly string[] = []): string {
  return [...sc.kernel.options, ...extra].join(' ');
}

/** Builds (but does not run) the machine for `sc` with `opts`. */
export function buildMachine(sc: Scenario, opts: RunOptions = {}): Machine {
  const seed = opts.seed ?? 1;
  const strategy = opts.strategy ?? 'random';
  let source: DecisionSource;
  if (opts.source) source = opts.source;
  else if (strategy === 'replay') source = new ReplaySource(opts.decisions ?? []);
  else if (strategy === 'nominal') source = new NominalSource();
  else source = new RandomSource(seed);
  const { image } = createKernel();
  return new Machine({
    ...DEFAULT_MACHINE,
    cpus: opts.cpus ?? sc.machine.cpus,
    memoryBytes: sc.machine.memoryMiB * 1024 * 1024,
    maxCycles: opts.maxCycles ?? sc.maxCycles,
    kernel: image,
    entrySymbol: KERNEL_ENTRY,
    cmdline: cmdlineFor(sc, opts.extraOptions),
    modules: USER_MODULES,
    decisions: source,
    disk: diskConfigFor(sc.machine.disk, sc.machine.noDisk === true, opts.disk, sc.name),
  });
}

/** Runs scenario `sc` once and judges it. Never throws for guest behaviour. */
export function runScenario(sc: Scenario, opts: RunOptions = {}): ScenarioResult {
  const t0 = performance.now();
  const seed = opts.seed ?? 1;
  const m = buildMachine(sc, opts);
  if (opts.onSerialByte) m.onSerialByte = opts.onSerialByte;
  const metrics = opts.metrics === false ? null : new RunMetrics(m, { timeline: opts.timeline === true });
  let tracer: ChromeTraceWriter | null = null;
  if (opts.traceSink) {
    tracer = new ChromeTraceWriter(
      opts.traceSink,
      m,
      {
        scenario: sc.name,
        seed,
        cpus: m.cpus.length,
        options: [...sc.kernel.options, ...(opts.extraOptions ?? [])],
        cmdline: m.cfg.cmdline,
        strategy: opts.source ? opts.source.constructor.name : (opts.strategy ?? 'random'),
        decisions: opts.decisions?.length ?? 0,
        maxCycles: m.cfg.maxCycles,
      },
      { syscallNames: SYSCALL_NAMES },
    );
    const t = tracer;
    m.onSerialLine = (line, cycles) => t.serialLine(cycles, line);
  }
  m.observer = combineObservers([metrics, tracer]);
  const run = m.run();
  metrics?.finish(run.cycles);
  // Read the device before the machine's memory goes back to the pool.
  const blk: BlkReport | null = m.blk === null ? null : { image: m.blk.image, stats: { ...m.blk.stats }, audit: m.blk.audit() };
  if (metrics !== null && m.blk !== null) metrics.deviceLatencies('blk', m.blk.latencies);
  m.dispose();
  tracer?.finish(run.cycles, { stopReason: run.stopReason, message: run.message, traceHash: run.traceHash });
  const markers = checkMarkers(sc, run.serial);
  const reasons: string[] = [];
  if (run.stopReason !== sc.expect.stop) reasons.push(`stopped by ${run.stopReason} (${run.message}), expected ${sc.expect.stop}`);
  for (const mk of markers.missing) reasons.push(`missing marker: ${mk}`);
  for (const mk of markers.forbidden) reasons.push(`unexpected marker: ${mk}`);
  for (const c of markers.shortCounts) reasons.push(`too few lines: ${c}`);
  const wallMs = performance.now() - t0;
  return {
    scenario: sc.name,
    seed,
    cpus: m.cpus.length,
    options: [...sc.kernel.options, ...(opts.extraOptions ?? [])],
    verdict: reasons.length === 0 ? 'pass' : 'fail',
    reasons,
    stopReason: run.stopReason,
    expectedStop: sc.expect.stop,
    message: run.message,
    cycles: run.cycles,
    simulatedNs: (run.cycles * 1e9) / m.cpuHz,
    traceHash: run.traceHash,
    wallMs,
    markers,
    run,
    metrics,
    blk,
  };
}

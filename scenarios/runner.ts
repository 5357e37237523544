// Runs a scenario: builds the machine from its config, boots the Rugo
// kernel with its options, runs to a stop reason, and checks the verdict
// (expected markers in order, absent markers absent, expected stop reason).
import { Machine, DEFAULT_MACHINE, type RunResult, type StopReason } from '../sim/machine.ts';
import { RandomSource, ReplaySource, NominalSource, type Decision, type DecisionSource } from '../sim/decisions.ts';
import { ChromeTraceWriter, type TraceSink } from '../sim/chrome-trace.ts';
import { createKernel, KERNEL_ENTRY } from '../os/kernel.ts';
import { IMAGES } from '../os/user/programs.ts';
import type { BootModule } from '../sim/x86/boot.ts';

/** Every user program as a boot module /user/<name> (images are stateless, so shared by all machines). */
const USER_MODULES: BootModule[] = Object.entries(IMAGES).map(([name, image]) => ({ path: `/user/${name}`, cmdline: '', image }));
import { checkMarkers, type MarkerCheck, type Scenario } from './scenario.ts';

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
  });
}

/** Runs scenario `sc` once and judges it. Never throws for guest behaviour. */
export function runScenario(sc: Scenario, opts: RunOptions = {}): ScenarioResult {
  const t0 = performance.now();
  const seed = opts.seed ?? 1;
  const m = buildMachine(sc, opts);
  if (opts.onSerialByte) m.onSerialByte = opts.onSerialByte;
  let tracer: ChromeTraceWriter | null = null;
  if (opts.traceSink) {
    tracer = new ChromeTraceWriter(opts.traceSink, m.cpuHz, m.cpus.length, {
      scenario: sc.name,
      seed,
      cpus: m.cpus.length,
      cmdline: m.cfg.cmdline,
      strategy: opts.strategy ?? 'random',
    });
    tracer.start(m.cpus.map((c) => c.stack));
    m.observer = tracer;
    const t = tracer;
    m.onSerialLine = (line, cycles) => t.instant(0, cycles, `serial: ${line}`);
  }
  const run = m.run();
  m.dispose();
  tracer?.finish(run.cycles);
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
  };
}

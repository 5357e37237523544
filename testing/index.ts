// rugo-sim/testing: the API researchers import into their own vitest files.
//
//   import fc from 'fast-check';
//   import { runScenario, decisionList, assertSchedules } from 'rugo-sim/testing';
//   assertSchedules(fc.property(decisionList(), (d) => runScenario('lock-stress', { decisions: d, bug: 'lost-update', cpus: 1 }).verdict === 'pass'), { seed: 1, numRuns: 100 });
//
// - runScenario(scenario, { seed, decisions, faults, cpus, bug }) runs one
//   scenario and returns its verdict, the markers seen, the trace hash, the
//   stop reason, the recorded decisions, a replay token and metrics.
// - decisionList(): fast-check lists of (ordinal, value) decisions; empty =
//   the nominal run; shrinking removes entries and lowers values toward 0.
// - faultPlan(): which injected faults happen where (empty = none).
// - workload(): scenario + CPUs + thread/process/op counts for the lock and IPC scenarios.
// - assertSchedules(property, params): fc.assert that, on failure, also prints
//   the replay token of the shrunk counterexample (for `rugo replay`).
import fc from 'fast-check';
import { resolveScenario, type Scenario } from '../scenarios/scenario.ts';
import { runScenario as runOne, type ScenarioResult } from '../scenarios/runner.ts';
import { encodeToken } from '../scenarios/token.ts';
import { bugOptions } from '../scenarios/bugs.ts';
import { isBundled } from '../scenarios/scenario.ts';
import { ReplaySource, type Decision } from '../sim/decisions.ts';
import type { FaultPlan as BlkFaultPlan } from '../sim/virtio/blk.ts';
import { DEFAULT_DISK } from '../scenarios/disk.ts';
import type { MetricsSummary } from '../sim/metrics.ts';
import { SYSCALL_NAMES } from '../os/syscall/abi.ts';

/** One generated decision: the value answered at the run's `at`-th decision (0 = nominal, so absent). */
export interface ScheduleEntry {
  readonly at: number;
  readonly value: number;
}

/** A fault plan: which injected faults happen where. Empty = none. */
export interface FaultPlan {
  /** Frame allocations (counted from the start of the test workload, 1-based) that fail with ENOMEM. */
  readonly allocFailAt?: readonly number[];
  /**
   * Block-device faults (scenarios with a disk): which fault sites the
   * device asks (the run's decisions then choose the requests they hit), and
   * power loss at the Nth write (System/161's doom counter), optionally torn.
   */
  readonly blk?: Partial<BlkFaultPlan>;
}

export interface TestRunOptions {
  seed?: number;
  /** A generated schedule (decisionList) or a recorded decision list to replay. Without it: the seed's random schedule. */
  decisions?: readonly ScheduleEntry[] | readonly Decision[];
  faults?: FaultPlan;
  cpus?: number;
  /** A planted bug (rugo list --bugs). */
  bug?: string;
  maxCycles?: number;
  /** Extra kernel options (e.g. workload parameters). */
  options?: readonly string[];
}

export interface TestRunResult {
  readonly scenario: string;
  readonly verdict: 'pass' | 'fail';
  readonly reasons: readonly string[];
  /** Failure kind (a KASSERT name, a stop reason, ...) or null on pass. */
  readonly kind: string | null;
  readonly markersSeen: readonly string[];
  readonly missingMarkers: readonly string[];
  readonly traceHash: string;
  readonly stopReason: string;
  readonly serial: string;
  readonly cycles: number;
  /** Non-zero decisions the run actually took (with sites): the schedule. */
  readonly decisions: readonly Decision[];
  /** A replay token reproducing this run (`npx rugo replay <token>`). */
  readonly token: string;
  readonly metrics: {
    readonly ops: number;
    readonly events: number;
    readonly decisionCount: number;
    readonly cpus: readonly { index: number; busyCycles: number; idleCycles: number; interrupts: number; exceptions: number }[];
    /**
     * Timing figures (sim/metrics.ts): per-thread and per-CPU cycles, and
     * cycle histograms (count, min, max, mean, p50, p90, p99) of syscall
     * latency by number, interrupt latency, context switch, scheduling
     * latency, IPC one-way and round trip, run-queue length, block I/O.
     */
    readonly timing: MetricsSummary;
  };
}

function toScenario(s: string | Scenario): Scenario {
  return typeof s === 'string' ? resolveScenario(s) : s;
}

/** The scenario with the fault plan's block-device faults merged into its disk (scenarios without a disk are left alone). */
function withBlkFaults(sc: Scenario, f: FaultPlan | undefined): Scenario {
  if (f?.blk === undefined || sc.machine.noDisk === true) return sc;
  const disk = sc.machine.disk ?? DEFAULT_DISK;
  return { ...sc, machine: { ...sc.machine, disk: { ...disk, faults: { ...disk.faults, ...f.blk } } } };
}

function isRecorded(d: readonly ScheduleEntry[] | readonly Decision[]): d is readonly Decision[] {
  return d.length > 0 && 'site' in d[0];
}

/** Kernel options for a fault plan. */
export function faultOptions(f: FaultPlan | undefined): string[] {
  if (f === undefined) return [];
  const out: string[] = [];
  if (f.allocFailAt !== undefined && f.allocFailAt.length > 0) out.push(`failalloc=${f.allocFailAt.join(',')}`);
  return out;
}

/** Runs one scenario (a bundled name, a file path, or a Scenario). */
export function runScenario(scenario: string | Scenario, opts: TestRunOptions = {}): TestRunResult {
  const sc = withBlkFaults(toScenario(scenario), opts.faults);
  const extra = [...bugOptions(opts.bug), ...faultOptions(opts.faults), ...(opts.options ?? [])];
  const cpus = opts.cpus ?? sc.machine.cpus;
  const seed = opts.seed ?? 1;
  let r: ScenarioResult;
  if (opts.decisions !== undefined) {
    const d = opts.decisions;
    const list: Decision[] = isRecorded(d) ? [...d] : dedupe(d).map((e) => ({ at: e.at, site: -1, value: e.value }));
    r = runOne(sc, { seed, cpus, extraOptions: extra, maxCycles: opts.maxCycles, source: new ReplaySource(list, isRecorded(d)) });
  } else {
    r = runOne(sc, { seed, cpus, extraOptions: extra, maxCycles: opts.maxCycles });
  }
  const m = /KASSERT: ([a-z0-9-]+):/.exec(r.run.serial);
  return {
    scenario: sc.name,
    verdict: r.verdict,
    reasons: r.reasons,
    kind: r.verdict === 'pass' ? null : m ? m[1] : r.stopReason !== r.expectedStop ? r.stopReason : r.markers.forbidden.length > 0 ? `marker: ${r.markers.forbidden[0]}` : 'missing-marker',
    markersSeen: r.markers.seen,
    missingMarkers: r.markers.missing,
    traceHash: r.traceHash,
    stopReason: r.stopReason,
    serial: r.run.serial,
    cycles: r.cycles,
    decisions: r.run.decisions,
    token: encodeToken({ scenario: isBundled(sc) ? sc.name : sc.file, cpus, options: extra, seed, strategy: opts.decisions ? 'list' : 'random', maxCycles: opts.maxCycles, decisions: [...r.run.decisions] }),
    metrics: {
      ops: r.run.ops,
      events: r.run.events,
      decisionCount: r.run.decisionCount,
      cpus: r.run.cpus.map((c) => ({ index: c.index, busyCycles: c.busyCycles, idleCycles: c.idleCycles, interrupts: c.interrupts, exceptions: c.exceptions })),
      timing: r.metrics!.summary(SYSCALL_NAMES),
    },
  };
}

function dedupe(d: readonly ScheduleEntry[]): ScheduleEntry[] {
  const byAt = new Map<number, number>();
  for (const e of d) if (e.value > 0 && !byAt.has(e.at)) byAt.set(e.at, e.value);
  return [...byAt.entries()].sort((a, b) => a[0] - b[0]).map(([at, value]) => ({ at, value }));
}

/** Number of non-zero entries of a schedule (its size for shrinking reports). */
export function scheduleSize(d: readonly ScheduleEntry[] | readonly Decision[]): number {
  return d.filter((e) => e.value !== 0).length;
}

/**
 * Schedules as fast-check values: up to `maxLength` (ordinal, value)
 * pairs; ordinals below `maxIndex` (a run asks a few thousand decisions),
 * values below `maxValue` (each site takes value mod its choice count).
 * Shrinking drops pairs, lowers values toward 0 (= nominal) and ordinals
 * toward 0, so a counterexample shrinks toward the undisturbed run.
 */
export function decisionList(opts: { maxIndex?: number; maxLength?: number; maxValue?: number } = {}): fc.Arbitrary<ScheduleEntry[]> {
  const maxIndex = opts.maxIndex ?? 4000;
  const maxValue = opts.maxValue ?? 7;
  return fc.array(fc.record({ at: fc.nat({ max: maxIndex }), value: fc.nat({ max: maxValue }) }), { maxLength: opts.maxLength ?? 12 });
}

/**
 * Fault plans: a few allocation failures and, with `blk`, block-device
 * faults (I/O errors, latency spikes, resets, power loss at the Nth write,
 * torn or not). Shrinks toward no faults.
 */
export function faultPlan(opts: { maxAllocFailures?: number; maxAllocIndex?: number; blk?: boolean; maxPowerLossWrite?: number } = {}): fc.Arbitrary<FaultPlan> {
  const alloc = fc.uniqueArray(fc.integer({ min: 1, max: opts.maxAllocIndex ?? 40 }), { maxLength: opts.maxAllocFailures ?? 3 });
  if (opts.blk !== true) return fc.record({ allocFailAt: alloc });
  return fc.record({
    allocFailAt: alloc,
    blk: fc.record({
      ioError: fc.boolean(),
      latencySpike: fc.boolean(),
      reset: fc.boolean(),
      powerLossAtWrite: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: opts.maxPowerLossWrite ?? 40 })),
      tornWrite: fc.boolean(),
    }),
  });
}

export interface Workload {
  readonly scenario: string;
  readonly cpus: number;
  readonly options: readonly string[];
}

/** Workloads for the lock and IPC scenarios: thread, process, CPU and op counts. */
export function workload(opts: { maxCpus?: number } = {}): fc.Arbitrary<Workload> {
  const cpus = fc.integer({ min: 1, max: opts.maxCpus ?? 4 });
  return fc.oneof(
    fc.record({ scenario: fc.constant('lock-stress'), cpus, options: fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 5, max: 40 })).map(([t, i]) => [`threads=${t}`, `iters=${i}`, 'work=2000']) }),
    fc.record({ scenario: fc.constant('mutex-handoff'), cpus, options: fc.tuple(fc.integer({ min: 2, max: 4 }), fc.integer({ min: 3, max: 12 })).map(([t, i]) => [`threads=${t}`, `iters=${i}`]) }),
    fc.record({ scenario: fc.constant('transfer'), cpus, options: fc.tuple(fc.integer({ min: 2, max: 4 }), fc.integer({ min: 5, max: 30 })).map(([t, i]) => [`threads=${t}`, `iters=${i}`]) }),
    fc.record({
      scenario: fc.constant('stress-ipc'),
      cpus,
      options: fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 2, max: 20 }), fc.integer({ min: 1, max: 3 })).map(([s, m, r]) => [`arg=${s + (m << 8) + (r << 20)}`]),
    }),
  );
}

/**
 * fc.assert for schedule properties: on failure the error message holds
 * fast-check's report (seed, path, shrunk counterexample) and the replay
 * token of the shrunk counterexample's run, made by `replay(counterexample)`.
 */
export function assertSchedules<Ts extends [unknown, ...unknown[]]>(property: fc.IProperty<Ts>, params: fc.Parameters<Ts>, replay?: (...args: Ts) => TestRunResult): void {
  const out = fc.check(property, params);
  if (!out.failed) return;
  let extra = '';
  if (replay !== undefined && out.counterexample !== null) {
    const r = replay(...out.counterexample);
    extra = `\nShrunk schedule: ${scheduleSize(r.decisions)} non-zero decisions; verdict ${r.verdict} (${r.kind ?? ''}).\nReplay: npx rugo replay ${r.token}`;
  }
  throw new Error(`${fc.defaultReportMessage(out)}${extra}`);
}

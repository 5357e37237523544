// Schedule fuzzing: many runs of one scenario under seeded decision sources
// (random or PCT), classifying failures and producing replay tokens. Run i
// uses seed `seed + i`, so `rugo run <scenario> --seed <seed+i>` repeats a
// random-strategy run; the token repeats any run exactly.
import { RandomSource, Site, type DecisionSource } from '../sim/decisions.ts';
import { PctSource } from '../sim/pct.ts';
import { isBundled, type Scenario } from './scenario.ts';
import { runScenario, type ScenarioResult } from './runner.ts';
import { encodeToken } from './token.ts';
import { shrinkSchedule } from './shrink.ts';

export type FuzzStrategy = 'random' | 'pct';

export interface FuzzOptions {
  runs: number;
  strategy: FuzzStrategy;
  /** PCT bug depth d (d-1 change points). */
  depth: number;
  /** Master seed: run i uses seed + i. */
  seed: number;
  cpus?: number;
  /** Extra kernel options (e.g. bug=lost-update). */
  extraOptions?: readonly string[];
  maxCycles?: number;
  /** Run each seed twice and compare trace hashes. */
  checkDeterminism?: boolean;
  /** Stop after the first failure. */
  stopOnFailure?: boolean;
  /** PCT steps estimate k; default: the Pick decisions of a nominal run. */
  pctSteps?: number;
  /** Shrink the first failure's schedule (greedy ddmin, bounded runs) and report its token too. */
  shrink?: boolean;
  /** Called after every run. */
  onRun?: (i: number, r: ScenarioResult, failure: FuzzFailure | null) => void;
}

export interface FuzzFailure {
  run: number;
  seed: number;
  kind: string;
  verdict: string;
  reasons: readonly string[];
  traceHash: string;
  token: string;
  nonZeroDecisions: number;
  /** After shrinking (first failure, with shrink): the minimal schedule's size and token. */
  shrunk?: { nonZeroDecisions: number; token: string; runs: number; traceHash: string };
}

export interface FuzzSummary {
  scenario: string;
  strategy: FuzzStrategy;
  depth: number;
  seed: number;
  cpus: number;
  options: readonly string[];
  runs: number;
  failures: number;
  byKind: Record<string, number>;
  wallMs: number;
  runsPerSec: number;
  firstFailure: FuzzFailure | null;
  failureList: FuzzFailure[];
  pctSteps: number;
}

/** The failure kind: a KASSERT name, else the unexpected stop reason, else missing markers. */
export function failureKind(r: ScenarioResult): string {
  const m = /KASSERT: ([a-z0-9-]+):/.exec(r.run.serial);
  if (m) return m[1];
  if (r.stopReason !== r.expectedStop) return r.stopReason;
  if (r.markers.forbidden.length > 0) return `marker: ${r.markers.forbidden[0]}`;
  return 'missing-marker';
}

/** Estimates PCT's k: scheduling steps (Pick decisions) of one nominal run. */
export function estimatePctSteps(sc: Scenario, opts: Pick<FuzzOptions, 'cpus' | 'extraOptions' | 'maxCycles'>): number {
  const r = runScenario(sc, { strategy: 'nominal', cpus: opts.cpus, extraOptions: opts.extraOptions, maxCycles: opts.maxCycles });
  return Math.max(1, r.run.decisionCount === 0 ? 1 : countPicks(r));
}

function countPicks(r: ScenarioResult): number {
  return r.run.decisionsPerSite[Site.Pick];
}

export function sourceFor(strategy: FuzzStrategy, seed: number, depth: number, steps: number): DecisionSource {
  return strategy === 'pct' ? new PctSource(seed, depth, steps) : new RandomSource(seed);
}

export function fuzz(sc: Scenario, o: FuzzOptions): FuzzSummary {
  const cpus = o.cpus ?? sc.machine.cpus;
  const extra = o.extraOptions ?? [];
  const pctSteps = o.strategy === 'pct' ? (o.pctSteps ?? estimatePctSteps(sc, { cpus, extraOptions: extra, maxCycles: o.maxCycles })) : 0;
  const byKind: Record<string, number> = {};
  const failureList: FuzzFailure[] = [];
  const t0 = performance.now();
  let runs = 0;
  for (let i = 0; i < o.runs; i++) {
    const seed = o.seed + i;
    const common = { seed, cpus, extraOptions: extra, maxCycles: o.maxCycles };
    // Metrics are not needed to judge a run: fuzzing skips them (they never change the run).
    const r = runScenario(sc, { ...common, metrics: false, source: sourceFor(o.strategy, seed, o.depth, pctSteps) });
    runs++;
    let failure: FuzzFailure | null = null;
    let kind: string | null = r.verdict === 'fail' ? failureKind(r) : null;
    if (o.checkDeterminism) {
      const again = runScenario(sc, { ...common, metrics: false, source: sourceFor(o.strategy, seed, o.depth, pctSteps) });
      if (again.traceHash !== r.traceHash || again.run.serial !== r.run.serial) kind = 'nondeterminism';
    }
    if (kind !== null) {
      byKind[kind] = (byKind[kind] ?? 0) + 1;
      failure = {
        run: i,
        seed,
        kind,
        verdict: r.verdict,
        reasons: r.reasons,
        traceHash: r.traceHash,
        nonZeroDecisions: r.run.decisions.length,
        token: encodeToken({
          scenario: isBundled(sc) ? sc.name : sc.file,
          cpus,
          options: [...extra],
          seed,
          strategy: o.strategy === 'pct' ? `pct-d${o.depth}` : 'random',
          maxCycles: o.maxCycles,
          decisions: [...r.run.decisions],
        }),
      };
      if (o.shrink && failureList.length === 0 && kind !== 'nondeterminism') {
        const s = shrinkSchedule(sc, common, r.run.decisions, kind);
        failure.shrunk = {
          nonZeroDecisions: s.decisions.length,
          runs: s.runs,
          traceHash: s.result.traceHash,
          token: encodeToken({ scenario: isBundled(sc) ? sc.name : sc.file, cpus, options: [...extra], seed, strategy: 'shrunk', maxCycles: o.maxCycles, decisions: s.decisions }),
        };
      }
      failureList.push(failure);
    }
    o.onRun?.(i, r, failure);
    if (failure !== null && o.stopOnFailure) break;
  }
  const wallMs = performance.now() - t0;
  return {
    scenario: sc.name,
    strategy: o.strategy,
    depth: o.depth,
    seed: o.seed,
    cpus,
    options: [...sc.kernel.options, ...extra],
    runs,
    failures: failureList.length,
    byKind,
    wallMs,
    runsPerSec: runs / (wallMs / 1000),
    firstFailure: failureList[0] ?? null,
    failureList,
    pctSteps,
  };
}

// `npm run bench:bugs`: the planted-bug benchmark, in the manner of SCTBench
// (Thomson, Donaldson, Betts, PPoPP 2014). For each planted bug and each
// strategy (random, PCT with d = 1, 2, 3, fast-check over decision lists):
// runs to first failure (median over master seeds, within a budget), the
// size of the shrunk schedule (non-zero decisions), and whether the replay
// token reproduced the failure bit for bit; then the correct kernel under
// the same budget, which must not fail. PCT rows also print the measured
// per-run failure rate next to PCT's bound 1/(n * k^(d-1)).
//   --quick    small budget (a check that runs in a few minutes)
//   --json     end with one JSON object holding the table
//   --bug X    only bug X (repeatable)
import fc from 'fast-check';
import { BUGS } from '../os/bugs.ts';
import { resolveScenario, type Scenario } from '../scenarios/scenario.ts';
import { runScenario, type ScenarioResult } from '../scenarios/runner.ts';
import { failureKind, estimatePctSteps } from '../scenarios/fuzz.ts';
import { shrinkSchedule } from '../scenarios/shrink.ts';
import { bugOptions } from '../scenarios/bugs.ts';
import { encodeToken, decodeToken } from '../scenarios/token.ts';
import { RandomSource, ReplaySource, type Decision } from '../sim/decisions.ts';
import { PctSource } from '../sim/pct.ts';
import { decisionList } from '../testing/index.ts';
import { median } from './host.ts';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const json = argv.includes('--json');
const only = argv.flatMap((a, i) => (a === '--bug' ? [argv[i + 1]] : []));
const budget = quick ? 25 : 10_000;
const masterSeeds = [1, 2, 3, 4, 5];
const shrinkBudget = quick ? 40 : 150;
const correctBudget = quick ? 25 : Math.min(budget, 1000);
const log = (s: string): void => {
  if (!json) process.stdout.write(s + '\n');
};

type Strategy = 'random' | 'pct-d1' | 'pct-d2' | 'pct-d3' | 'fast-check';
const STRATEGIES: Strategy[] = ['random', 'pct-d1', 'pct-d2', 'pct-d3', 'fast-check'];

interface Cell {
  bug: string;
  strategy: Strategy;
  /** Runs to first failure per master seed (null = not found within the budget). */
  runsToFailure: (number | null)[];
  median: number | null;
  shrunkSize: number | null;
  originalSize: number | null;
  replayed: boolean | null;
  kind: string | null;
  pctRate?: number;
  pctBound?: number;
}

function check(sc: Scenario, cpus: number, extra: string[], r: ScenarioResult): { failed: boolean; kind: string } {
  return { failed: r.verdict === 'fail', kind: r.verdict === 'fail' ? failureKind(r) : '' };
}

/** Replays a token of `decisions` and checks the same failure kind and the same trace hash. */
function replays(sc: Scenario, cpus: number, extra: string[], seed: number, decisions: readonly Decision[], kind: string, hash: string): boolean {
  const spec = decodeToken(encodeToken({ scenario: sc.name, cpus, options: extra, seed, strategy: 'bench', decisions: [...decisions] }));
  const r = runScenario(sc, { seed: spec.seed, cpus: spec.cpus, extraOptions: spec.options, strategy: 'replay', decisions: spec.decisions });
  return r.verdict === 'fail' && failureKind(r) === kind && r.traceHash === hash;
}

function cellFor(bug: (typeof BUGS)[number], strategy: Strategy): Cell {
  const sc = resolveScenario(bug.scenario);
  const cpus = bug.cpus;
  const extra = bugOptions(bug.name);
  const cell: Cell = { bug: bug.name, strategy, runsToFailure: [], median: null, shrunkSize: null, originalSize: null, replayed: null, kind: null };
  const depth = strategy.startsWith('pct-d') ? Number(strategy.slice(5)) : 0;
  const steps = depth > 0 ? estimatePctSteps(sc, { cpus, extraOptions: extra }) : 0;
  let pctRuns = 0;
  let pctBoundSum = 0;
  let pctBoundN = 0;
  for (const master of masterSeeds) {
    let found: { run: number; r: ScenarioResult; seed: number; decisions: readonly Decision[] } | null = null;
    if (strategy === 'fast-check') {
      let runs = 0;
      let firstFail = -1;
      const prop = fc.property(decisionList({ maxIndex: 4000, maxLength: 10 }), (d) => {
        runs++;
        const list: Decision[] = d.filter((e) => e.value > 0).map((e) => ({ at: e.at, site: -1, value: e.value }));
        const r = runScenario(sc, { cpus, extraOptions: extra, source: new ReplaySource(dedupe(list), false) });
        const bad = r.verdict === 'fail';
        if (bad && firstFail < 0) firstFail = runs;
        return !bad;
      });
      const out = fc.check(prop, { seed: master, numRuns: budget, endOnFailure: false });
      if (out.failed && out.counterexample !== null) {
        const d = out.counterexample[0].filter((e) => e.value > 0).map((e) => ({ at: e.at, site: -1, value: e.value }));
        const r = runScenario(sc, { cpus, extraOptions: extra, source: new ReplaySource(dedupe(d), false) });
        found = { run: firstFail, r, seed: 1, decisions: r.run.decisions };
      }
    } else {
      for (let i = 0; i < budget; i++) {
        const seed = master * 1_000_003 + i;
        const source = depth > 0 ? new PctSource(seed, depth, steps) : new RandomSource(seed);
        const r = runScenario(sc, { seed, cpus, extraOptions: extra, source });
        if (source instanceof PctSource) {
          pctRuns++;
          const n = Math.max(1, source.threadsSeen);
          pctBoundSum += 1 / (n * Math.pow(Math.max(1, steps), depth - 1));
          pctBoundN++;
        }
        if (check(sc, cpus, extra, r).failed) {
          found = { run: i + 1, r, seed, decisions: r.run.decisions };
          break;
        }
      }
    }
    cell.runsToFailure.push(found?.run ?? null);
    if (found !== null && cell.shrunkSize === null) {
      const kind = failureKind(found.r);
      cell.kind = kind;
      cell.originalSize = found.decisions.length;
      let decisions = found.decisions;
      let hash = found.r.traceHash;
      if (strategy !== 'fast-check') {
        const s = shrinkSchedule(sc, { seed: found.seed, cpus, extraOptions: extra }, found.decisions, kind, shrinkBudget);
        decisions = s.decisions;
        hash = s.result.traceHash;
      }
      cell.shrunkSize = decisions.length;
      cell.replayed = replays(sc, cpus, extra, found.seed, decisions, kind, hash);
    }
  }
  const hits = cell.runsToFailure.filter((x): x is number => x !== null);
  cell.median = hits.length * 2 > cell.runsToFailure.length ? median(cell.runsToFailure.map((x) => x ?? Infinity)) : null;
  if (depth > 0 && pctRuns > 0) {
    cell.pctRate = hits.length / pctRuns;
    cell.pctBound = pctBoundSum / pctBoundN;
  }
  return cell;
}

function dedupe(list: Decision[]): Decision[] {
  const m = new Map<number, Decision>();
  for (const d of list) if (!m.has(d.at)) m.set(d.at, d);
  return [...m.values()].sort((a, b) => a.at - b.at);
}

const t0 = performance.now();
const bugs = BUGS.filter((b) => only.length === 0 || only.includes(b.name));
log(`== planted-bug benchmark: budget ${budget} runs, ${masterSeeds.length} master seeds${quick ? ' (--quick)' : ''} ==`);
log('bug                strategy    runs to 1st failure (median; per seed)        shrunk   replay  kind               PCT rate / bound');
const cells: Cell[] = [];
for (const bug of bugs) {
  for (const st of STRATEGIES) {
    const c = cellFor(bug, st);
    cells.push(c);
    const per = c.runsToFailure.map((x) => (x === null ? '-' : String(x))).join(',');
    const med = c.median === null ? `>${budget}` : String(c.median);
    const shr = c.shrunkSize === null ? '-' : `${c.originalSize}->${c.shrunkSize}`;
    const pct = c.pctRate !== undefined ? `${c.pctRate.toFixed(3)} / ${(c.pctBound ?? 0).toExponential(1)}` : '';
    log(`${bug.name.padEnd(18)} ${st.padEnd(11)} ${(med + ' (' + per + ')').padEnd(44)} ${shr.padEnd(8)} ${String(c.replayed ?? '-').padEnd(7)} ${(c.kind ?? '-').padEnd(18)} ${pct}`);
  }
}
log('== correct kernel (no bug) under the same scenarios ==');
const correct: { scenario: string; cpus: number; runs: number; failures: number }[] = [];
for (const sc of [...new Set(bugs.map((b) => `${b.scenario}@${b.cpus}`))]) {
  const [name, cpusText] = sc.split('@');
  const scenario = resolveScenario(name);
  const cpus = Number(cpusText);
  let failures = 0;
  for (let i = 0; i < correctBudget; i++) {
    const r = runScenario(scenario, { seed: 77_000 + i, cpus });
    if (r.verdict === 'fail') failures++;
  }
  correct.push({ scenario: name, cpus, runs: correctBudget, failures });
  log(`${name.padEnd(18)} cpus=${cpus}  ${correctBudget} random runs: ${failures} failures`);
}
const wallS = (performance.now() - t0) / 1000;
log(`wall time: ${wallS.toFixed(1)} s`);
if (json) process.stdout.write(JSON.stringify({ budget, masterSeeds, quick, cells, correct, wallS }) + '\n');

// Properties of scheduling, locks, replay and fuzzing (issue 3, M2):
//  a. mutual exclusion and exact counts under random and PCT schedules, 1-8 CPUs;
//  b. replay tokens round-trip (encode -> decode is the identity, encoding is deterministic);
//  c. replaying a run's recorded decisions (directly or through a token) gives the same trace hash;
//  d. both planted bugs are found within a bounded number of fuzz runs, and their tokens replay the failure;
//  e. the kernel's checkers (deadlock, watchdog, lock order) report with named KASSERT markers.
// Every fc.assert has a fixed seed and a bounded numRuns; on failure
// fast-check prints the seed and the counterexample path to rerun it.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { resolveScenario, scenarioNames, type Scenario } from '../scenarios/scenario.ts';
import { runScenario, type ScenarioResult } from '../scenarios/runner.ts';
import { fuzz, failureKind, estimatePctSteps, type FuzzSummary } from '../scenarios/fuzz.ts';
import { decodeToken, encodeToken, type ReplaySpec } from '../scenarios/token.ts';
import { allSites, type Decision } from '../sim/decisions.ts';
import { PctSource } from '../sim/pct.ts';
import { LockDep } from '../os/sync/lockdep.ts';

const SEED = 20261125;
const lockStress = resolveScenario('lock-stress');
const mutexHandoff = resolveScenario('mutex-handoff');
const twoThreads = resolveScenario('two-threads');

/** Small lock-stress workloads keep a run at a few milliseconds. */
const SMALL_LOCK = ['iters=30', 'work=2000'];

function why(r: ScenarioResult): string {
  return `verdict ${r.verdict} on ${r.cpus} CPU(s), seed ${r.seed}: ${r.reasons.join('; ')}\nserial:\n${r.run.serial}`;
}

function kassertLine(serial: string): string | undefined {
  return serial.split('\n').find((l) => l.startsWith('KASSERT: '));
}

const pctSteps = new Map<string, number>();
/** PCT's k (Pick decisions of a nominal run), cached per scenario, CPU count and options. */
function stepsFor(sc: Scenario, cpus: number, extraOptions: readonly string[]): number {
  const key = `${sc.name}/${cpus}/${extraOptions.join(' ')}`;
  let k = pctSteps.get(key);
  if (k === undefined) {
    k = estimatePctSteps(sc, { cpus, extraOptions });
    pctSteps.set(key, k);
  }
  return k;
}

describe('a. mutual exclusion and exact counts under random schedules (1-8 CPUs)', () => {
  it('lock-stress: the spinlock keeps the counter exact for any seed, CPU count and thread count', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.nat(), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 5, max: 40 }), (cpus, seed, threads, iters) => {
        const r = runScenario(lockStress, { seed, cpus, extraOptions: ['work=2000', `threads=${threads}`, `iters=${iters}`] });
        expect(r.verdict, why(r)).toBe('pass');
        expect(r.run.serial.split('\n')).toContain(`LOCK: count ok ${threads * iters}`);
      }),
      { seed: SEED, numRuns: 12 },
    );
  });

  it('lock-stress with the default thread count (2 per CPU)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.nat(), (cpus, seed) => {
        const r = runScenario(lockStress, { seed, cpus, extraOptions: SMALL_LOCK });
        expect(r.verdict, why(r)).toBe('pass');
        expect(r.run.serial.split('\n')).toContain(`LOCK: count ok ${2 * cpus * 30}`);
      }),
      { seed: SEED, numRuns: 12 },
    );
  });

  it('mutex-handoff: nobody else is inside, and every handoff is counted', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.nat(), fc.integer({ min: 2, max: 4 }), (cpus, seed, threads) => {
        const r = runScenario(mutexHandoff, { seed, cpus, extraOptions: [`threads=${threads}`, 'iters=10'] });
        expect(r.verdict, why(r)).toBe('pass');
        expect(r.run.serial).toMatch(new RegExp(`^MUTEX: handoff ok ${threads * 10} handoffs=\\d+ contended=\\d+$`, 'm'));
      }),
      { seed: SEED, numRuns: 12 },
    );
  });

  // Regression: work=0 once computed `x % 0` = NaN cycles in mutexHandoff
  // (os/ktests/kthreads.ts) and stopped the run with sim-error.
  it('mutex-handoff and lock-stress with work=0 (no work between lock operations) pass', () => {
    for (const cpus of [1, 2, 4]) {
      const r = runScenario(mutexHandoff, { seed: 1, cpus, extraOptions: ['work=0', 'threads=3'] });
      expect(r.verdict, why(r)).toBe('pass');
      expect(r.run.serial).toMatch(/^MUTEX: handoff ok 60 /m);
      const l = runScenario(lockStress, { seed: 1, cpus, extraOptions: ['work=0', 'iters=50'] });
      expect(l.verdict, why(l)).toBe('pass');
      expect(l.run.serial.split('\n')).toContain(`LOCK: count ok ${2 * cpus * 50}`);
    }
  });

  it('the same under PCT schedules (depth 1-3)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.nat(), fc.integer({ min: 1, max: 3 }), (cpus, seed, depth) => {
        const r = runScenario(lockStress, { source: new PctSource(seed, depth, stepsFor(lockStress, cpus, SMALL_LOCK)), seed, cpus, extraOptions: SMALL_LOCK });
        expect(r.verdict, why(r)).toBe('pass');
        expect(r.run.serial.split('\n')).toContain(`LOCK: count ok ${2 * cpus * 30}`);
        const m = runScenario(mutexHandoff, { source: new PctSource(seed, depth, stepsFor(mutexHandoff, cpus, [])), seed, cpus });
        expect(m.verdict, why(m)).toBe('pass');
        expect(m.run.serial).toMatch(/^MUTEX: handoff ok 40 /m);
      }),
      { seed: SEED, numRuns: 12 },
    );
  });
});

// ---- b. tokens ----

const siteIds = allSites().map((s) => s.id);

const decisionList: fc.Arbitrary<Decision[]> = fc
  .uniqueArray(
    fc.record({
      at: fc.maxSafeNat(),
      site: fc.constantFrom(...siteIds),
      value: fc.integer({ min: 1, max: 0x7fffffff }),
    }),
    { selector: (d) => d.at, maxLength: 60 },
  )
  .map((ds) => [...ds].sort((a, b) => a.at - b.at));

// fc.record builds null-prototype objects; spread into plain ones so toStrictEqual compares fields only.
const replaySpec: fc.Arbitrary<ReplaySpec> = fc
  .record(
  {
    scenario: fc.constantFrom(...scenarioNames()),
    cpus: fc.integer({ min: 1, max: 8 }),
    options: fc.array(fc.oneof(fc.stringMatching(/^[a-z]+=[a-z0-9-]+$/), fc.string({ unit: 'binary', minLength: 1, maxLength: 12 })), { maxLength: 5 }),
    seed: fc.maxSafeNat(),
    strategy: fc.oneof(fc.constantFrom('random', 'pct-d1', 'pct-d2', 'pct-d3'), fc.string()),
    maxCycles: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    decisions: decisionList,
  },
  { requiredKeys: ['scenario', 'cpus', 'options', 'seed', 'strategy', 'decisions'] },
  )
  .map((s) => ({ ...s, options: [...s.options], decisions: s.decisions.map((d) => ({ ...d })) }));

describe('b. replay tokens round-trip', () => {
  it('decodeToken(encodeToken(spec)) deep-equals spec, and encoding is deterministic', () => {
    fc.assert(
      fc.property(replaySpec, (spec) => {
        const t = encodeToken(spec);
        expect(t.startsWith('rugo1.')).toBe(true);
        expect(t).toMatch(/^rugo1\.[A-Za-z0-9_-]+\.[0-9a-f]{8}$/);
        expect(encodeToken(spec)).toBe(t);
        expect(encodeToken(structuredClone(spec))).toBe(t);
        const back = decodeToken(t);
        expect(back).toStrictEqual(spec);
        // Whitespace around a pasted token is ignored.
        expect(decodeToken(`  ${t}\n`)).toStrictEqual(spec);
        // Re-encoding the decoded spec gives the same token.
        expect(encodeToken(back)).toBe(t);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});

// ---- c. replay ----

function replayOf(sc: Scenario, r: ScenarioResult, extraOptions: readonly string[]): ScenarioResult {
  return runScenario(sc, { strategy: 'replay', decisions: r.run.decisions, cpus: r.cpus, extraOptions });
}

function replayThroughToken(sc: Scenario, r: ScenarioResult, extraOptions: readonly string[]): ScenarioResult {
  const token = encodeToken({ scenario: sc.name, cpus: r.cpus, options: [...extraOptions], seed: r.seed, strategy: 'random', decisions: [...r.run.decisions] });
  const spec = decodeToken(token);
  expect(spec.scenario).toBe(sc.name);
  return runScenario(resolveScenario(spec.scenario), { strategy: 'replay', decisions: spec.decisions, cpus: spec.cpus, extraOptions: spec.options, seed: spec.seed, maxCycles: spec.maxCycles });
}

function expectSameRun(a: ScenarioResult, b: ScenarioResult): void {
  expect(b.traceHash).toBe(a.traceHash);
  expect(b.run.serial).toBe(a.run.serial);
  expect(b.cycles).toBe(a.cycles);
  expect(b.stopReason).toBe(a.stopReason);
  expect(b.verdict).toBe(a.verdict);
  expect(b.run.decisions).toEqual(a.run.decisions);
}

describe('c. replaying recorded decisions gives the same trace hash', () => {
  it('lock-stress on 2-4 CPUs: direct replay and replay through a token', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 4 }), fc.nat(), (cpus, seed) => {
        const r = runScenario(lockStress, { seed, cpus, extraOptions: SMALL_LOCK });
        expect(r.run.decisions.length).toBeGreaterThan(0);
        expectSameRun(r, replayOf(lockStress, r, SMALL_LOCK));
        expectSameRun(r, replayThroughToken(lockStress, r, SMALL_LOCK));
      }),
      { seed: SEED, numRuns: 10 },
    );
  });

  it('two-threads on 1 CPU: direct replay and replay through a token', () => {
    fc.assert(
      fc.property(fc.nat(), (seed) => {
        const r = runScenario(twoThreads, { seed });
        expect(r.verdict, why(r)).toBe('pass');
        expectSameRun(r, replayOf(twoThreads, r, []));
        expectSameRun(r, replayThroughToken(twoThreads, r, []));
      }),
      { seed: SEED, numRuns: 8 },
    );
  });

  it('a failing run (planted lost-update) replays to the same failure', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 4 }), fc.nat(), (cpus, seed) => {
        const opts = [...SMALL_LOCK, 'bug=lost-update'];
        const r = runScenario(lockStress, { seed, cpus, extraOptions: opts });
        const again = replayThroughToken(lockStress, r, opts);
        expectSameRun(r, again);
      }),
      { seed: SEED, numRuns: 6 },
    );
  });

  it('a recorded decision moved to another site makes the replay stop as replay-diverged', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 4 }), fc.nat(), fc.nat(), fc.integer({ min: 1, max: siteIds.length - 1 }), (cpus, seed, pick, shift) => {
        const r = runScenario(lockStress, { seed, cpus, extraOptions: SMALL_LOCK });
        const ds = [...r.run.decisions];
        expect(ds.length).toBeGreaterThan(0);
        const i = pick % ds.length;
        ds[i] = { ...ds[i], site: siteIds[(siteIds.indexOf(ds[i].site) + shift) % siteIds.length] };
        const bad = runScenario(lockStress, { strategy: 'replay', decisions: ds, cpus, extraOptions: SMALL_LOCK });
        expect(bad.stopReason).toBe('replay-diverged');
        expect(bad.message).toContain(`replay diverged at decision #${ds[i].at}`);
        expect(bad.verdict).toBe('fail');
      }),
      { seed: SEED, numRuns: 6 },
    );
  });

  it('the same seed twice gives the same run (random strategy, 1-8 CPUs)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.nat(), (cpus, seed) => {
        const a = runScenario(lockStress, { seed, cpus, extraOptions: SMALL_LOCK });
        const b = runScenario(lockStress, { seed, cpus, extraOptions: SMALL_LOCK });
        expectSameRun(a, b);
      }),
      { seed: SEED, numRuns: 6 },
    );
  });
});

// ---- d. planted bugs ----

interface Found {
  summary: FuzzSummary;
  /** Serial output of each failing run, by run index. */
  serials: Map<number, string>;
}

function fuzzCapturing(sc: Scenario, o: Parameters<typeof fuzz>[1]): Found {
  const serials = new Map<number, string>();
  const summary = fuzz(sc, {
    ...o,
    onRun: (i, r, f) => {
      if (f !== null) serials.set(i, r.run.serial);
    },
  });
  return { summary, serials };
}

/** Decodes the first failure's token, replays it, and checks it fails the same way. */
function expectFirstFailureReplays(found: Found, kind: string): void {
  const f = found.summary.firstFailure;
  expect(f).not.toBeNull();
  if (f === null) return;
  expect(f.kind).toBe(kind);
  expect(f.verdict).toBe('fail');
  const original = found.serials.get(f.run) ?? '';
  const line = kassertLine(original);
  expect(line).toMatch(new RegExp(`^KASSERT: ${kind}: `));
  const spec = decodeToken(f.token);
  expect(spec.scenario).toBe(found.summary.scenario);
  expect(spec.seed).toBe(f.seed);
  expect(spec.decisions.length).toBe(f.nonZeroDecisions);
  const r = runScenario(resolveScenario(spec.scenario), { strategy: 'replay', decisions: spec.decisions, cpus: spec.cpus, extraOptions: spec.options, seed: spec.seed, maxCycles: spec.maxCycles });
  expect(r.verdict).toBe('fail');
  expect(failureKind(r)).toBe(kind);
  expect(kassertLine(r.run.serial)).toBe(line);
  expect(r.run.serial).toBe(original);
  expect(r.traceHash).toBe(f.traceHash);
}

describe('d. both planted bugs are found within a bounded number of runs, and replay', () => {
  it('lost-update: 20 random runs on 2 CPUs find it; the first failure replays bit for bit', () => {
    const found = fuzzCapturing(lockStress, { runs: 20, strategy: 'random', depth: 2, seed: 1, cpus: 2, extraOptions: ['bug=lost-update'] });
    expect(found.summary.failures).toBeGreaterThan(0);
    expect(Object.keys(found.summary.byKind)).toEqual(['lost-update']);
    expectFirstFailureReplays(found, 'lost-update');
  });

  it('lost-wakeup: 60 random runs of mutex-handoff on 2 CPUs find a deadlock; the first failure replays bit for bit', () => {
    const found = fuzzCapturing(mutexHandoff, { runs: 60, strategy: 'random', depth: 2, seed: 1, cpus: 2, extraOptions: ['bug=lost-wakeup'] });
    expect(found.summary.failures).toBeGreaterThan(0);
    expect(Object.keys(found.summary.byKind)).toEqual(['deadlock']);
    expectFirstFailureReplays(found, 'deadlock');
  });

  it('lost-wakeup is also found by PCT (depth 2, 60 runs)', () => {
    const found = fuzzCapturing(mutexHandoff, { runs: 60, strategy: 'pct', depth: 2, seed: 1, cpus: 2, extraOptions: ['bug=lost-wakeup'], stopOnFailure: true });
    expect(found.summary.failures).toBe(1);
    expect(decodeToken(found.summary.firstFailure?.token ?? '').strategy).toBe('pct-d2');
    expectFirstFailureReplays(found, 'deadlock');
  });

  it('for any master seed, both bugs are found within 20 runs (stop at the first failure)', () => {
    fc.assert(
      fc.property(fc.nat({ max: 1_000_000 }), (seed) => {
        const lu = fuzzCapturing(lockStress, { runs: 20, strategy: 'random', depth: 2, seed, cpus: 2, extraOptions: [...SMALL_LOCK, 'bug=lost-update'], stopOnFailure: true });
        expect(lu.summary.failures).toBe(1);
        expectFirstFailureReplays(lu, 'lost-update');
        const lw = fuzzCapturing(mutexHandoff, { runs: 20, strategy: 'random', depth: 2, seed, cpus: 2, extraOptions: ['bug=lost-wakeup'], stopOnFailure: true });
        expect(lw.summary.failures).toBe(1);
        expectFirstFailureReplays(lw, 'deadlock');
      }),
      { seed: SEED, numRuns: 5 },
    );
  });

  it('the correct kernel has no failures under the same budgets', () => {
    const lu = fuzz(lockStress, { runs: 20, strategy: 'random', depth: 2, seed: 1, cpus: 2 });
    expect(lu.failures, JSON.stringify(lu.byKind)).toBe(0);
    expect(lu.runs).toBe(20);
    const lw = fuzz(mutexHandoff, { runs: 60, strategy: 'random', depth: 2, seed: 1, cpus: 2 });
    expect(lw.failures, JSON.stringify(lw.byKind)).toBe(0);
    expect(lw.runs).toBe(60);
    const pct = fuzz(mutexHandoff, { runs: 20, strategy: 'pct', depth: 2, seed: 1, cpus: 2 });
    expect(pct.failures, JSON.stringify(pct.byKind)).toBe(0);
  });

  it('fuzzing is deterministic: every seed run twice gives the same hash (no nondeterminism failures)', () => {
    const s = fuzz(lockStress, { runs: 10, strategy: 'random', depth: 2, seed: 77, cpus: 4, extraOptions: SMALL_LOCK, checkDeterminism: true });
    expect(s.byKind).toEqual({});
    const p = fuzz(lockStress, { runs: 6, strategy: 'pct', depth: 3, seed: 77, cpus: 4, extraOptions: [...SMALL_LOCK, 'bug=lost-update'], checkDeterminism: true });
    expect(p.byKind.nondeterminism).toBeUndefined();
  });
});

// ---- e. checkers ----

describe('e. the kernel checkers report with named KASSERT markers', () => {
  it('deadlock: the lost-wakeup bug leaves every thread asleep and the checker names them', () => {
    const found = fuzzCapturing(mutexHandoff, { runs: 20, strategy: 'random', depth: 2, seed: 1, cpus: 2, extraOptions: ['bug=lost-wakeup'], stopOnFailure: true });
    const f = found.summary.firstFailure;
    expect(f?.kind).toBe('deadlock');
    const serial = found.serials.get(f?.run ?? -1) ?? '';
    expect(kassertLine(serial)).toMatch(/^KASSERT: deadlock: no runnable thread and nothing can wake: .*locker\d+ on /);
    // A KASSERT panics the kernel: its panic marker follows.
    expect(serial).toMatch(/RUGO: panic code=0x106/);
  });

  it('watchdog: no progress for more than watchdog=N ticks is reported', () => {
    const r = runScenario(twoThreads, { seed: 1, extraOptions: ['work=50000000', 'watchdog=2'] });
    expect(r.verdict).toBe('fail');
    expect(failureKind(r)).toBe('watchdog');
    expect(kassertLine(r.run.serial)).toMatch(/^KASSERT: watchdog: no progress for \d+ ticks \(bound 2\)$/);
  });

  it('the watchdog stays quiet when threads make progress', () => {
    const r = runScenario(twoThreads, { seed: 1, extraOptions: ['watchdog=5'] });
    expect(r.verdict, why(r)).toBe('pass');
  });

  it('lock order: acquiring in any order consistent with one total order never reports; closing a cycle does', () => {
    const n = 6;
    const names = Array.from({ length: n }, (_, i) => `L${i}`);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: n - 1 }), fc.integer({ min: 0, max: n - 1 })), { minLength: 1, maxLength: 30 }),
        (pairs) => {
          const ld = new LockDep();
          const edges = pairs.filter(([a, b]) => a < b);
          // Edges that respect the order L0 < L1 < ... never form a cycle.
          for (const [a, b] of edges) expect(ld.addEdge(names[a], names[b])).toBeNull();
          // Any edge against the order that closes a path is an ABBA report.
          for (const [a, b] of edges) {
            const p = ld.addEdge(names[b], names[a]);
            expect(p?.name).toBe('lock-order');
            expect(p?.detail).toContain(`acquiring ${names[a]} while holding ${names[b]}`);
          }
          // Same class twice (different instances) is not tracked.
          expect(ld.addEdge('L0', 'L0')).toBeNull();
        },
      ),
      { seed: SEED, numRuns: 100 },
    );
  });
});

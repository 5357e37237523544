// Issue 5: shrinking means something, every planted bug is found and
// replayed, the correct kernel passes, fault plans never take the kernel down.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { runScenario, decisionList, faultPlan, workload, assertSchedules, scheduleSize, type ScheduleEntry } from '../testing/index.ts';
import { BUGS } from '../os/bugs.ts';
import { resolveScenario } from '../scenarios/scenario.ts';
import { fuzz } from '../scenarios/fuzz.ts';
import { bugOptions } from '../scenarios/bugs.ts';
import { decodeToken } from '../scenarios/token.ts';
import { runScenario as runRaw } from '../scenarios/runner.ts';

const SEED = 20261125;

describe('shrinking', () => {
  it('lost-update on 1 CPU: fast-check finds a failing schedule and shrinks it to a handful of non-zero decisions that replay to the same failure', () => {
    const prop = fc.property(decisionList({ maxIndex: 3000, maxLength: 10 }), (d: ScheduleEntry[]) => runScenario('lock-stress', { decisions: d, bug: 'lost-update', cpus: 1, options: ['hz=10000'] }).verdict === 'pass');
    const out = fc.check(prop, { seed: 42, numRuns: 400 });
    expect(out.failed, 'fast-check did not find the lost update within 400 runs').toBe(true);
    expect(out.numRuns).toBeLessThan(400);
    const d = out.counterexample![0];
    expect(scheduleSize(d)).toBeLessThanOrEqual(5);
    const r = runScenario('lock-stress', { decisions: d, bug: 'lost-update', cpus: 1, options: ['hz=10000'] });
    expect(r.verdict).toBe('fail');
    expect(r.kind).toBe('lost-update');
    expect(r.decisions.length).toBeLessThanOrEqual(5);
    // The token of the shrunk run replays bit for bit (what `rugo replay` does).
    const spec = decodeToken(r.token);
    const again = runRaw(resolveScenario(spec.scenario), { seed: spec.seed, cpus: spec.cpus, extraOptions: spec.options, strategy: 'replay', decisions: spec.decisions });
    expect(again.traceHash).toBe(r.traceHash);
    expect(again.verdict).toBe('fail');
    // The undisturbed run passes: the schedule is what breaks it.
    expect(runScenario('lock-stress', { decisions: [], bug: 'lost-update', cpus: 1, options: ['hz=10000'] }).verdict).toBe('pass');
  });

  it('assertSchedules reports fast-check\'s seed and path plus the replay token of the shrunk schedule', () => {
    const prop = fc.property(decisionList({ maxIndex: 3000, maxLength: 10 }), (d: ScheduleEntry[]) => runScenario('lock-stress', { decisions: d, bug: 'lost-update', cpus: 1, options: ['hz=10000'] }).verdict === 'pass');
    let message = '';
    try {
      assertSchedules(prop, { seed: 42, numRuns: 400 }, (d) => runScenario('lock-stress', { decisions: d, bug: 'lost-update', cpus: 1, options: ['hz=10000'] }));
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/seed: 42/);
    expect(message).toMatch(/path: "/);
    expect(message).toMatch(/Replay: npx rugo replay rugo1\./);
    // A property that holds does not throw.
    expect(() => assertSchedules(fc.property(decisionList({ maxLength: 2 }), () => true), { seed: 1, numRuns: 5 })).not.toThrow();
  });

  it('fuzz --shrink: a random-strategy failure shrinks to fewer non-zero decisions and its minimal token replays to the same hash', () => {
    const sc = resolveScenario('mutex-handoff');
    const s = fuzz(sc, { runs: 30, strategy: 'random', depth: 2, seed: 1, cpus: 2, extraOptions: bugOptions('lost-wakeup'), stopOnFailure: true, shrink: true });
    const f = s.firstFailure!;
    expect(f).not.toBeNull();
    expect(f.shrunk).toBeDefined();
    expect(f.shrunk!.nonZeroDecisions).toBeLessThanOrEqual(f.nonZeroDecisions);
    const spec = decodeToken(f.shrunk!.token);
    const r = runRaw(sc, { seed: spec.seed, cpus: spec.cpus, extraOptions: spec.options, strategy: 'replay', decisions: spec.decisions });
    expect(r.traceHash).toBe(f.shrunk!.traceHash);
    expect(r.run.serial).toMatch(/KASSERT: deadlock/);
  });
});

describe('the planted-bug corpus', () => {
  it('has at least nine bugs, each with its exposing scenario', () => {
    expect(BUGS.length).toBeGreaterThanOrEqual(9);
    for (const b of BUGS) expect(() => resolveScenario(b.scenario)).not.toThrow();
  });

  for (const b of BUGS) {
    it(`${b.name}: found within 15 random runs and replayed; the correct kernel passes the same runs`, () => {
      const sc = resolveScenario(b.scenario);
      const s = fuzz(sc, { runs: 15, strategy: 'random', depth: 2, seed: 1, cpus: b.cpus, extraOptions: bugOptions(b.name), stopOnFailure: true });
      expect(s.failures, `${b.name} not found`).toBeGreaterThan(0);
      const f = s.firstFailure!;
      const spec = decodeToken(f.token);
      const r = runRaw(sc, { seed: spec.seed, cpus: spec.cpus, extraOptions: spec.options, strategy: 'replay', decisions: spec.decisions });
      expect(r.traceHash).toBe(f.traceHash);
      expect(r.verdict).toBe('fail');
      const ok = fuzz(sc, { runs: Math.max(3, f.run + 1), strategy: 'random', depth: 2, seed: 1, cpus: b.cpus });
      expect(ok.failures, `correct kernel failed on ${b.scenario}: ${JSON.stringify(ok.byKind)}`).toBe(0);
    });
  }
});

describe('fault plans and workloads', () => {
  it('injected allocation failures never panic the kernel or crash the simulator (spawn and ping-pong)', () => {
    fc.assert(
      fc.property(faultPlan({ maxAllocFailures: 3, maxAllocIndex: 30 }), fc.constantFrom('spawn', 'ping-pong', 'shm-bulk'), (plan, name) => {
        const r = runScenario(name, { faults: plan, seed: 1 });
        expect(r.stopReason, r.serial).toBe('debug-exit');
        expect(r.serial).not.toMatch(/KASSERT|RUGO: panic/);
        expect(r.serial).toMatch(/RUGO: halt ok/);
        if ((plan.allocFailAt ?? []).length === 0) expect(r.verdict).toBe('pass');
      }),
      { seed: SEED, numRuns: 12 },
    );
  });

  it('random workloads of the lock and IPC scenarios pass on the correct kernel', () => {
    fc.assert(
      fc.property(workload({ maxCpus: 4 }), fc.nat(1000), (w, seed) => {
        const r = runScenario(w.scenario, { cpus: w.cpus, options: w.options, seed });
        expect(r.verdict, `${w.scenario} ${w.options.join(' ')} cpus=${w.cpus}: ${r.reasons.join('; ')}`).toBe('pass');
      }),
      { seed: SEED, numRuns: 10 },
    );
  });
});

describe('block-device fault plans', () => {
  it('faultPlan({ blk: true }) on stress-blk: injected I/O errors, spikes, resets and power loss never panic the kernel or crash the simulator, and data that was written reads back or fails with an error', () => {
    fc.assert(
      fc.property(faultPlan({ blk: true, maxAllocFailures: 0, maxPowerLossWrite: 30 }), fc.nat(1000), (plan, seed) => {
        const r = runScenario('stress-blk', { faults: plan, seed, cpus: 2 });
        expect(['debug-exit', 'power-loss'], `${r.stopReason}: ${r.reasons.join('; ')}`).toContain(r.stopReason);
        expect(r.serial).not.toMatch(/KASSERT|RUGO: panic|VIRTIO:/);
        if (r.stopReason === 'debug-exit') expect(r.serial, r.serial.slice(-400)).toMatch(/STRESS: blk ok/);
        const noFaults = !plan.blk?.ioError && !plan.blk?.latencySpike && !plan.blk?.reset && !plan.blk?.powerLossAtWrite;
        if (noFaults) expect(r.verdict).toBe('pass');
      }),
      { seed: SEED, numRuns: 10 },
    );
  });
});

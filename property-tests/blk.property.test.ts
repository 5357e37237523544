// Properties of the virtio-blk device and driver (issue 7):
//  a. data integrity under random and PCT schedules with injected I/O errors
//     and latency spikes on 1-4 CPUs: every write either succeeds and reads
//     back identically or returns EIO to its caller (stress-blk's model
//     checks every read), the device-side checker never fires for the
//     correct driver, and no completion and no interrupt is lost (the
//     device's end-of-run audit);
//  b. the same for schedules given directly as decision lists (fast-check
//     shrinks them toward the nominal run);
//  c. injected device failures (DEVICE_NEEDS_RESET): the driver resets the
//     device, fails what was in flight with EIO, and carries on;
//  d. power loss at the Nth write: the image holds exactly the writes that
//     completed before it, and the Nth one lost or torn as planned;
//  e. the planted bug blk-missed-irq is found by fuzzing within a bounded
//     number of runs, named as a lost wakeup, and its token replays it; the
//     correct driver passes the same seed.
// Every fc.assert has a fixed seed and a bounded numRuns.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { resolveScenario, type Scenario } from '../scenarios/scenario.ts';
import { buildMachine, runScenario, type ScenarioResult } from '../scenarios/runner.ts';
import { DEFAULT_DISK, type DiskSpec } from '../scenarios/disk.ts';
import { fuzz } from '../scenarios/fuzz.ts';
import { decodeToken } from '../scenarios/token.ts';
import { faultPlan, TORN_WRITE_BYTES, type FaultPlan } from '../sim/virtio/blk.ts';
import { createDisk, SECTOR_SIZE } from '../sim/virtio/disk.ts';
import { PctSource } from '../sim/pct.ts';
import { ReplaySource, Site, allSites, type Decision } from '../sim/decisions.ts';

const SEED = 20261207;
const stress = resolveScenario('stress-blk');
/** A smaller stress workload: 2 processes x 2 threads, 10 I/Os each. */
const SMALL = [`arg=${2 + 2 * 16 + 10 * 256}`];

function withDisk(sc: Scenario, disk: Partial<DiskSpec>): Scenario {
  return { ...sc, machine: { ...sc.machine, disk: { ...(sc.machine.disk ?? DEFAULT_DISK), ...disk } } };
}

function why(r: ScenarioResult): string {
  return `verdict ${r.verdict} on ${r.cpus} CPU(s), seed ${r.seed}: ${r.reasons.join('; ')}\naudit: ${r.blk?.audit.join('; ')}\nserial:\n${r.run.serial}`;
}

/** Checks a stress run: pass, clean audit, and the EIO count it reports matches the device's injected errors. */
function checkStress(r: ScenarioResult, plan: FaultPlan): void {
  expect(r.verdict, why(r)).toBe('pass');
  expect(r.blk, 'a disk').not.toBeNull();
  expect(r.blk!.audit, why(r)).toEqual([]);
  const m = /^STRESS: blk ok workers=(\d+) ios=(\d+) eio=(\d+)$/m.exec(r.run.serial);
  expect(m, why(r)).not.toBeNull();
  const eio = Number(m![3]);
  const s = r.blk!.stats;
  expect(s.completed + s.dropped).toBe(s.requests);
  if (!plan.reset) expect(eio).toBe(s.ioErrorsInjected);
  else expect(eio).toBeGreaterThanOrEqual(s.ioErrorsInjected + s.dropped);
  if (!plan.ioError && !plan.reset) expect(eio).toBe(0);
}

const plans = fc.record({ ioError: fc.boolean(), latencySpike: fc.boolean() }).map((p) => faultPlan(p));

describe('a. data integrity with injected I/O errors, 1-4 CPUs', () => {
  it('random schedules: writes read back or fail with EIO; no violation, no lost completion or interrupt', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.nat(), plans, (cpus, seed, plan) => {
        const r = runScenario(withDisk(stress, { faults: plan }), { seed, cpus, extraOptions: SMALL });
        checkStress(r, plan);
      }),
      { seed: SEED, numRuns: 14 },
    );
  });

  it('I/O errors do strike (a heavier load with errors on every request type)', () => {
    const plan = faultPlan({ ioError: true });
    let injected = 0;
    for (const seed of [1, 2, 3]) {
      const r = runScenario(withDisk(stress, { faults: plan }), { seed, cpus: 2 });
      checkStress(r, plan);
      injected += r.blk!.stats.ioErrorsInjected;
    }
    expect(injected).toBeGreaterThan(0);
  });

  it('PCT schedules (depth 1-3) on 2-4 CPUs', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 4 }), fc.nat(), fc.integer({ min: 1, max: 3 }), plans, (cpus, seed, depth, plan) => {
        const r = runScenario(withDisk(stress, { faults: plan }), { source: new PctSource(seed, depth, 400), seed, cpus, extraOptions: SMALL });
        checkStress(r, plan);
      }),
      { seed: SEED, numRuns: 6 },
    );
  });
});

describe('b. schedules as decision lists', () => {
  const sites = allSites().map((s) => s.id);
  const lists: fc.Arbitrary<Decision[]> = fc
    .uniqueArray(fc.record({ at: fc.integer({ min: 0, max: 6000 }), site: fc.constantFrom(...sites), value: fc.integer({ min: 1, max: 64 }) }), { selector: (d) => d.at, maxLength: 80 })
    .map((ds) => [...ds].sort((a, b) => a.at - b.at));

  it('any list of decisions (latencies, jitter, interrupt delays, picks, I/O errors) keeps the data correct', () => {
    const plan = faultPlan({ ioError: true, latencySpike: true });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), lists, (cpus, list) => {
        const r = runScenario(withDisk(stress, { faults: plan }), { source: new ReplaySource(list, false), cpus, extraOptions: SMALL });
        checkStress(r, plan);
      }),
      { seed: SEED, numRuns: 8 },
    );
  });
});

describe('c. device failures (DEVICE_NEEDS_RESET)', () => {
  it('the driver resets the device, in-flight requests fail with EIO, and data stays consistent', () => {
    const plan = faultPlan({ reset: true, ioError: true });
    let resets = 0;
    for (const [seed, cpus] of [
      [1, 1],
      [2, 2],
      [3, 4],
      [4, 2],
    ]) {
      const r = runScenario(withDisk(stress, { faults: plan }), { seed, cpus });
      checkStress(r, plan);
      resets += r.blk!.stats.resetsInjected;
      if (r.blk!.stats.resetsInjected > 0) expect(r.run.serial).toMatch(/^BLK: device reset, \d+ request\(s\) failed with EIO$/m);
    }
    expect(resets).toBeGreaterThan(0);
  });
});

describe('d. power loss at the Nth write (the doom counter)', () => {
  it('the image holds the writes completed before the Nth; the Nth is lost, or torn as chosen', () => {
    const sc = withDisk(stress, { recordWrites: true });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.boolean(), fc.integer({ min: 1, max: 2 }), fc.nat(), (n, torn, cpus, seed) => {
        // The reference run: same seed, no power loss; its write log in completion order.
        const a = buildMachine(sc, { seed, cpus, extraOptions: SMALL });
        const ra = a.run();
        const log = a.blk!.writeLog.map((w) => ({ lba: w.lba, data: w.data.slice() }));
        const finalA = a.blk!.image.bytes.slice();
        a.dispose();
        expect(ra.stopReason).toBe('debug-exit');
        const b = buildMachine(withDisk(sc, { faults: faultPlan({ powerLossAtWrite: n, tornWrite: torn }) }), { seed, cpus, extraOptions: SMALL });
        const rb = b.run();
        const img = b.blk!.image.bytes.slice();
        b.dispose();
        if (n > log.length) {
          expect(rb.stopReason).toBe('debug-exit');
          expect(Buffer.from(img).equals(Buffer.from(finalA))).toBe(true);
          return;
        }
        expect(rb.stopReason).toBe('power-loss');
        expect(rb.message).toContain(`power lost at write ${n} `);
        const expected = createDisk(img.length).bytes;
        for (const w of log.slice(0, n - 1)) expected.set(w.data, w.lba * SECTOR_SIZE);
        if (torn) {
          const w = log[n - 1];
          const choice = rb.decisions.find((d) => d.site === Site.BlkTornWrite)?.value ?? 0;
          const bytes = TORN_WRITE_BYTES[choice];
          const whole = w.data.length - SECTOR_SIZE;
          expected.set(w.data.subarray(0, whole + bytes), w.lba * SECTOR_SIZE);
        }
        expect(Buffer.from(img).equals(Buffer.from(expected))).toBe(true);
      }),
      { seed: SEED, numRuns: 10 },
    );
  });
});

describe('e. the planted bug blk-missed-irq', () => {
  it('fuzzing finds the lost wakeup within 60 runs on 2 CPUs, its token replays it, and the correct driver passes that seed', () => {
    const s = fuzz(stress, { runs: 60, strategy: 'random', depth: 2, seed: 1, cpus: 2, extraOptions: ['bug=blk-missed-irq'], stopOnFailure: true });
    expect(s.firstFailure, 'a failure within 60 runs').not.toBeNull();
    const f = s.firstFailure!;
    expect(f.kind).toBe('deadlock');
    const spec = decodeToken(f.token);
    expect(spec.options).toEqual(['bug=blk-missed-irq']);
    const replay = runScenario(stress, { strategy: 'replay', decisions: spec.decisions, cpus: spec.cpus, seed: spec.seed, extraOptions: spec.options });
    expect(replay.traceHash).toBe(f.traceHash);
    expect(replay.run.serial).toMatch(/^KASSERT: deadlock: lost wakeup: \S+ sleeps on blk request \d+, which already completed/m);
    const correct = runScenario(stress, { seed: f.seed, cpus: 2 });
    expect(correct.verdict, why(correct)).toBe('pass');
  });

  it('on 1 CPU too (the completion interrupt lands between the check and the sleep)', () => {
    const s = fuzz(stress, { runs: 60, strategy: 'random', depth: 2, seed: 1, cpus: 1, extraOptions: ['bug=blk-missed-irq'], stopOnFailure: true });
    expect(s.firstFailure?.kind).toBe('deadlock');
  });
});

// Run metrics: the cycle counts add up (per CPU, busy + idle = the run's
// cycles, and the threads' cycles on a CPU sum to it too, matching the
// machine's own counters), observers never change the run, and the
// histograms fill for the workloads that exercise them. Plus the histogram
// itself.
import { describe, expect, it } from 'vitest';
import { resolveScenario } from '../../scenarios/scenario.ts';
import { runScenario } from '../../scenarios/runner.ts';
import { Histogram, bucketOf, bucketLow, bucketHigh, HISTOGRAM_BUCKETS } from '../../sim/histogram.ts';
import { runScenario as testRun } from '../../testing/index.ts';
import { SYS } from '../../os/syscall/abi.ts';

describe('run metrics', () => {
  for (const [name, cpus] of [
    ['ping-pong', 1],
    ['ping-pong', 2],
    ['two-threads', 2],
    ['lock-stress', 4],
    ['timer-ticks', 1],
    ['boot', 1],
  ] as [string, number][]) {
    it(`${name} on ${cpus} CPU(s): per CPU, busy + idle = run length = the threads' cycles; same as the machine's counters`, () => {
      const r = runScenario(resolveScenario(name), { seed: 5, cpus });
      expect(r.verdict, r.reasons.join('; ')).toBe('pass');
      const m = r.metrics!.summary();
      expect(m.cycles).toBe(r.cycles);
      expect(m.cpus).toHaveLength(cpus);
      for (const c of m.cpus) {
        expect(c.busyCycles + c.idleCycles).toBe(r.cycles);
        const threads = Object.values(c.threadCycles).reduce((a, b) => a + b, 0);
        expect(threads).toBe(r.cycles);
        const machine = r.run.cpus[c.cpu];
        expect(c.idleCycles).toBe(machine.idleCycles);
        expect(c.busyCycles).toBe(machine.busyCycles);
      }
      // Every thread's CPU time is the sum of its per-CPU shares.
      const total = m.threads.reduce((s, t) => s + t.cpuCycles, 0);
      expect(total).toBe(r.cycles * cpus);
    });
  }

  it('the same trace hash, serial output and cycles with no observer, metrics, and metrics + trace', () => {
    for (const [name, cpus] of [
      ['ping-pong', 2],
      ['mutex-handoff', 2],
      ['stress-ipc', 4],
    ] as [string, number][]) {
      const sc = resolveScenario(name);
      const none = runScenario(sc, { seed: 11, cpus, metrics: false });
      const metrics = runScenario(sc, { seed: 11, cpus });
      const both = runScenario(sc, { seed: 11, cpus, timeline: true, traceSink: () => {} });
      for (const r of [metrics, both]) {
        expect(r.traceHash).toBe(none.traceHash);
        expect(r.run.serial).toBe(none.run.serial);
        expect(r.cycles).toBe(none.cycles);
        expect(r.run.decisionCount).toBe(none.run.decisionCount);
      }
      expect(none.metrics).toBeNull();
    }
  });

  it('ping-pong fills the syscall, IPC, scheduling and switch histograms; every wakeup is reported before the thread runs', () => {
    const r = runScenario(resolveScenario('ping-pong'), { seed: 2, cpus: 2 });
    const m = r.metrics!.summary({ [SYS.ipc_send]: 'ipc_send', [SYS.ipc_recv]: 'ipc_recv' });
    const send = m.syscalls.find((s) => s.num === SYS.ipc_send)!;
    const recv = m.syscalls.find((s) => s.num === SYS.ipc_recv)!;
    expect(send).toMatchObject({ name: 'ipc_send', count: 200 });
    expect(recv).toMatchObject({ name: 'ipc_recv', count: 200 });
    expect(send.latency.p50).toBeGreaterThan(0);
    expect(recv.latency.p99).toBeGreaterThanOrEqual(recv.latency.p50);
    expect(m.ipc).toMatchObject({ sends: 200, receives: 200, maxQueueDepth: 1 });
    expect(m.ipc.oneWay.count).toBe(200);
    expect(m.ipc.roundTrip.count).toBeGreaterThanOrEqual(198);
    expect(m.ipc.roundTrip.p50).toBeGreaterThan(m.ipc.oneWay.p50);
    expect(m.scheduling.wakeups).toBeGreaterThanOrEqual(200);
    expect(m.scheduling.latency.count).toBeGreaterThanOrEqual(200);
    expect(m.scheduling.lateReports).toBe(0);
    expect(m.contextSwitch.voluntary).toBeGreaterThanOrEqual(200);
    expect(m.contextSwitch.latency.count).toBeGreaterThan(0);
    expect(m.runQueue.samples).toBeGreaterThan(0);
    expect(m.interrupts.count).toBeGreaterThan(0);
    expect(m.interrupts.latency.min).toBeGreaterThan(0);
  });

  it('timer-ticks: interrupt latency per vector; two-threads on 1 CPU: preemptions and run-queue waits', () => {
    const t = runScenario(resolveScenario('timer-ticks'), { seed: 1 }).metrics!.summary();
    expect(t.interrupts.byVector['240']).toBeGreaterThanOrEqual(100); // the LAPIC timer, vector 0xF0
    expect(t.interrupts.latency.p50).toBeGreaterThanOrEqual(100); // at least the delivery cost
    const tt = runScenario(resolveScenario('two-threads'), { seed: 1, cpus: 1 }).metrics!.summary();
    expect(tt.contextSwitch.involuntary).toBeGreaterThan(0);
    expect(tt.scheduling.requeues).toBeGreaterThan(0);
    expect(tt.scheduling.runQueueWait.max).toBeGreaterThan(1_000_000); // a whole quantum waiting
    expect(tt.runQueue.max).toBeGreaterThanOrEqual(1);
  });

  it('stress-syscall: many syscall numbers, each with a histogram', () => {
    const m = runScenario(resolveScenario('stress-syscall'), { seed: 1 }).metrics!.summary();
    expect(m.syscalls.length).toBeGreaterThan(3);
    for (const s of m.syscalls) {
      expect(s.count).toBe(s.latency.count);
      expect(s.latency.min).toBeLessThanOrEqual(s.latency.p50);
      expect(s.latency.p50).toBeLessThanOrEqual(s.latency.max);
    }
  });

  it('the testing API returns the timing metrics', () => {
    const r = testRun('ping-pong', { seed: 1 });
    expect(r.metrics.timing.ipc.roundTrip.count).toBeGreaterThan(0);
    expect(r.metrics.timing.syscalls.find((s) => s.name === 'ipc_send')?.count).toBe(200);
    expect(r.metrics.timing.cpus[0].busyCycles + r.metrics.timing.cpus[0].idleCycles).toBe(r.cycles);
  });
});

describe('Histogram', () => {
  it('buckets are contiguous and at most 1/16 of their value wide', () => {
    for (let i = 0; i < HISTOGRAM_BUCKETS - 1; i++) {
      expect(bucketHigh(i)).toBe(bucketLow(i + 1));
      expect(bucketOf(bucketLow(i))).toBe(i);
      expect(bucketOf(bucketHigh(i) - 1)).toBe(i);
      if (bucketLow(i) >= 32) expect((bucketHigh(i) - bucketLow(i)) / bucketLow(i)).toBeLessThanOrEqual(1 / 16);
    }
    expect(bucketOf(2 ** 40 + 12345)).toBeLessThan(HISTOGRAM_BUCKETS);
  });

  it('quantiles within a bucket of the exact ones; exact count, sum, min, max; merge', () => {
    const h = new Histogram();
    const xs: number[] = [];
    let v = 7;
    for (let i = 0; i < 5000; i++) {
      v = (v * 1103515245 + 12345) % 2147483648;
      const x = 10 + (v % 100_000);
      xs.push(x);
      h.add(x);
    }
    xs.sort((a, b) => a - b);
    for (const q of [0.5, 0.9, 0.99]) {
      const exact = xs[Math.ceil(q * xs.length) - 1];
      expect(Math.abs(h.quantile(q) - exact) / exact).toBeLessThan(1 / 16);
    }
    expect(h.count).toBe(5000);
    expect(h.min).toBe(xs[0]);
    expect(h.max).toBe(xs.at(-1));
    expect(h.sum).toBe(xs.reduce((a, b) => a + b, 0));
    const g = new Histogram();
    g.add(1);
    g.merge(h);
    expect(g.count).toBe(5001);
    expect(g.min).toBe(1);
    expect(g.buckets().reduce((s, b) => s + b[2], 0)).toBe(5001);
    expect(new Histogram().summary()).toEqual({ count: 0, min: 0, max: 0, mean: 0, p50: 0, p90: 0, p99: 0 });
  });
});

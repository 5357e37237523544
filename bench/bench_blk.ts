// Benchmark section `blk` (issue 7): 4 KiB random reads from a 1 MiB
// virtio-blk disk at queue depth 1, 8 and 32 (qd user threads, each with
// one request in flight, the ring program blk-bench), on 1 CPU, nominal
// decisions (the undisturbed run: every request sees the nominal 50 us
// media latency). Figures:
// - simulated IOPS: reads / (first start to last end, simulated seconds);
// - latency in cycles: end to end per read by Little's law (qd * elapsed /
//   reads, syscall and copy included), and the device's service time
//   (notify to used, mean, p50, p99);
// - host wall time per simulated read: marginal (the difference between a
//   run of n and a run of 2n reads, divided by n) and whole-run.
import { resolveScenario, type Scenario } from '../scenarios/scenario.ts';
import { buildMachine } from '../scenarios/runner.ts';
import { fmt } from './host.ts';

interface BlkRun {
  ios: number;
  cycles: number;
  wallMs: number;
  deviceMean: number;
  deviceP50: number;
  deviceP99: number;
  verdictOk: boolean;
  line: string;
}

function scenarioFor(qd: number, perWorker: number): Scenario {
  const base = resolveScenario('blk-identify');
  return { ...base, name: 'blk-bench', kernel: { options: ['test=user', 'prog=blk-bench', 'blk=auto', `arg=${qd + perWorker * 256}`] }, maxCycles: 20_000_000_000 };
}

function runOnce(qd: number, perWorker: number): BlkRun {
  const t0 = performance.now();
  const m = buildMachine(scenarioFor(qd, perWorker), { strategy: 'nominal', cpus: 1 });
  const r = m.run();
  const wallMs = performance.now() - t0;
  const lat = [...m.blk!.latencies].sort((a, b) => a - b);
  const stats = m.blk!.stats;
  m.dispose();
  const match = /^BENCH: blk qd=(\d+) workers=(\d+) ios=(\d+) cycles=(\d+)$/m.exec(r.serial);
  const q = (p: number): number => (lat.length === 0 ? 0 : lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]);
  return {
    ios: match ? Number(match[3]) : 0,
    cycles: match ? Number(match[4]) : 0,
    wallMs,
    deviceMean: stats.completed > 0 ? stats.latencySumCycles / stats.completed : 0,
    deviceP50: q(0.5),
    deviceP99: q(0.99),
    verdictOk: match !== null && r.stopReason === 'debug-exit' && Number(match[2]) === qd,
    line: match?.[0] ?? `no BENCH line (stop ${r.stopReason}: ${r.message})`,
  };
}

export function blkSection(out: (s: string) => void, figures: Record<string, unknown>): void {
  const cpuHz = 1_000_000_000;
  const cases = [
    { qd: 1, per: 300 },
    { qd: 8, per: 60 },
    { qd: 32, per: 20 },
  ];
  for (const c of cases) runOnce(c.qd, Math.max(4, c.per / 4)); // warm-up (JIT)
  out('== blk: 4 KiB random reads, virtio-blk, 1 CPU, nominal decisions (media latency 50 us) ==');
  out('qd   reads   sim IOPS   e2e lat cyc   dev mean   dev p50   dev p99   host us/read (marginal)   host ms/run');
  const rows: Record<string, unknown>[] = [];
  for (const c of cases) {
    const small = runOnce(c.qd, c.per);
    const big = runOnce(c.qd, 2 * c.per);
    const iops = big.ios / (big.cycles / cpuHz);
    const e2e = (c.qd * big.cycles) / big.ios;
    const marginalUs = ((big.wallMs - small.wallMs) * 1000) / (big.ios - small.ios);
    const wholeUs = (big.wallMs * 1000) / big.ios;
    rows.push({ qd: c.qd, reads: big.ios, simCycles: big.cycles, simIops: iops, e2eLatencyCycles: e2e, deviceMeanCycles: big.deviceMean, deviceP50Cycles: big.deviceP50, deviceP99Cycles: big.deviceP99, hostUsPerReadMarginal: marginalUs, hostUsPerReadWholeRun: wholeUs, hostMsPerRun: big.wallMs, ok: big.verdictOk && small.verdictOk });
    out(
      `${String(c.qd).padStart(2)} ${String(big.ios).padStart(7)} ${fmt(iops).padStart(10)} ${fmt(e2e).padStart(13)} ${fmt(big.deviceMean).padStart(10)} ${fmt(big.deviceP50).padStart(9)} ${fmt(big.deviceP99).padStart(9)} ${fmt(marginalUs, 1).padStart(14)} (${fmt(wholeUs, 1)} whole) ${fmt(big.wallMs, 1).padStart(9)}${big.verdictOk ? '' : `  [${big.line}]`}`,
    );
  }
  out('  latency: e2e = qd * elapsed / reads (syscall, driver, interrupt and copy included); dev = notify to used ring (cycles, 1 GHz)');
  figures.blk = { reads4KiB: rows, cpus: 1, decisions: 'nominal', mediaLatencyCycles: 50_000 };
}

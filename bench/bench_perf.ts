// The `perf` bench section (issue 6): how fast the simulator simulates.
// - simulated ops/s, events/s (queue events + hashed architectural events,
//   as the foundation section counts them) and runs/s for boot, two-threads
//   and ping-pong (median wall time of a run after warm-up, metrics on, as
//   every run keeps them), and the cost of run metrics (fastest run with
//   metrics against the fastest without, interleaved);
// - the host's raw generator-resume and heap-allocation rates, measured in
//   the same process, and the simulator's ops/s as a fraction of them;
// - the wall-time ratio of simulating 10x the cycles (timer-ticks 1000 vs
//   10000 ticks; two-threads 120 vs 1200 lines): a discrete-event
//   simulator's wall time follows events, so ~10x;
// - the wall time of the whole acceptance scenario set (every bundled
//   scenario on each of its CPU counts, one seed), next to the original
//   Rugo's measured 74.95 s (legacy lane, 16 tests) and 32.1 s (Rust lane,
//   43 tests) from shared/reference/rugo-facts.md;
// - peak RSS of the bench process.
// Printed, never asserted. `npx tsx bench/bench_perf.ts [--json]` runs it alone.
import { pathToFileURL } from 'node:url';
import { allScenarios, resolveScenario, type Scenario } from '../scenarios/scenario.ts';
import { runScenario, type RunOptions } from '../scenarios/runner.ts';
import { generatorResumeRate, heapAllocRate, median, fmt } from './host.ts';

/** The original Rugo's acceptance suites under QEMU (shared/reference/rugo-facts.md). */
export const ORIGINAL_RUGO = { legacyLaneSec: 74.95, legacyLaneTests: 16, rustLaneSec: 32.1, rustLaneTests: 43 };

interface Rate {
  scenario: string;
  runs: number;
  wallMs: number;
  ops: number;
  events: number;
  cycles: number;
  opsPerSec: number;
  eventsPerSec: number;
  runsPerSec: number;
  wallMsNoMetrics: number;
  metricsOverheadPct: number;
}

/** Median wall time of runs with metrics and without, interleaved (so drift in the host's speed hits both alike). */
function timeRuns(sc: Scenario, n: number): { wall: number; wallOff: number; minOn: number; minOff: number; ops: number; events: number; cycles: number } {
  const on: number[] = [];
  const off: number[] = [];
  let last = runScenario(sc, { seed: 1 });
  for (let i = 0; i < n; i++) {
    const opts: RunOptions = { seed: 1 + i };
    let t0 = performance.now();
    last = runScenario(sc, opts);
    on.push(performance.now() - t0);
    t0 = performance.now();
    runScenario(sc, { ...opts, metrics: false });
    off.push(performance.now() - t0);
  }
  return { wall: median(on), wallOff: median(off), minOn: Math.min(...on), minOff: Math.min(...off), ops: last.run.ops, events: last.run.events + last.run.hashedEvents, cycles: last.cycles };
}

function rates(out: (s: string) => void): Rate[] {
  const cases: { name: string; runs: number }[] = [
    { name: 'boot', runs: 200 },
    { name: 'two-threads', runs: 200 },
    { name: 'ping-pong', runs: 60 },
  ];
  const rows: Rate[] = [];
  out('== perf: simulation rate (median wall time of a run after warm-up; seeds 1..n; metrics on) ==');
  out('scenario        runs   wall ms    ops     sim ops/s    events   events/s     runs/s  metrics cost');
  for (const c of cases) {
    const sc = resolveScenario(c.name);
    for (let i = 0; i < 30; i++) {
      runScenario(sc, { seed: 700_000 + i });
      runScenario(sc, { seed: 700_000 + i, metrics: false });
    }
    const on = timeRuns(sc, c.runs);
    const r: Rate = {
      scenario: c.name,
      runs: c.runs,
      wallMs: on.wall,
      ops: on.ops,
      events: on.events,
      cycles: on.cycles,
      opsPerSec: on.ops / (on.wall / 1000),
      eventsPerSec: on.events / (on.wall / 1000),
      runsPerSec: 1000 / on.wall,
      wallMsNoMetrics: on.wallOff,
      // From the fastest run of each kind: the least disturbed by other load on the host.
      metricsOverheadPct: (100 * (on.minOn - on.minOff)) / on.minOff,
    };
    rows.push(r);
    out(
      `${c.name.padEnd(14)} ${String(c.runs).padStart(5)} ${fmt(r.wallMs, 3).padStart(9)} ${String(r.ops).padStart(6)} ${fmt(r.opsPerSec).padStart(13)} ${String(r.events).padStart(9)} ${fmt(r.eventsPerSec).padStart(10)} ${fmt(r.runsPerSec, 1).padStart(10)}  ${r.metricsOverheadPct >= 0 ? '+' : ''}${fmt(r.metricsOverheadPct, 1)}%`,
    );
  }
  return rows;
}

function scaling(out: (s: string) => void): Record<string, unknown>[] {
  const cases = [
    { label: 'timer-ticks 1000 -> 10000 ticks', scenario: 'timer-ticks', small: ['ticks=1000'], big: ['ticks=10000'], maxCycles: 120e9 },
    { label: 'two-threads 120 -> 1200 lines', scenario: 'two-threads', small: ['lines=120'], big: ['lines=1200'], maxCycles: 20e9 },
  ];
  const rows: Record<string, unknown>[] = [];
  out('== perf: simulating 10x the cycles (median of 7 runs each, after warm-up; each run also boots, ~0.4 ms) ==');
  out('workload                          cycles ratio   wall ms small -> big   wall ratio');
  for (const c of cases) {
    const sc = resolveScenario(c.scenario);
    for (let i = 0; i < 3; i++) runScenario(sc, { seed: 600 + i, extraOptions: c.big, maxCycles: c.maxCycles });
    const measure = (extra: string[]): { wall: number; cycles: number; ok: boolean } => {
      const wall: number[] = [];
      let cycles = 0;
      let ok = true;
      for (let i = 0; i < 7; i++) {
        const r = runScenario(sc, { seed: 1 + i, extraOptions: extra, maxCycles: c.maxCycles });
        wall.push(r.wallMs);
        cycles = r.cycles;
        ok &&= r.verdict === 'pass';
      }
      return { wall: median(wall), cycles, ok };
    };
    const s = measure(c.small);
    const b = measure(c.big);
    const row = { workload: c.label, smallCycles: s.cycles, bigCycles: b.cycles, cyclesRatio: b.cycles / s.cycles, smallWallMs: s.wall, bigWallMs: b.wall, wallRatio: b.wall / s.wall, verdictsOk: s.ok && b.ok };
    rows.push(row);
    out(`${c.label.padEnd(32)} ${fmt(row.cyclesRatio, 2).padStart(12)}   ${fmt(s.wall, 2).padStart(8)} -> ${fmt(b.wall, 2).padEnd(8)} ${fmt(row.wallRatio, 2).padStart(10)}${row.verdictsOk ? '' : '  [a run did not pass]'}`);
  }
  return rows;
}

function acceptanceSet(out: (s: string) => void): Record<string, unknown> {
  const scs = allScenarios();
  let runs = 0;
  let pass = 0;
  const failed: string[] = [];
  const t0 = performance.now();
  for (const sc of scs) {
    for (const cpus of sc.cpuCounts ?? [sc.machine.cpus]) {
      const r = runScenario(sc, { seed: 1, cpus });
      runs++;
      if (r.verdict === 'pass') pass++;
      else failed.push(`${sc.name}/${cpus}`);
    }
  }
  const wallMs = performance.now() - t0;
  const o = ORIGINAL_RUGO;
  out('== perf: the whole acceptance scenario set (every bundled scenario on each of its CPU counts, seed 1, in this process: cold when the section runs alone) ==');
  out(`${scs.length} scenarios, ${runs} runs, ${pass} pass${failed.length > 0 ? ` (not passing: ${failed.join(', ')})` : ''}: ${fmt(wallMs / 1000, 2)} s wall`);
  out(`  original Rugo under QEMU: ${o.legacyLaneSec} s (legacy lane, ${o.legacyLaneTests} tests), ${o.rustLaneSec} s (Rust lane, ${o.rustLaneTests} tests) -> ${fmt(o.rustLaneSec / (wallMs / 1000), 1)}x faster than the Rust lane`);
  return { scenarios: scs.length, runs, pass, failed, wallMs, original: o, speedupVsRustLane: o.rustLaneSec / (wallMs / 1000), speedupVsLegacyLane: o.legacyLaneSec / (wallMs / 1000) };
}

export function perfSection(out: (s: string) => void, figures: Record<string, unknown>): void {
  // The acceptance set first, while the process is cold (as a CI run would be).
  const acceptance = acceptanceSet(out);
  const rows = rates(out);
  const resumes = generatorResumeRate();
  const allocs = heapAllocRate();
  out('== perf: host baselines (same process) ==');
  out(`host generator resumes/s: ${fmt(resumes)}; host allocations/s: ${fmt(allocs)}`);
  for (const r of rows) out(`  ${r.scenario.padEnd(12)} sim ops/s = ${fmt((100 * r.opsPerSec) / resumes, 2)}% of raw generator resumes, ${fmt((100 * r.opsPerSec) / allocs, 2)}% of raw allocations`);
  const scale = scaling(out);
  const rssMiB = process.resourceUsage().maxRSS / 1024;
  out(`peak RSS: ${fmt(rssMiB, 1)} MiB`);
  figures.perf = {
    rates: rows.map((r) => ({ ...r, simOpsToHostResumes: r.opsPerSec / resumes, simOpsToHostAllocs: r.opsPerSec / allocs })),
    hostGeneratorResumesPerSec: resumes,
    hostAllocsPerSec: allocs,
    tenTimesCycles: scale,
    acceptanceSet: acceptance,
    peakRssMiB: rssMiB,
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const json = process.argv.includes('--json');
  const figures: Record<string, unknown> = {};
  perfSection((s) => {
    if (!json) process.stdout.write(s + '\n');
  }, figures);
  if (json) process.stdout.write(JSON.stringify(figures) + '\n');
}

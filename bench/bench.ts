// `npm run bench`: performance figures, printed (never asserted). Each
// section prints a table; `--json` prints nothing else and ends with one
// JSON object of all figures, keyed by section. Sections, in order:
// foundation (the five M0/M1 scenarios, host baselines); sched (fuzz runs/s
// on the M2 scenarios, wall time to simulate 400 timer ticks); user (IPC
// round trip, syscall latency, ping-pong fuzz rate; bench_user.ts); blk
// (virtio-blk IOPS and latency at queue depth 1/8/32; bench_blk.ts, when
// present); perf (simulated ops/s, events/s and runs/s, host baselines and
// ratios, 10x cycles, the whole acceptance set against the original Rugo,
// peak RSS; bench_perf.ts). `npm run bench -- sched perf` runs some. Each
// section runs in a fresh process (`--one-process` runs them all in this one).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolveScenario } from '../scenarios/scenario.ts';
import { runScenario } from '../scenarios/runner.ts';
import { fuzz } from '../scenarios/fuzz.ts';
import { generatorResumeRate, heapAllocRate, median, fmt } from './host.ts';
import { userSection } from './bench_user.ts';
import { perfSection } from './bench_perf.ts';

const args = new Set(process.argv.slice(2));
const json = args.has('--json');
const figures: Record<string, unknown> = {};
const out = (s: string): void => {
  if (!json) process.stdout.write(s + '\n');
};

function foundation(): void {
  const names = ['boot', 'panic', 'paging', 'page-fault', 'idt'];
  const scs = names.map(resolveScenario);
  for (let i = 0; i < 20; i++) for (const sc of scs) runScenario(sc, { seed: i + 1 }); // warm-up (JIT)
  const iters = 30;
  const setWall: number[] = [];
  const per: Record<string, { wall: number[]; ops: number; events: number; cycles: number }> = {};
  for (const n of names) per[n] = { wall: [], ops: 0, events: 0, cycles: 0 };
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    for (const sc of scs) {
      const r = runScenario(sc, { seed: 1000 + i });
      const p = per[sc.name];
      p.wall.push(r.wallMs);
      p.ops = r.run.ops;
      p.events = r.run.events + r.run.hashedEvents;
      p.cycles = r.cycles;
    }
    setWall.push(performance.now() - t0);
  }
  const resumes = generatorResumeRate();
  const allocs = heapAllocRate();
  out('== foundation: M0/M1 scenarios (median of ' + iters + ' runs each, after warm-up) ==');
  out('scenario      wall ms   ops    sim ops/s      events  sim cycles');
  const rows: Record<string, unknown>[] = [];
  for (const n of names) {
    const p = per[n];
    const w = median(p.wall);
    const opsPerSec = p.ops / (w / 1000);
    rows.push({ scenario: n, wallMs: w, ops: p.ops, opsPerSec, events: p.events, cycles: p.cycles, eventsPerSec: p.events / (w / 1000) });
    out(`${n.padEnd(12)} ${fmt(w, 3).padStart(8)} ${String(p.ops).padStart(5)} ${fmt(opsPerSec).padStart(12)} ${String(p.events).padStart(10)} ${String(p.cycles).padStart(10)}`);
  }
  const meanOpsPerSec = rows.reduce((s, r) => s + (r.opsPerSec as number), 0) / rows.length;
  const setMs = median(setWall);
  out(`host generator resumes/s:  ${fmt(resumes)}`);
  out(`host allocations/s:        ${fmt(allocs)}`);
  out(`sim ops/s / host resumes/s: ${fmt(meanOpsPerSec / resumes, 3)}`);
  out(`five scenarios together:   ${fmt(setMs, 2)} ms (target < 100 ms; original Rugo: 0.4-0.8 s per QEMU boot)`);
  figures.foundation = { scenarios: rows, hostGeneratorResumesPerSec: resumes, hostAllocsPerSec: allocs, simOpsToHostResumeRatio: meanOpsPerSec / resumes, fiveScenariosWallMs: setMs };
}

/**
 * The original (legacy C) Rugo kernel under QEMU: every boot runs to tick 400
 * at 100 Hz, 16 tests in 74.95 s, about 4.7 s each (shared/reference/rugo-facts.md).
 */
const LEGACY_400_TICKS_MS = 74_950 / 16;

function sched(): void {
  // Fuzz throughput: the fuzz engine exactly as `rugo fuzz` runs it (random strategy, run i = seed + i).
  const cases: { label: string; scenario: string; cpus: number; runs: number }[] = [
    { label: 'two-threads, 1 CPU', scenario: 'two-threads', cpus: 1, runs: 300 },
    { label: 'lock-stress, 1 CPU', scenario: 'lock-stress', cpus: 1, runs: 100 },
    { label: 'lock-stress, 4 CPUs', scenario: 'lock-stress', cpus: 4, runs: 40 },
  ];
  const fuzzRows: Record<string, unknown>[] = [];
  out('== sched: fuzz throughput (random strategy, seeds 1..runs, after a warm-up of as many runs) ==');
  out('workload               runs   failures    wall ms     runs/s   ms/run');
  for (const c of cases) {
    const sc = resolveScenario(c.scenario);
    fuzz(sc, { runs: c.runs, strategy: 'random', depth: 2, seed: 900_000, cpus: c.cpus }); // warm-up (JIT): as many runs again, other seeds
    const s = fuzz(sc, { runs: c.runs, strategy: 'random', depth: 2, seed: 1, cpus: c.cpus });
    fuzzRows.push({ workload: c.label, scenario: c.scenario, cpus: c.cpus, runs: s.runs, failures: s.failures, wallMs: s.wallMs, runsPerSec: s.runsPerSec });
    out(`${c.label.padEnd(21)} ${String(s.runs).padStart(5)} ${String(s.failures).padStart(10)} ${fmt(s.wallMs, 1).padStart(10)} ${fmt(s.runsPerSec, 1).padStart(10)} ${fmt(s.wallMs / s.runs, 2).padStart(8)}`);
  }
  const twoThreadsRate = fuzzRows[0].runsPerSec as number;
  out(`two-threads fuzz rate:     ${fmt(twoThreadsRate)} runs/s (target >= 1,000 runs/s)`);

  // 400 timer ticks: timer-ticks with ticks=400 (100 Hz, so 4 s of simulated time), median after warm-up.
  const ticks = resolveScenario('timer-ticks');
  const tickOpts = { extraOptions: ['ticks=400'], maxCycles: 6e9 };
  for (let i = 0; i < 5; i++) runScenario(ticks, { ...tickOpts, seed: 500 + i }); // warm-up (JIT)
  const wall: number[] = [];
  let last = runScenario(ticks, { ...tickOpts, seed: 1 });
  for (let i = 0; i < 15; i++) {
    last = runScenario(ticks, { ...tickOpts, seed: 1 + i });
    wall.push(last.wallMs);
  }
  const ticksMs = median(wall);
  const ok = last.verdict === 'pass' && last.run.serial.includes('TICK: 400');
  out('== sched: wall time to simulate 400 timer ticks (timer-ticks, ticks=400, median of 15 runs after warm-up) ==');
  out(`400 ticks:                 ${fmt(ticksMs, 2)} ms wall for ${fmt(last.simulatedNs / 1e9, 3)} s simulated (${fmt(last.cycles)} cycles, ${last.run.ops} ops)${ok ? '' : ` [verdict ${last.verdict}: ${last.reasons.join('; ')}]`}`);
  out(`  target < 20 ms; the original Rugo kernel under QEMU: ~${fmt(LEGACY_400_TICKS_MS / 1000, 1)} s (${fmt(LEGACY_400_TICKS_MS / ticksMs)}x faster here)`);
  figures.sched = {
    fuzz: fuzzRows,
    twoThreadsFuzzRunsPerSec: twoThreadsRate,
    ticks400: { wallMs: ticksMs, simulatedNs: last.simulatedNs, cycles: last.cycles, ops: last.run.ops, verdict: last.verdict, legacyQemuMs: LEGACY_400_TICKS_MS, speedup: LEGACY_400_TICKS_MS / ticksMs },
    targets: { ticks400WallMs: 20, twoThreadsFuzzRunsPerSec: 1000 },
  };
}

type Section = (out: (s: string) => void, figures: Record<string, unknown>) => void;

/** The blk section when bench_blk.ts is there (it comes with the virtio-blk device). */
async function blkSection(): Promise<Section | null> {
  const file = new URL('./bench_blk.ts', import.meta.url);
  if (!existsSync(fileURLToPath(file))) return null;
  const mod = (await import(file.href)) as { blkSection?: Section };
  return mod.blkSection ?? null;
}

const sections: [string, Section][] = [
  ['foundation', () => foundation()],
  ['sched', () => sched()],
  ['user', userSection],
];
const blk = await blkSection();
if (blk !== null) sections.push(['blk', blk]);
sections.push(['perf', perfSection]);

const only = [...args].filter((a) => !a.startsWith('--'));
const unknown = only.filter((n) => !sections.some(([name]) => name === n));
if (unknown.length > 0) {
  process.stderr.write(`bench: unknown section ${unknown.join(', ')} (sections: ${sections.map(([n]) => n).join(', ')})\n`);
  process.exit(2);
}
const chosen = sections.filter(([name]) => only.length === 0 || only.includes(name));
if (chosen.length === 1 || args.has('--one-process')) {
  for (const [, fn] of chosen) fn(out, figures);
  if (json) process.stdout.write(JSON.stringify(figures) + '\n');
} else {
  // Each section in a process of its own: the JIT then holds one kind of workload, as in a `rugo fuzz`
  // campaign (running every section in one process made the later ones up to 1.8x slower).
  for (const [name] of chosen) {
    const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), name, ...(json ? ['--json'] : [])], {
      stdio: ['ignore', json ? 'pipe' : 'inherit', 'inherit'],
      encoding: 'utf8',
    });
    if (r.status !== 0) {
      process.stderr.write(`bench: section ${name} failed (exit ${r.status ?? r.signal})\n`);
      process.exit(1);
    }
    if (json) Object.assign(figures, JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>);
  }
  if (json) process.stdout.write(JSON.stringify(figures) + '\n');
}

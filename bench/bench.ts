// `npm run bench`: performance figures, printed (never asserted). Each
// section prints a table; `--json` ends with one JSON object of all figures.
// Sections: foundation (the five M0/M1 scenarios, host baselines).
import { resolveScenario } from '../scenarios/scenario.ts';
import { runScenario } from '../scenarios/runner.ts';
import { generatorResumeRate, heapAllocRate, median, fmt } from './host.ts';

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

const sections: Record<string, () => void> = { foundation };
const only = [...args].filter((a) => !a.startsWith('--'));
for (const [name, fn] of Object.entries(sections)) if (only.length === 0 || only.includes(name)) fn();
if (json) process.stdout.write(JSON.stringify(figures) + '\n');

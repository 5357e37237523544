// `npm run fuzz`: the long fuzzing campaign. Every schedule-sensitive
// scenario on several CPU counts, under random and PCT schedules, with a
// progress bar; the replay token of every failure is written to a folder
// (default .rugo/failures/). The correct kernel should produce none.
//   npm run fuzz -- [--runs N] [--seed S] [--out DIR] [--bug NAME] [--scenario NAME]...
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { resolveScenario } from '../scenarios/scenario.ts';
import { fuzz, type FuzzStrategy } from '../scenarios/fuzz.ts';
import { bugOptions } from '../scenarios/bugs.ts';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
};
const runs = Number(opt('--runs', process.env.RUGO_FUZZ_RUNS ?? '2000'));
const seed = Number(opt('--seed', '1'));
const out = opt('--out', '.rugo/failures');
const bug = argv.includes('--bug') ? opt('--bug', '') : undefined;
const only = argv.flatMap((a, i) => (a === '--scenario' ? [argv[i + 1]] : []));
if (!Number.isSafeInteger(runs) || runs < 1) {
  process.stderr.write(`fuzz: --runs must be a positive integer, got ${opt('--runs', '')}\n`);
  process.exit(2);
}

const MATRIX: [string, number[]][] = [
  ['two-threads', [1, 2]],
  ['lock-stress', [1, 2, 4, 8]],
  ['mutex-handoff', [1, 2, 4]],
  ['transfer', [1, 2, 4]],
  ['ping-pong', [1, 2, 4]],
  ['stress-ipc', [1, 2, 4]],
  ['ipc-owner-death', [1, 2]],
  ['tlb-race', [2, 4]],
  ['shm-share', [1, 2, 4]],
];
const strategies: [FuzzStrategy, number][] = [
  ['random', 0],
  ['pct', 2],
  ['pct', 3],
];
mkdirSync(out, { recursive: true });
const jobs = MATRIX.filter(([n]) => only.length === 0 || only.includes(n)).flatMap(([n, cs]) => cs.flatMap((c) => strategies.map(([s, d]) => ({ n, c, s, d }))));
const bar = new cliProgress.SingleBar({ format: 'fuzz [{bar}] {value}/{total} runs | {job} | {failures} failures', stream: process.stderr }, cliProgress.Presets.shades_classic);
bar.start(jobs.length * runs, 0, { job: '', failures: 0 });
let done = 0;
let failures = 0;
const extra = bugOptions(bug);
for (const j of jobs) {
  const label = `${j.n} cpus=${j.c} ${j.s}${j.d ? ` d=${j.d}` : ''}`;
  const s = fuzz(resolveScenario(j.n), {
    runs,
    strategy: j.s,
    depth: j.d || 2,
    seed,
    cpus: j.c,
    extraOptions: extra,
    onRun: (_i, _r, f) => {
      done++;
      if (f !== null) {
        failures++;
        writeFileSync(join(out, `${j.n}-c${j.c}-${j.s}${j.d || ''}-${f.kind}-seed${f.seed}.token`), f.token + '\n');
      }
      bar.update(done, { job: label, failures });
    },
  });
  void s;
}
bar.stop();
process.stdout.write(`${done} runs, ${failures} failures; tokens in ${out}/\n`);
process.exitCode = failures > 0 ? 1 : 0;

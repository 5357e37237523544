// `rugo fuzz <scenario>`: many seeded runs under random or PCT schedules,
// with a progress bar, failures by kind, runs/s, and a replay token for the
// first failure (or every failure with --each), also written to a file.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { resolveScenario } from '../../scenarios/scenario.ts';
import { fuzz, type FuzzStrategy, type FuzzFailure } from '../../scenarios/fuzz.ts';
import { seedArg, intArg, choiceArg, kernelOptionArg } from '../args.ts';
import { bugNames } from '../../os/bugs.ts';
import { bugOptions } from '../../scenarios/bugs.ts';
import { UsageError } from '../errors.ts';
import { prepareDisk, type DiskFlags } from '../disk.ts';
import { withInitialDisk } from '../../scenarios/disk.ts';

export function registerFuzz(program: Command): void {
  program
    .command('fuzz')
    .description('explore schedules of a scenario: many seeded runs, failures by kind, and a replay token for the first failure')
    .argument('<scenario>', 'a bundled scenario name (see `rugo list`) or a scenario .json file')
    .option('--runs <n>', 'number of runs', intArg(1, 100_000_000), 1000)
    .option('--strategy <s>', 'random | pct', choiceArg<FuzzStrategy>(['random', 'pct']), 'random')
    .option('--depth <d>', 'PCT bug depth d (d-1 priority change points)', intArg(1, 16), 2)
    .option('--seed <n>', 'master seed: run i uses seed+i', seedArg, 1)
    .option('--cpus <n>', 'number of CPUs (1-8; default: the scenario\'s)', intArg(1, 8))
    .option('--bug <name>', `plant a bug: ${bugNames().join(', ')}`, choiceArg(bugNames()))
    .option('--option <key=value>', 'add a kernel option to the scenario\'s (repeatable), e.g. --option arg=50 for a 100-message ping-pong; replay tokens carry it', kernelOptionArg)
    .option('--max-cycles <n>', 'cycle limit per run', intArg(1, Number.MAX_SAFE_INTEGER))
    .option('--check-determinism', 'run every seed twice and compare trace hashes')
    .option('--each', 'print a replay token for every failure, not just the first')
    .option('--stop', 'stop at the first failure')
    .option('--shrink', 'shrink the first failure to a minimal schedule (fewest non-zero decisions) and print its token too')
    .option('--token-file <file>', 'where to write the first failure\'s token', '.rugo/last-failure.token')
    .option('--json', 'end with one JSON summary line')
    .option('--no-progress', 'no progress bar')
    .option('--disk <file>', 'start every run from this raw disk image (512-byte sectors); tokens do not carry it: replay with the same --disk')
    .action(
      (
        name: string,
        o: { runs: number; strategy: FuzzStrategy; depth: number; seed: number; cpus?: number; bug?: string; option?: string[]; maxCycles?: number; checkDeterminism?: boolean; each?: boolean; stop?: boolean; shrink?: boolean; tokenFile: string; json?: boolean; progress: boolean } & Pick<DiskFlags, 'disk'>,
      ) => {
        const named = resolveScenario(name);
        const image = prepareDisk(named, { disk: o.disk });
        const sc = image === undefined ? named : withInitialDisk(named, image);
        const extra = [...bugOptions(o.bug), ...(o.option ?? [])];
        // Check the token file's folder before fuzzing, so a bad path costs nothing.
        try {
          mkdirSync(dirname(o.tokenFile), { recursive: true });
        } catch (e) {
          throw new UsageError(`cannot use --token-file ${o.tokenFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
        const cpus = o.cpus ?? sc.machine.cpus;
        process.stdout.write(`rugo fuzz ${sc.name} seed=${o.seed} cpus=${cpus} options=[${[...sc.kernel.options, ...extra].join(' ')}] runs=${o.runs} strategy=${o.strategy}${o.strategy === 'pct' ? ` depth=${o.depth}` : ''}\n`);
        const bar = o.progress && process.stderr.isTTY ? new cliProgress.SingleBar({ format: 'fuzz [{bar}] {value}/{total} runs | {failures} failures | {rate} runs/s', stream: process.stderr }, cliProgress.Presets.shades_classic) : null;
        bar?.start(o.runs, 0, { failures: 0, rate: '0' });
        let failures = 0;
        const t0 = performance.now();
        const printed: FuzzFailure[] = [];
        const s = fuzz(sc, {
          runs: o.runs,
          strategy: o.strategy,
          depth: o.depth,
          seed: o.seed,
          cpus,
          extraOptions: extra,
          maxCycles: o.maxCycles,
          checkDeterminism: o.checkDeterminism,
          stopOnFailure: o.stop,
          shrink: o.shrink,
          onRun: (i, _r, f) => {
            if (f !== null) {
              failures++;
              if (printed.length === 0 || o.each) {
                printed.push(f);
                bar?.stop();
                process.stdout.write(`FAILURE run ${f.run} seed ${f.seed}: ${f.kind} (${f.reasons[0] ?? ''}); ${f.nonZeroDecisions} non-zero decisions\n  replay: npx rugo replay ${f.token}\n`);
                if (f.shrunk) process.stdout.write(`  shrunk to ${f.shrunk.nonZeroDecisions} non-zero decisions in ${f.shrunk.runs} runs\n  minimal: npx rugo replay ${f.shrunk.token}\n`);
                if (bar) bar.start(o.runs, i + 1, { failures, rate: '...' });
              }
            }
            bar?.update(i + 1, { failures, rate: ((i + 1) / ((performance.now() - t0) / 1000)).toFixed(0) });
          },
        });
        bar?.stop();
        if (s.firstFailure) {
          writeFileSync(o.tokenFile, (s.firstFailure.shrunk?.token ?? s.firstFailure.token) + '\n');
        }
        const kinds = Object.entries(s.byKind)
          .map(([k, n]) => `${k}=${n}`)
          .join(' ');
        if (!o.json) {
          process.stdout.write(
            [
              '--- fuzz summary ---',
              `runs:        ${s.runs}`,
              `failures:    ${s.failures}${kinds ? ` (${kinds})` : ''}`,
              `runs/s:      ${s.runsPerSec.toFixed(1)}`,
              `wall time:   ${(s.wallMs / 1000).toFixed(2)} s`,
              s.strategy === 'pct' ? `pct steps k: ${s.pctSteps}` : '',
              s.firstFailure ? `first failure: run ${s.firstFailure.run} (${s.firstFailure.kind}); token written to ${o.tokenFile}` : 'no failure found',
            ]
              .filter((l) => l !== '')
              .join('\n') + '\n',
          );
        } else {
          process.stdout.write(
            JSON.stringify({
              scenario: s.scenario,
              strategy: s.strategy,
              depth: s.depth,
              seed: s.seed,
              cpus: s.cpus,
              options: s.options,
              runs: s.runs,
              failures: s.failures,
              byKind: s.byKind,
              runsPerSec: s.runsPerSec,
              wallMs: s.wallMs,
              firstFailure: s.firstFailure
                ? { run: s.firstFailure.run, seed: s.firstFailure.seed, token: s.firstFailure.token, verdict: s.firstFailure.verdict, kind: s.firstFailure.kind, reasons: s.firstFailure.reasons, nonZeroDecisions: s.firstFailure.nonZeroDecisions, shrunk: s.firstFailure.shrunk ?? null }
                : null,
            }) + '\n',
          );
        }
        process.exitCode = s.failures > 0 ? 1 : 0;
      },
    );
}

// `rugo run <scenario>`: one run, serial console streamed to stdout, then a
// summary (or one JSON object as the last stdout line with --json).
import { openSync, writeSync, closeSync } from 'node:fs';
import type { Command } from 'commander';
import { resolveScenario } from '../../scenarios/scenario.ts';
import { runScenario, type ScenarioResult, type RunOptions } from '../../scenarios/runner.ts';
import { seedArg, intArg, choiceArg, kernelOptionArg } from '../args.ts';
import { bugNames } from '../../os/bugs.ts';
import { UsageError } from '../errors.ts';
import { bugOptions } from '../../scenarios/bugs.ts';
import type { Decision } from '../../sim/decisions.ts';
import { metricsJson, metricsLines } from '../metrics-summary.ts';
import { DISK_HELP, prepareDisk, saveDiskFile, type DiskFlags } from '../disk.ts';

export interface CommonRunFlags {
  seed?: number;
  maxCycles?: number;
  cpus?: number;
  trace?: string;
  json?: boolean;
  quiet?: boolean;
}

/** Opens a trace file sink; returns it and a closer. */
export function traceFile(path: string): { sink: (chunk: string) => void; close: () => void } {
  let fd: number;
  try {
    fd = openSync(path, 'w');
  } catch (e) {
    throw new UsageError(`cannot write trace file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return { sink: (chunk) => writeSync(fd, chunk), close: () => closeSync(fd) };
}

/** The one-line header every run prints first: seed and options. */
export function header(cmd: string, r: { scenario: string; seed: number; cpus: number; options: readonly string[] }, extra = ''): string {
  return `rugo ${cmd} ${r.scenario} seed=${r.seed} cpus=${r.cpus} options=[${r.options.join(' ')}]${extra}\n`;
}

export function jsonSummary(r: ScenarioResult, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    scenario: r.scenario,
    seed: r.seed,
    cpus: r.cpus,
    options: r.options,
    verdict: r.verdict,
    reasons: r.reasons,
    stopReason: r.stopReason,
    message: r.message,
    cycles: r.cycles,
    simulatedNs: r.simulatedNs,
    traceHash: r.traceHash,
    wallMs: Math.round(r.wallMs * 1000) / 1000,
    decisions: r.run.decisionCount,
    nonZeroDecisions: r.run.decisions.length,
    ops: r.run.ops,
    events: r.run.events,
    markersSeen: r.markers.seen,
    missingMarkers: r.markers.missing,
    metrics: metricsJson(r),
    ...extra,
  });
}

export function humanSummary(r: ScenarioResult): string {
  const lines = [
    '--- summary ---',
    `scenario:    ${r.scenario}`,
    `seed:        ${r.seed}`,
    `cpus:        ${r.cpus}`,
    `verdict:     ${r.verdict.toUpperCase()}`,
    `stop:        ${r.stopReason} (${r.message})`,
    `cycles:      ${r.cycles} (${(r.simulatedNs / 1000).toFixed(3)} us simulated)`,
    `wall time:   ${r.wallMs.toFixed(2)} ms`,
    `trace hash:  ${r.traceHash}`,
    `decisions:   ${r.run.decisionCount} asked, ${r.run.decisions.length} non-zero`,
    ...metricsLines(r),
  ];
  for (const why of r.reasons) lines.push(`  - ${why}`);
  return lines.join('\n') + '\n';
}

/** Runs one scenario with the CLI's streaming and trace handling; returns the result. */
export function runWithOutput(name: string, opts: RunOptions & { trace?: string; quiet?: boolean; json?: boolean }, cmd: string, decisions?: readonly Decision[]): ScenarioResult {
  const sc = resolveScenario(name);
  const tf = opts.trace ? traceFile(opts.trace) : null;
  const options = [...sc.kernel.options, ...(opts.extraOptions ?? [])];
  process.stdout.write(header(cmd, { scenario: sc.name, seed: opts.seed ?? 1, cpus: opts.cpus ?? sc.machine.cpus, options }, opts.strategy === 'replay' ? ` replay-decisions=${decisions?.length ?? 0}` : ''));
  const chunks: number[] = [];
  const r = runScenario(sc, {
    ...opts,
    decisions,
    traceSink: tf?.sink,
    onSerialByte: opts.quiet
      ? undefined
      : (b) => {
          chunks.push(b);
          if (b === 10 || chunks.length >= 256) {
            process.stdout.write(Buffer.from(chunks));
            chunks.length = 0;
          }
        },
  });
  if (chunks.length > 0) process.stdout.write(Buffer.from(chunks) + '\n');
  tf?.close();
  return r;
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run one scenario: stream its serial console, then print a summary; exit 0 iff the verdict is pass')
    .argument('<scenario>', 'a bundled scenario name (see `rugo list`) or a path to a scenario .json file')
    .option('--seed <n>', 'run seed for the random decision streams', seedArg, 1)
    .option('--max-cycles <n>', 'stop after this many simulated cycles (default: the scenario\'s limit)', intArg(1, Number.MAX_SAFE_INTEGER))
    .option('--cpus <n>', 'number of CPUs (1-8; default: the scenario\'s)', intArg(1, 8))
    .option('--nominal', 'take every decision as nominal (0): the undisturbed run')
    .option('--bug <name>', `plant a bug: ${bugNames().join(', ')}`, choiceArg(bugNames()))
    .option('--option <key=value>', 'add a kernel option to the scenario\'s (repeatable), e.g. --option arg=50', kernelOptionArg)
    .option('--trace <file>', 'write a Chrome Trace Event file (open it in Perfetto)')
    .option('--json', 'end with one JSON summary line instead of the human summary')
    .option('--quiet', 'do not stream the serial console')
    .option('--disk <file>', DISK_HELP.disk)
    .option('--save-disk <file>', DISK_HELP.saveDisk)
    .action((name: string, o: CommonRunFlags & DiskFlags & { nominal?: boolean; bug?: string; option?: string[] }) => {
      const disk = prepareDisk(resolveScenario(name), o);
      const r = runWithOutput(name, { seed: o.seed, maxCycles: o.maxCycles, cpus: o.cpus, trace: o.trace, quiet: o.quiet, strategy: o.nominal ? 'nominal' : 'random', extraOptions: [...bugOptions(o.bug), ...(o.option ?? [])], disk }, 'run');
      if (o.saveDisk !== undefined && r.blk !== null) saveDiskFile(o.saveDisk, r.blk.image);
      process.stdout.write(o.json ? jsonSummary(r) + '\n' : humanSummary(r));
      process.exitCode = r.verdict === 'pass' ? 0 : 1;
    });
}

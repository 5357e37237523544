// `rugo replay <token|file>`: reruns a recorded schedule bit for bit (same
// trace hash, same serial output) and judges it like `rugo run`.
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { decodeToken, TokenError, TOKEN_PREFIX } from '../../scenarios/token.ts';
import { resolveScenario, ScenarioError } from '../../scenarios/scenario.ts';
import { runWithOutput, jsonSummary, humanSummary } from './run.ts';
import { UsageError } from '../errors.ts';
import { DISK_HELP, prepareDisk, saveDiskFile, type DiskFlags } from '../disk.ts';

/** Reads a token from the argument: the token itself, or a file holding it. */
export function readTokenArg(arg: string): string {
  if (arg.trim().startsWith(TOKEN_PREFIX)) return arg.trim();
  if (!existsSync(arg)) throw new UsageError(`'${arg.slice(0, 40)}' is neither a replay token (starting with ${TOKEN_PREFIX}) nor a file`);
  if (!statSync(arg).isFile()) throw new UsageError(`cannot read token file ${arg}: it is not a regular file`);
  try {
    return readFileSync(arg, 'utf8').trim();
  } catch (e) {
    throw new UsageError(`cannot read token file ${arg}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description('replay a recorded run from its token (or a file holding it): same trace hash, same serial output')
    .argument('<token>', 'a replay token printed by `rugo fuzz`, or a file containing one')
    .option('--trace <file>', 'write a Chrome Trace Event file (open it in Perfetto)')
    .option('--json', 'end with one JSON summary line instead of the human summary')
    .option('--quiet', 'do not stream the serial console')
    .option('--disk <file>', `${DISK_HELP.disk} (tokens do not carry images: give the one the fuzz run used)`)
    .option('--save-disk <file>', DISK_HELP.saveDisk)
    .action((arg: string, o: DiskFlags & { trace?: string; json?: boolean; quiet?: boolean }) => {
      let spec;
      try {
        spec = decodeToken(readTokenArg(arg));
      } catch (e) {
        if (e instanceof TokenError) throw new UsageError(e.message);
        throw e;
      }
      let sc;
      try {
        sc = resolveScenario(spec.scenario);
      } catch (e) {
        if (e instanceof ScenarioError) throw new UsageError(`replay token is for scenario '${spec.scenario}', which this rugo-sim does not have (${e.message})`);
        throw e;
      }
      const r = runWithOutput(
        spec.scenario,
        { seed: spec.seed, cpus: spec.cpus, maxCycles: spec.maxCycles, extraOptions: spec.options, strategy: 'replay', trace: o.trace, quiet: o.quiet, disk: prepareDisk(sc, o) },
        'replay',
        spec.decisions,
      );
      if (o.saveDisk !== undefined && r.blk !== null) saveDiskFile(o.saveDisk, r.blk.image);
      process.stdout.write(o.json ? jsonSummary(r, { replayedDecisions: spec.decisions.length, strategy: spec.strategy }) + '\n' : humanSummary(r));
      process.exitCode = r.verdict === 'pass' ? 0 : 1;
    });
}

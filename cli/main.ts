// The `rugo` command. Subcommands live in cli/commands/; every one has
// --help, refuses bad input with a one-line message (no stack trace), and
// exits 0 only on success.
import { Command, CommanderError } from 'commander';
import { ScenarioError } from '../scenarios/scenario.ts';
import { registerList } from './commands/list.ts';
import { registerRun } from './commands/run.ts';
import { registerFuzz } from './commands/fuzz.ts';
import { registerReplay } from './commands/replay.ts';
import { registerReport } from './commands/report.ts';
import { UsageError } from './errors.ts';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('rugo')
    .description('rugo-sim: a deterministic x86-64 PC simulator running the Rugo kernel, for schedule fuzzing, exact replay and timing reports')
    // One line per usage error, with the hint on the same line.
    .configureOutput({
      outputError: (str, write) => {
        const extra = /unknown command/.test(str) ? `; commands: ${program.commands.map((c) => c.name()).join(', ')}` : '';
        write(`${str.trimEnd().replace(/\n+/g, ' ')}${extra} (add --help for usage)\n`);
      },
    })
    .exitOverride();
  registerList(program);
  registerRun(program);
  registerFuzz(program);
  registerReplay(program);
  registerReport(program);
  return program;
}

export function main(argv: string[]): number {
  const program = buildProgram();
  try {
    program.parse(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander already printed its message (one error line, plus a hint to use --help)
      return e.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof ScenarioError || e instanceof UsageError) {
      process.stderr.write(`rugo: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`rugo: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
    if (process.env.RUGO_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
    return 70;
  }
}

const isMain = process.argv[1] !== undefined && /(cli[\\/]main\.ts|rugo(\.mjs)?)$/.test(process.argv[1]);
if (isMain) process.exitCode = main(process.argv.slice(2));

// `rugo list`: the bundled scenarios, one line each.
import type { Command } from 'commander';
import { allScenarios } from '../../scenarios/scenario.ts';

export function registerList(program: Command): void {
  program
    .command('list')
    .description('list the bundled scenarios, one line each')
    .option('--json', 'print a JSON array instead')
    .action((o: { json?: boolean }) => {
      const all = allScenarios();
      if (o.json) {
        process.stdout.write(JSON.stringify(all.map((s) => ({ name: s.name, milestone: s.milestone, cpus: s.machine.cpus, description: s.description }))) + '\n');
        return;
      }
      const w = Math.max(...all.map((s) => s.name.length));
      for (const s of all) process.stdout.write(`${s.name.padEnd(w)}  ${(s.milestone || '-').padEnd(3)}  ${s.description}\n`);
    });
}

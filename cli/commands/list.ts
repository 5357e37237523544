// `rugo list`: the bundled scenarios, one line each.
import type { Command } from 'commander';
import { allScenarios } from '../../scenarios/scenario.ts';
import { BUGS } from '../../os/bugs.ts';

export function registerList(program: Command): void {
  program
    .command('list')
    .description('list the bundled scenarios, one line each')
    .option('--json', 'print a JSON array instead')
    .option('--bugs', 'list the planted bugs (--bug <name>) instead')
    .action((o: { json?: boolean; bugs?: boolean }) => {
      if (o.bugs) {
        if (o.json) process.stdout.write(JSON.stringify(BUGS) + '\n');
        else {
          const w = Math.max(...BUGS.map((b) => b.name.length));
          for (const b of BUGS) process.stdout.write(`${b.name.padEnd(w)}  ${b.scenario.padEnd(14)} ${b.description} (${b.where})\n`);
        }
        return;
      }
      const all = allScenarios();
      if (o.json) {
        process.stdout.write(JSON.stringify(all.map((s) => ({ name: s.name, milestone: s.milestone, cpus: s.machine.cpus, description: s.description }))) + '\n');
        return;
      }
      const w = Math.max(...all.map((s) => s.name.length));
      for (const s of all) process.stdout.write(`${s.name.padEnd(w)}  ${(s.milestone || '-').padEnd(3)}  ${s.description}\n`);
    });
}

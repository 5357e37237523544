// `rugo report <scenario...>`: a seed sweep turned into SVG charts (d3-node)
// and an index.html with a summary table; --compare KEY=A,B draws two (or
// more) kernel configurations side by side. Same inputs, same bytes.
import { relative, isAbsolute } from 'node:path';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { writeReport, ReportError } from '../../reports/report.ts';
import { intArg, seedArg } from '../args.ts';
import { UsageError } from '../errors.ts';

export function registerReport(program: Command): void {
  program
    .command('report')
    .description('run a seed sweep and write SVG charts (CPU timeline, latency CDFs, spread across seeds, fairness) and an index.html')
    .argument('<scenario...>', 'bundled scenario names (see `rugo list`) or scenario .json files')
    .requiredOption('--out <dir>', 'output directory (created; reports/out/ is git-ignored)')
    .option('--seeds <n>', 'seeds per scenario and configuration', intArg(1, 100_000), 20)
    .option('--seed <n>', 'first seed (seeds S..S+n-1)', seedArg, 1)
    .option('--cpus <n>', "number of CPUs for every run (1-8; default: each scenario's)", intArg(1, 8))
    .option('--compare <KEY=A,B>', 'compare configurations: cpus=1,4, or a kernel option such as sched=rr,stride or quantum=1,10')
    .option('--timeline-seed <n>', 'the seed whose CPU timeline is drawn (default: the first)', seedArg)
    .option('--no-progress', 'no progress bar')
    .action((names: string[], o: { out: string; seeds: number; seed: number; cpus?: number; compare?: string; timelineSeed?: number; progress: boolean }) => {
      const bar = o.progress && process.stderr.isTTY ? new cliProgress.SingleBar({ format: 'report [{bar}] {value}/{total} runs | {label}', stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic) : null;
      let started = false;
      try {
        const rep = writeReport(
          {
            scenarios: names,
            seeds: o.seeds,
            firstSeed: o.seed,
            cpus: o.cpus,
            compare: o.compare,
            timelineSeed: o.timelineSeed,
            onProgress: (done, total, label) => {
              if (bar === null) return;
              if (!started) {
                bar.start(total, 0, { label });
                started = true;
              }
              bar.update(done, { label });
            },
          },
          o.out,
        );
        bar?.stop();
        const shown = isAbsolute(o.out) ? o.out : relative(process.cwd(), o.out) || '.';
        const lines = [`${rep.command} --out ${shown}`];
        for (const s of rep.series) {
          const fails = Object.entries(s.failures)
            .map(([k, n]) => `${k} ${n}`)
            .join(', ');
          lines.push(`  ${s.label.padEnd(30)} ${s.pass}/${s.runs} pass${fails ? ` (${fails})` : ''}; sched p50 ${s.latency.sched.p50} / p99 ${s.latency.sched.p99} cycles${s.latency.ipcRtt.count > 0 ? `; IPC RTT p50 ${s.latency.ipcRtt.p50}` : ''}`);
        }
        lines.push(`wrote ${rep.files.size} files: ${[...rep.files.keys()].filter((f) => f.endsWith('.svg')).length} SVG charts, index.html, summary.json -> open ${shown}/index.html`);
        process.stdout.write(lines.join('\n') + '\n');
      } catch (e) {
        bar?.stop();
        if (e instanceof ReportError) throw new UsageError(e.message);
        throw e;
      }
    });
}

// index.html of a report: the command that made it, a summary table (and,
// with --compare, the change from the first configuration), and every chart
// with a line on what it measures. Static, self-contained, deterministic.
import type { SeriesSummary } from './report.ts';
import type { HistogramSummary } from '../sim/histogram.ts';
import { fmtHz } from './svg.ts';

export interface IndexInput {
  command: string;
  cpuHz: number;
  sweep: string;
  compare: boolean;
  configs: readonly string[];
  series: readonly SeriesSummary[];
  charts: readonly { file: string; title: string; note: string; group: string }[];
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function int(v: number): string {
  if (!Number.isFinite(v)) return '–';
  return Math.round(v).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function us(cycles: number, hz: number): string {
  if (!Number.isFinite(cycles)) return '–';
  const v = (cycles * 1e6) / hz;
  return v >= 100 ? int(v) : v.toFixed(v >= 10 ? 1 : 3);
}

function lat(h: HistogramSummary): string {
  return h.count === 0 ? '–' : `${int(h.p50)} / ${int(h.p99)}`;
}

function pct(a: number, b: number): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || a === 0) return '–';
  const d = ((b - a) / a) * 100;
  return `${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(1)}%`;
}

const CSS = `body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1400px;color:#222;padding:0 16px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f2f2f2}td.l,th.l{text-align:left}code{background:#f4f4f4;padding:1px 4px}
.grid{display:flex;flex-wrap:wrap;gap:16px}.grid figure{margin:0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:13px;color:#444;max-width:820px}.note{color:#555;font-size:13px}
.side figure{flex:1 1 0;min-width:0}`;

export function indexHtml(d: IndexInput): string {
  const hz = d.cpuHz;
  const rows = d.series
    .map((s) => {
      const fails = Object.entries(s.failures)
        .map(([k, n]) => `${esc(k)} ${n}`)
        .join(', ');
      return `<tr><td class="l">${esc(s.scenario)}</td>${d.compare ? `<td class="l">${esc(s.config)}</td>` : ''}<td>${s.cpus}</td><td>${s.runs}</td><td>${s.pass}${fails ? ` <span class="note">(fail: ${fails})</span>` : ''}</td><td>${int(s.medianWorkloadCycles)}</td><td>${us(s.medianWorkloadCycles, hz)}</td><td>${lat(s.latency.sched)}</td><td>${lat(s.latency.ipcRtt)}</td><td>${lat(s.latency.irq)}</td><td>${lat(s.latency.syscall)}</td><td>${lat(s.latency.switch)}</td><td>${int(s.medianSwitches)}</td><td>${int(s.medianSyscalls)}</td><td>${s.jainMean === null ? '–' : s.jainMean.toFixed(3)}</td></tr>`;
    })
    .join('\n');
  let compareTable = '';
  if (d.compare) {
    const base = d.configs[0];
    const byScenario = new Map<string, SeriesSummary[]>();
    for (const s of d.series) {
      const l = byScenario.get(s.scenario) ?? [];
      l.push(s);
      byScenario.set(s.scenario, l);
    }
    const crow: string[] = [];
    for (const [sc, list] of byScenario) {
      const a = list.find((s) => s.config === base)!;
      for (const b of list) {
        if (b === a) continue;
        crow.push(
          `<tr><td class="l">${esc(sc)}</td><td class="l">${esc(b.config)} vs ${esc(base)}</td><td>${pct(a.medianWorkloadCycles, b.medianWorkloadCycles)}</td><td>${pct(a.latency.sched.p50, b.latency.sched.p50)}</td><td>${pct(a.latency.sched.p99, b.latency.sched.p99)}</td><td>${pct(a.latency.ipcRtt.p50, b.latency.ipcRtt.p50)}</td><td>${pct(a.latency.irq.p50, b.latency.irq.p50)}</td><td>${pct(a.latency.syscall.p50, b.latency.syscall.p50)}</td><td>${pct(a.medianSwitches, b.medianSwitches)}</td><td>${a.jainMean === null || b.jainMean === null ? '–' : (b.jainMean - a.jainMean).toFixed(3)}</td></tr>`,
        );
      }
    }
    compareTable = `<h2>Comparison</h2>
<p class="note">Change of each figure from <code>${esc(base)}</code> (medians over seeds; latencies from the merged histograms). Negative is faster.</p>
<table><tr><th class="l">scenario</th><th class="l">configuration</th><th>run length</th><th>sched p50</th><th>sched p99</th><th>IPC RTT p50</th><th>irq p50</th><th>syscall p50</th><th>switches</th><th>Jain (Δ)</th></tr>
${crow.join('\n')}
</table>`;
  }
  const fig = (c: IndexInput['charts'][number]): string => `<figure><a href="${esc(c.file)}"><img src="${esc(c.file)}" alt="${esc(c.title)}"></a><figcaption><b>${esc(c.title)}.</b> ${esc(c.note)}</figcaption></figure>`;
  const section = (group: string, title: string, intro: string): string => {
    const cs = d.charts.filter((c) => c.group === group);
    if (cs.length === 0) return '';
    // With --compare, the timelines of one scenario sit side by side, one row per scenario.
    const perRow = group === 'timeline' && d.compare ? d.configs.length : 0;
    const body: string[] = [];
    if (perRow > 0) for (let i = 0; i < cs.length; i += perRow) body.push(`<div class="grid side">\n${cs.slice(i, i + perRow).map(fig).join('\n')}\n</div>`);
    else body.push(`<div class="grid">\n${cs.map(fig).join('\n')}\n</div>`);
    return `<h2>${esc(title)}</h2>\n<p class="note">${esc(intro)}</p>\n${body.join('\n')}`;
  };
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>rugo-sim report</title>
<style>
${CSS}
</style>
</head>
<body>
<h1>rugo-sim timing report</h1>
<p>Made by <code>${esc(d.command)}</code>: ${esc(d.sweep)} per scenario${d.compare ? ` and configuration (${d.configs.map(esc).join(' vs ')})` : ''}, simulated CPU clock ${fmtHz(hz)} (1 cycle = ${((1e9 / hz) % 1 === 0 ? (1e9 / hz).toFixed(0) : (1e9 / hz).toFixed(3))} ns). Every figure is simulated time, in cycles (µs where marked); the same command gives the same files.</p>
<h2>Summary</h2>
<p class="note">Medians over seeds per run; latency columns are p50 / p99 in cycles over every sample of the sweep. Run length: from the first context switch (the end of boot) to the end of the run.</p>
<table>
<tr><th class="l">scenario</th>${d.compare ? '<th class="l">configuration</th>' : ''}<th>CPUs</th><th>runs</th><th>pass</th><th>run length (cycles)</th><th>run length (µs)</th><th>sched latency</th><th>IPC round trip</th><th>irq latency</th><th>syscall</th><th>context switch</th><th>switches / run</th><th>syscalls / run</th><th>Jain (mean)</th></tr>
${rows}
</table>
${compareTable}
${section('timeline', 'CPU timelines', 'One run (the timeline seed) per scenario and configuration, from the first context switch to the end.')}
${section('cdf', 'Latency distributions', 'Cumulative distributions over every sample of every seed; log time axis, cycles below and microseconds above.')}
${section('box', 'Spread across seeds', 'One value per seed; how much the schedule (the seed) moves each figure.')}
${section('fairness', 'Fairness', 'How evenly the CPU was shared among the threads that wanted it, over time.')}
<h2>Files</h2>
<p class="note">${d.charts.map((c) => `<a href="${esc(c.file)}">${esc(c.file)}</a>`).join(' · ')} · <a href="summary.json">summary.json</a> (every figure above, for scripts)</p>
</body>
</html>
`;
}

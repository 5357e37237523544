// Run metrics in the CLI's summaries: the JSON object (`metrics` in --json)
// and a few human lines (cycles; µs at the machine's frequency).
import type { ScenarioResult } from '../scenarios/runner.ts';
import type { MetricsSummary } from '../sim/metrics.ts';
import type { HistogramSummary } from '../sim/histogram.ts';
import { SYSCALL_NAMES } from '../os/syscall/abi.ts';

/** The run's metrics as plain data (null when the run kept none). */
export function metricsJson(r: ScenarioResult): MetricsSummary | null {
  return r.metrics?.summary(SYSCALL_NAMES) ?? null;
}

function lat(h: HistogramSummary, hz: number): string {
  if (h.count === 0) return 'none';
  const us = (c: number): string => ((c * 1e6) / hz).toFixed(3);
  return `p50 ${h.p50} / p99 ${h.p99} / max ${h.max} cycles (p50 ${us(h.p50)} us), n=${h.count}`;
}

/** Human summary lines for the run's metrics. */
export function metricsLines(r: ScenarioResult): string[] {
  const m = metricsJson(r);
  if (m === null) return [];
  const hz = m.cpuHz;
  const cpu = m.cpus.map((c) => `cpu${c.cpu} ${((100 * c.busyCycles) / Math.max(1, m.cycles)).toFixed(1)}%`).join(', ');
  const sys = m.syscalls.reduce((s, x) => s + x.count, 0);
  const top = [...m.syscalls].sort((a, b) => b.count - a.count || a.num - b.num).slice(0, 4).map((x) => `${x.name ?? x.num} ${x.count}`).join(', ');
  const lines = [
    `busy:        ${cpu} (of ${m.cycles} cycles; the rest halted)`,
    `switches:    ${m.contextSwitch.count} (${m.contextSwitch.voluntary} blocking, ${m.contextSwitch.involuntary} preemptions); pick to switch ${lat(m.contextSwitch.latency, hz)}`,
    `sched lat:   wakeup to running ${lat(m.scheduling.latency, hz)}; run queue max ${m.runQueue.max}, mean ${m.runQueue.mean}`,
    `interrupts:  ${m.interrupts.count}; raise to handler ${lat(m.interrupts.latency, hz)}`,
  ];
  if (sys > 0) lines.push(`syscalls:    ${sys} (${top})`);
  if (m.ipc.sends > 0) lines.push(`ipc:         ${m.ipc.sends} messages; round trip ${lat(m.ipc.roundTrip, hz)}`);
  for (const d of m.io) lines.push(`${(d.device + ':').padEnd(12)} ${d.completed} requests; ${d.source === 'device' ? 'device service time' : 'submit to complete'} ${lat(d.latency, hz)}`);
  return lines;
}

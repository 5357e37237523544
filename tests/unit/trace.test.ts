// The Chrome trace writer: valid JSON of the expected shape (metadata with
// seed and options, a process per CPU and per device), slices that nest on
// every track, time that never goes backward on a track, flows with both
// ends inside slices, counters, streaming in chunks; and tracing never
// changes the run.
import { describe, expect, it } from 'vitest';
import { allScenarios, resolveScenario } from '../../scenarios/scenario.ts';
import { bugOptions } from '../../scenarios/bugs.ts';
import { BUGS } from '../../os/bugs.ts';
import { runScenario } from '../../scenarios/runner.ts';
import { ChromeTraceWriter, KERNEL_PID, LAPIC_PID_BASE, UART_PID } from '../../sim/chrome-trace.ts';
import { Stack, TrapKind, type TrapFrame } from '../../sim/x86/cpu.ts';
import { TraceEvent, runnableWord, traceWord } from '../../sim/x86/trace-port.ts';
import { checkTrace, type TraceEventJson } from '../helpers/trace-check.ts';

function traced(name: string, cpus: number, seed = 3): { doc: { metadata: Record<string, unknown>; traceEvents: TraceEventJson[] }; chunks: string[]; hash: string; plainHash: string } {
  const chunks: string[] = [];
  const r = runScenario(resolveScenario(name), { seed, cpus, traceSink: (c) => chunks.push(c) });
  const plain = runScenario(resolveScenario(name), { seed, cpus, metrics: false });
  expect(r.verdict, r.reasons.join('; ')).toBe('pass');
  return { doc: JSON.parse(chunks.join('')), chunks, hash: r.traceHash, plainHash: plain.traceHash };
}

describe('Chrome trace of real runs', () => {
  for (const [name, cpus] of [
    ['ping-pong', 1],
    ['ping-pong', 4],
    ['two-threads', 2],
    ['mutex-handoff', 2],
    ['stress-ipc', 4],
  ] as [string, number][]) {
    it(`${name} on ${cpus} CPU(s): valid, nested, monotonic per track, flows with both ends`, () => {
      const t = traced(name, cpus);
      const c = checkTrace(t.doc);
      expect(c.problems.slice(0, 10)).toEqual([]);
      expect(c.slices).toBeGreaterThan(0);
      expect(c.flows).toBeGreaterThan(0);
      // Tracing never changes the run.
      expect(t.hash).toBe(t.plainHash);
      // Metadata: the run's seed and options.
      expect(t.doc.metadata).toMatchObject({ scenario: name, seed: 3, cpus, cpuHz: 1_000_000_000 });
      expect(t.doc.metadata.options).toEqual(resolveScenario(name).kernel.options);
      // A process per CPU, the kernel's counters, each LAPIC and the UART.
      for (let i = 0; i < cpus; i++) {
        expect(c.processNames.get(i)).toBe(`CPU ${i}`);
        expect(c.processNames.get(LAPIC_PID_BASE + i)).toMatch(/^LAPIC /);
      }
      expect(c.processNames.get(KERNEL_PID)).toMatch(/kernel/);
      expect(c.processNames.get(UART_PID)).toMatch(/UART/);
    });
  }

  it('ping-pong: an IPC flow per message, interrupt flows, run-queue and endpoint counters, serial lines, thread names', () => {
    const t = traced('ping-pong', 2);
    const ev = t.doc.traceEvents;
    const ipcFlows = ev.filter((e) => e.ph === 's' && String(e.name).startsWith('ipc '));
    expect(ipcFlows.length).toBe(200);
    // Every IPC flow goes from a sender's thread track to the receiver's, forward in time.
    const ends = new Map(ev.filter((e) => e.ph === 'f').map((e) => [e.id, e]));
    for (const s of ipcFlows) {
      const f = ends.get(s.id)!;
      expect(f.ts!).toBeGreaterThanOrEqual(s.ts!);
      expect(s.pid).toBeLessThan(2);
      expect(f.pid).toBeLessThan(2);
      expect(s.tid).not.toBe(f.tid);
    }
    expect(ev.some((e) => e.ph === 's' && e.name === 'irq' && e.pid >= LAPIC_PID_BASE)).toBe(true);
    expect(ev.some((e) => e.ph === 'C' && e.name === 'run queue')).toBe(true);
    expect(ev.some((e) => e.ph === 'C' && /^ep\d+ queue$/.test(String(e.name)))).toBe(true);
    expect(ev.some((e) => e.ph === 'i' && e.pid === UART_PID && e.name === 'PING: ok')).toBe(true);
    expect(ev.some((e) => e.ph === 'X' && e.name === 'syscall ipc_send')).toBe(true);
    expect(ev.some((e) => e.ph === 'M' && e.name === 'thread_name' && String(e.args?.name).startsWith('ping-pong'))).toBe(true);
    expect(ev.at(-1)).toMatchObject({ name: 'end of run', args: { stopReason: 'debug-exit', traceHash: t.hash } });
  });

  it('every bundled scenario on each of its CPU counts, and every planted bug (panics, deadlocks), gives a valid trace', () => {
    const problems: string[] = [];
    const runs: [string, number, string[]][] = [];
    for (const sc of allScenarios()) for (const cpus of sc.cpuCounts ?? [sc.machine.cpus]) runs.push([sc.name, cpus, []]);
    for (const b of BUGS) runs.push([b.scenario, b.cpus, bugOptions(b.name)]);
    for (const [name, cpus, extra] of runs) {
      const chunks: string[] = [];
      runScenario(resolveScenario(name), { seed: 4, cpus, extraOptions: extra, traceSink: (c) => chunks.push(c) });
      for (const p of checkTrace(JSON.parse(chunks.join(''))).problems.slice(0, 2)) problems.push(`${name}/${cpus} ${extra.join(' ')}: ${p}`);
    }
    expect(problems).toEqual([]);
  });

  it('streams in chunks of about 64 KiB instead of holding the trace', () => {
    const t = traced('ping-pong', 4);
    expect(t.chunks.length).toBeGreaterThan(3);
    for (const c of t.chunks) expect(c.length).toBeLessThan(80 * 1024);
  });
});

describe('ChromeTraceWriter on a scripted run', () => {
  const tf = (vector: number, kind: number, rax = 0): TrapFrame => ({ vector, errorCode: 0, hasError: false, kind, cpl: 3, savedIF: true, regs: vector === 0x80 ? { rax, rdi: 0, rsi: 0, rdx: 0, r10: 0, r8: 0, r9: 0 } as never : null, cpu: 0, from: 'x', userEntry: 0 });

  it('closes a thread’s open slices at a switch-out and reopens them where it resumes, nested, on another CPU', () => {
    const a = new Stack(16, 'a', null);
    const b = new Stack(17, 'b', null);
    const idle0 = new Stack(8, 'idle0', null);
    const idle1 = new Stack(9, 'idle1', null);
    const host = { cpus: [{ stack: a }, { stack: idle1 }] as { stack: Stack }[], cpuHz: 1_000_000_000 };
    const chunks: string[] = [];
    const w = new ChromeTraceWriter((c) => chunks.push(c), host, { seed: 9, options: ['x=1'] }, { syscallNames: { 9: 'ipc_recv' } });
    const sys = tf(0x80, TrapKind.Software, 9);
    w.onTrap(0, 100, sys, 'isr128', -1); // a blocks in a receive...
    const tick = tf(0xf0, TrapKind.External);
    w.onTrap(0, 150, tick, 'isr240', 120); // ...takes a nested timer interrupt
    w.onIret(0, 180, tick);
    w.onGuestEvent(0, 190, TraceEvent.IpcSend, 1 | (1 << 8));
    host.cpus[0].stack = idle0;
    w.onSwitch(0, 200, a, idle0); // switched out inside its syscall
    w.onHalt(0, 210, true);
    w.onGuestEvent(1, 290, TraceEvent.Wake, runnableWord(TraceEvent.Wake, 16, 1) & 0xffffff);
    w.onHalt(0, 400, false);
    host.cpus[1].stack = a;
    w.onSwitch(1, 300, idle1, a); // resumes on CPU 1, still in the syscall
    w.onGuestEvent(1, 305, TraceEvent.Pick, traceWord(TraceEvent.Pick, 0) & 0xffffff);
    w.onIret(1, 350, sys);
    host.cpus[1].stack = b;
    w.onSwitch(1, 360, a, b);
    w.onGuestEvent(1, 370, TraceEvent.IpcRecv, 1 | (1 << 8));
    w.serialLine(380, 'hello');
    w.finish(500, { stopReason: 'test' });
    const doc = JSON.parse(chunks.join(''));
    const c = checkTrace(doc);
    expect(c.problems).toEqual([]);
    const xs = (doc.traceEvents as TraceEventJson[]).filter((e) => e.ph === 'X');
    // The syscall slice appears twice: on CPU 0 until the switch, on CPU 1 from the resume to the iret.
    expect(xs.filter((e) => e.name === 'syscall ipc_recv').map((e) => [e.pid, e.ts, e.dur])).toEqual([
      [0, 0.1, 0.1],
      [1, 0.3, 0.05],
    ]);
    expect(xs.find((e) => e.name === 'irq 0xf0')).toMatchObject({ pid: 0, tid: 16, ts: 0.15, dur: 0.03 });
    expect(xs.find((e) => e.name === 'irq 0xf0 pending')).toMatchObject({ pid: LAPIC_PID_BASE, tid: 0xf0, ts: 0.12, dur: 0.03 });
    expect(xs.find((e) => e.name === 'hlt')).toMatchObject({ pid: 0, tid: 8, ts: 0.21, dur: 0.19 });
    expect(c.flows).toBe(2); // the interrupt and the message
    expect(doc.metadata).toMatchObject({ seed: 9, options: ['x=1'] });
  });

  it('prints timestamps as exact microseconds with three decimals at any clock rate', () => {
    const s = new Stack(0, 'boot', null);
    const chunks: string[] = [];
    const w = new ChromeTraceWriter((c) => chunks.push(c), { cpus: [{ stack: s }], cpuHz: 3_000_000_000 }, {});
    w.finish(3_000_000_007);
    const text = chunks.join('');
    expect(text).toContain('"ts":0.000,"dur":1000000.002}');
    expect(checkTrace(JSON.parse(text)).problems).toEqual([]);
  });
});

// Chrome Trace Event format writer (the JSON that Perfetto and
// chrome://tracing open): "Trace Event Format" document, event phases X
// (complete), i (instant), C (counter), M (metadata), s/f (flow).
// pid = CPU (a process per CPU; devices get pids from 100), tid = kernel
// stack id (a thread track per kernel thread). Slices on one track nest: a
// thread's open slices (its running slice and any handler slices) are closed
// when it is switched out and reopened when it is switched back in, so no
// two slices on a track overlap. Timestamps are microseconds derived from
// cycles. Events stream to a sink in chunks: a long run never holds its
// whole trace in memory.
import type { Observer } from './observer.ts';
import type { Stack, TrapFrame } from './x86/cpu.ts';
import { VECTOR_NAMES } from './x86/cpu.ts';

export type TraceSink = (chunk: string) => void;

interface OpenSlice {
  name: string;
  cat: string;
  start: number;
}

export const DEVICE_PID_BASE = 100;

export class ChromeTraceWriter implements Observer {
  private buf: string[] = [];
  private bufLen = 0;
  private first = true;
  /** Open slices per track key "cpu:tid". */
  private readonly open = new Map<string, OpenSlice[]>();
  /** Stack running on each CPU. */
  private readonly running: (Stack | null)[] = [];
  private readonly namedThreads = new Set<string>();
  private flowId = 0;
  events = 0;

  constructor(
    private readonly sink: TraceSink,
    private readonly cpuHz: number,
    cpus: number,
    metadata: Record<string, unknown>,
  ) {
    this.sink('{"displayTimeUnit":"ns","metadata":' + JSON.stringify(metadata) + ',"traceEvents":[\n');
    for (let c = 0; c < cpus; c++) {
      this.emit({ ph: 'M', name: 'process_name', pid: c, tid: 0, args: { name: `CPU ${c}` } });
      this.emit({ ph: 'M', name: 'process_sort_index', pid: c, tid: 0, args: { sort_index: c } });
      this.running.push(null);
    }
  }

  /** Microseconds from cycles. */
  us(cycles: number): number {
    return (cycles * 1e6) / this.cpuHz;
  }

  private emit(ev: Record<string, unknown>): void {
    const s = (this.first ? '' : ',\n') + JSON.stringify(ev);
    this.first = false;
    this.buf.push(s);
    this.bufLen += s.length;
    this.events++;
    if (this.bufLen > 1 << 16) this.flush();
  }

  private flush(): void {
    if (this.buf.length === 0) return;
    this.sink(this.buf.join(''));
    this.buf = [];
    this.bufLen = 0;
  }

  private track(cpu: number, tid: number): OpenSlice[] {
    const key = `${cpu}:${tid}`;
    let t = this.open.get(key);
    if (t === undefined) {
      t = [];
      this.open.set(key, t);
    }
    return t;
  }

  private nameThread(cpu: number, st: Stack): void {
    const key = `${cpu}:${st.id}`;
    if (this.namedThreads.has(key)) return;
    this.namedThreads.add(key);
    this.emit({ ph: 'M', name: 'thread_name', pid: cpu, tid: st.id, args: { name: st.name } });
  }

  /** Closes every open slice of `tid` on `cpu` at `cycles` (innermost first) and returns them for reopening. */
  private closeAll(cpu: number, tid: number, cycles: number): OpenSlice[] {
    const t = this.track(cpu, tid);
    const closed = t.slice();
    for (let i = t.length - 1; i >= 0; i--) this.complete(cpu, tid, t[i], cycles);
    t.length = 0;
    return closed;
  }

  private complete(cpu: number, tid: number, s: OpenSlice, end: number): void {
    const ts = this.us(s.start);
    this.emit({ ph: 'X', name: s.name, cat: s.cat, pid: cpu, tid, ts, dur: Math.max(0, this.us(end) - ts) });
  }

  /** Suspended slices of threads that are not running, to reopen when they run again. */
  private readonly suspended = new Map<number, OpenSlice[]>();

  onSwitch(cpu: number, cycles: number, from: Stack, to: Stack): void {
    const held = this.closeAll(cpu, from.id, cycles);
    this.suspended.set(from.id, held.filter((s) => s.cat !== 'run'));
    this.begin(cpu, to, cycles);
  }

  private begin(cpu: number, st: Stack, cycles: number): void {
    this.nameThread(cpu, st);
    this.running[cpu] = st;
    const t = this.track(cpu, st.id);
    t.push({ name: st.name, cat: 'run', start: cycles });
    const again = this.suspended.get(st.id);
    if (again !== undefined) {
      for (const s of again) t.push({ name: s.name, cat: s.cat, start: cycles });
      this.suspended.delete(st.id);
    }
  }

  onTrap(cpu: number, cycles: number, tf: TrapFrame, handler: string): void {
    const st = this.running[cpu];
    if (st === null) return;
    const name = tf.vector < 32 ? `${VECTOR_NAMES[tf.vector] ?? `exc ${tf.vector}`}` : tf.vector === 0x80 ? `syscall ${tf.regs?.rax ?? '?'}` : `irq ${tf.vector}`;
    this.track(cpu, st.id).push({ name, cat: handler, start: cycles });
  }

  onIret(cpu: number, cycles: number, _tf: TrapFrame): void {
    const st = this.running[cpu];
    if (st === null) return;
    const t = this.track(cpu, st.id);
    const s = t.length > 1 ? t.pop() : undefined;
    if (s !== undefined) this.complete(cpu, st.id, s, cycles);
  }

  onHalt(cpu: number, cycles: number, halted: boolean): void {
    this.emit({ ph: 'i', s: 't', name: halted ? 'hlt' : 'wake', pid: cpu, tid: this.running[cpu]?.id ?? 0, ts: this.us(cycles) });
  }

  /** An instant event (serial line, marker, checker message). */
  instant(cpu: number, cycles: number, name: string, args?: Record<string, unknown>): void {
    this.emit({ ph: 'i', s: 'p', name, pid: cpu, tid: 0, ts: this.us(cycles), args });
  }

  /** A counter sample. */
  counter(pid: number, cycles: number, name: string, values: Record<string, number>): void {
    this.emit({ ph: 'C', name, pid, tid: 0, ts: this.us(cycles), args: values });
  }

  /** A flow arrow from (pidA, tidA, cyclesA) to (pidB, tidB, cyclesB). */
  flow(name: string, pidA: number, tidA: number, cyclesA: number, pidB: number, tidB: number, cyclesB: number): void {
    const id = ++this.flowId;
    this.emit({ ph: 's', id, name, cat: 'flow', pid: pidA, tid: tidA, ts: this.us(cyclesA) });
    this.emit({ ph: 'f', bp: 'e', id, name, cat: 'flow', pid: pidB, tid: tidB, ts: this.us(cyclesB) });
  }

  /** Starts the first slices (the boot stacks) at cycle 0. */
  start(stacks: readonly (Stack | null)[]): void {
    stacks.forEach((st, cpu) => {
      if (st !== null) this.begin(cpu, st, 0);
    });
  }

  /** Closes every open slice at `cycles` and ends the JSON document. */
  finish(cycles: number): void {
    for (let cpu = 0; cpu < this.running.length; cpu++) {
      const st = this.running[cpu];
      if (st !== null) this.closeAll(cpu, st.id, cycles);
    }
    this.flush();
    this.sink('\n]}\n');
  }
}

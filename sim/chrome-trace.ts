// Chrome Trace Event format writer: the JSON that Perfetto and
// chrome://tracing open ("Trace Event Format", Google, 2016): phases X
// (complete slice), i (instant), C (counter), M (metadata), s/f (flow).
//
// Layout:
// - pid c = CPU c; tid = kernel stack id (the kernel's thread id), one
//   thread track per (CPU, thread). Slice "run" (named after the thread) for
//   each stretch a thread runs on that CPU; nested in it, a slice per
//   handler (syscall, interrupt, exception, nested as they nest) and "hlt"
//   while the CPU is halted.
// - pid 99 "Rugo kernel": counters from the paravirtual trace port (run-queue
//   length, each IPC endpoint's queue depth, I/O requests in flight).
// - pid 100+c "LAPIC c": a track per vector with a slice from the line being
//   raised to the handler's entry (the interrupt latency); pid 110 "COM1
//   16550": the serial console, one instant per line.
// - Flows: IPC send -> receive of the same message (sender's thread track to
//   the receiver's); interrupt raised -> handler entry.
//
// Nesting: a track's slices never overlap partially (Perfetto rejects that).
// A thread switched out closes its open slices at the switch (innermost
// first) and reopens them when it runs again, possibly on another CPU. Each
// track's events are written in time order except flow starts, which are
// written when their end is known; tracks shared by CPUs (counters, serial
// lines, a LAPIC's pending slices) clamp to the track's last time, since
// CPU clocks differ by up to the pick window.
//
// Timestamps are microseconds with three decimals (whole nanoseconds),
// derived from cycles by the machine's frequency, printed from integers so
// that nested slices stay nested exactly. The top-level "metadata" object
// holds the run's seed and options. Events stream to the sink in chunks of
// 64 KiB: a long run never holds its trace in memory.
import type { Observer } from './observer.ts';
import type { Stack, TrapFrame } from './x86/cpu.ts';
import { VECTOR_NAMES } from './x86/cpu.ts';
import { TraceEvent, TraceDevice } from './x86/trace-port.ts';
import { mulDivFloor } from './time.ts';

export type TraceSink = (chunk: string) => void;

export const KERNEL_PID = 99;
export const DEVICE_PID_BASE = 100;
export const LAPIC_PID_BASE = DEVICE_PID_BASE;
export const UART_PID = DEVICE_PID_BASE + 10;

interface OpenSlice {
  name: string;
  cat: string;
  start: number;
  /** The handler's TrapFrame (null for run and hlt slices). */
  tf: TrapFrame | null;
}

/** The machine as the writer sees it. */
export interface TraceHost {
  readonly cpus: readonly { readonly stack: Stack }[];
  readonly cpuHz: number;
}

export interface TraceOptions {
  /** Syscall names by number, for handler slices ("syscall ipc_send"). */
  syscallNames?: Record<number, string>;
}

export class ChromeTraceWriter implements Observer {
  private buf: string[] = [];
  private bufLen = 0;
  private first = true;
  /** Open slices per thread track, key tid * 16 + cpu. */
  private readonly open = new Map<number, OpenSlice[]>();
  /** Handler slices of threads switched out, by stack id, to reopen when they run. */
  private readonly suspended = new Map<number, OpenSlice[]>();
  private readonly named = new Set<number>();
  private readonly lastTs = new Map<string, number>();
  /** Pending IPC sends: endpoint * 65536 + seq -> [pid, tid, cycles]. */
  private readonly sends = new Map<number, [number, number, number]>();
  private readonly epDepth = new Map<number, [number, number]>();
  private readonly ioInFlight = new Map<number, Set<number>>();
  private readonly lapicNamed = new Set<number>();
  private flowId = 0;
  private finished = false;
  private readonly cpus: number;
  /** Events written. */
  events = 0;

  constructor(
    private readonly sink: TraceSink,
    private readonly host: TraceHost,
    metadata: Record<string, unknown>,
    private readonly opts: TraceOptions = {},
  ) {
    this.cpus = host.cpus.length;
    this.sink('{"metadata":' + JSON.stringify({ ...metadata, cpuHz: host.cpuHz, timeUnit: 'us (from cycles at cpuHz)' }) + ',"traceEvents":[\n');
    for (let c = 0; c < this.cpus; c++) {
      this.meta('process_name', c, 0, { name: `CPU ${c}` });
      this.meta('process_sort_index', c, 0, { sort_index: c });
    }
    this.meta('process_name', KERNEL_PID, 0, { name: 'Rugo kernel (paravirtual trace port)' });
    this.meta('process_sort_index', KERNEL_PID, 0, { sort_index: 50 });
    for (let c = 0; c < this.cpus; c++) {
      this.meta('process_name', LAPIC_PID_BASE + c, 0, { name: `LAPIC ${c} (interrupts to CPU ${c})` });
      this.meta('process_sort_index', LAPIC_PID_BASE + c, 0, { sort_index: 60 + c });
    }
    this.meta('process_name', UART_PID, 0, { name: 'COM1 16550 UART' });
    this.meta('process_sort_index', UART_PID, 0, { sort_index: 80 });
    this.meta('thread_name', UART_PID, 0, { name: 'serial console' });
    for (let c = 0; c < this.cpus; c++) this.begin(c, host.cpus[c].stack, 0);
  }

  /** Whole nanoseconds from cycles. */
  private ns(cycles: number): number {
    return this.host.cpuHz === 1_000_000_000 ? Math.floor(cycles) : mulDivFloor(Math.floor(cycles), 1_000_000_000, this.host.cpuHz);
  }

  /** Microseconds as JSON text with three decimals, from whole nanoseconds. */
  private static us(ns: number): string {
    const r = ns % 1000;
    return `${(ns - r) / 1000}.${r < 10 ? '00' : r < 100 ? '0' : ''}${r}`;
  }

  private write(s: string): void {
    const t = (this.first ? '' : ',\n') + s;
    this.first = false;
    this.buf.push(t);
    this.bufLen += t.length;
    this.events++;
    if (this.bufLen > 1 << 16) this.flush();
  }

  private flush(): void {
    if (this.buf.length === 0) return;
    this.sink(this.buf.join(''));
    this.buf = [];
    this.bufLen = 0;
  }

  private meta(name: string, pid: number, tid: number, args: Record<string, unknown>): void {
    this.write(`{"ph":"M","name":"${name}","pid":${pid},"tid":${tid},"args":${JSON.stringify(args)}}`);
  }

  /** Nanoseconds for an event on a track shared by CPUs: never before the track's last event. */
  private clamp(track: string, ns: number): number {
    const last = this.lastTs.get(track) ?? 0;
    const t = ns < last ? last : ns;
    this.lastTs.set(track, t);
    return t;
  }

  private slice(name: string, cat: string, pid: number, tid: number, startNs: number, endNs: number): void {
    this.write(`{"ph":"X","name":${JSON.stringify(name)},"cat":"${cat}","pid":${pid},"tid":${tid},"ts":${ChromeTraceWriter.us(startNs)},"dur":${ChromeTraceWriter.us(Math.max(0, endNs - startNs))}}`);
  }

  private track(cpu: number, tid: number): OpenSlice[] {
    const key = tid * 16 + cpu;
    let t = this.open.get(key);
    if (t === undefined) {
      t = [];
      this.open.set(key, t);
    }
    return t;
  }

  private nameThread(cpu: number, st: Stack): void {
    const key = st.id * 16 + cpu;
    if (this.named.has(key)) return;
    this.named.add(key);
    this.meta('thread_name', cpu, st.id, { name: `${st.name} (${st.id})` });
    this.meta('thread_sort_index', cpu, st.id, { sort_index: st.id });
  }

  /** Closes every open slice of `tid` on `cpu` at `cycles` (innermost first); returns the handler and halt slices. */
  private closeAll(cpu: number, tid: number, cycles: number): OpenSlice[] {
    const t = this.track(cpu, tid);
    const end = this.ns(cycles);
    for (let i = t.length - 1; i >= 0; i--) this.slice(t[i].name, t[i].cat, cpu, tid, this.ns(t[i].start), end);
    const kept = t.filter((s) => s.cat !== 'run');
    t.length = 0;
    return kept;
  }

  private begin(cpu: number, st: Stack, cycles: number): void {
    this.nameThread(cpu, st);
    const t = this.track(cpu, st.id);
    t.push({ name: st.name, cat: 'run', start: cycles, tf: null });
    const again = this.suspended.get(st.id);
    if (again !== undefined) {
      for (const s of again) t.push({ name: s.name, cat: s.cat, start: cycles, tf: s.tf });
      this.suspended.delete(st.id);
    }
  }

  onSwitch(cpu: number, cycles: number, from: Stack, to: Stack): void {
    const held = this.closeAll(cpu, from.id, cycles);
    if (held.length > 0) this.suspended.set(from.id, held);
    this.begin(cpu, to, cycles);
  }

  private handlerName(tf: TrapFrame): string {
    if (tf.vector === 0x80 && tf.regs !== null) {
      const n = tf.regs.rax;
      return `syscall ${this.opts.syscallNames?.[n] ?? n}`;
    }
    if (tf.vector < 32) return VECTOR_NAMES[tf.vector] ?? `exception ${tf.vector}`;
    return `irq 0x${tf.vector.toString(16)}`;
  }

  onTrap(cpu: number, cycles: number, tf: TrapFrame, handler: string, raisedCycles: number): void {
    const st = this.host.cpus[cpu].stack;
    const t = this.track(cpu, st.id);
    if (t.length === 0) this.begin(cpu, st, cycles);
    const name = this.handlerName(tf);
    t.push({ name, cat: handler, start: cycles, tf });
    if (raisedCycles >= 0) {
      // The pending interval on the LAPIC's track for this vector, and a flow to the handler.
      const pid = LAPIC_PID_BASE + cpu;
      const key = cpu * 256 + tf.vector;
      if (!this.lapicNamed.has(key)) {
        this.lapicNamed.add(key);
        this.meta('thread_name', pid, tf.vector, { name: `vector 0x${tf.vector.toString(16)}` });
      }
      const end = this.ns(cycles);
      const start = Math.min(end, this.clamp(`l${key}`, this.ns(raisedCycles)));
      this.clamp(`l${key}`, end);
      this.slice(`${name} pending`, 'irq', pid, tf.vector, start, end);
      this.flow('irq', pid, tf.vector, start, cpu, st.id, end);
    }
  }

  onIret(cpu: number, cycles: number, tf: TrapFrame): void {
    const st = this.host.cpus[cpu].stack;
    const t = this.track(cpu, st.id);
    const top = t.length > 0 ? t[t.length - 1] : undefined;
    if (top === undefined || top.tf !== tf) return;
    t.pop();
    this.slice(top.name, top.cat, cpu, st.id, this.ns(top.start), this.ns(cycles));
  }

  onHalt(cpu: number, cycles: number, halted: boolean): void {
    const st = this.host.cpus[cpu].stack;
    const t = this.track(cpu, st.id);
    if (halted) t.push({ name: 'hlt', cat: 'halt', start: cycles, tf: null });
    else if (t.length > 0 && t[t.length - 1].cat === 'halt') {
      const s = t.pop()!;
      this.slice(s.name, s.cat, cpu, st.id, this.ns(s.start), this.ns(cycles));
    }
  }

  onGuestEvent(cpu: number, cycles: number, code: number, arg: number): void {
    switch (code) {
      case TraceEvent.Wake:
      case TraceEvent.Requeue:
      case TraceEvent.Spawn:
        this.counter(KERNEL_PID, cycles, 'run queue', { runnable: arg >>> 16 });
        return;
      case TraceEvent.Pick:
        this.counter(KERNEL_PID, cycles, 'run queue', { runnable: arg & 0xff });
        return;
      case TraceEvent.IpcSend:
      case TraceEvent.IpcRecv: {
        const ep = arg & 0xff;
        const seq = arg >>> 8;
        let d = this.epDepth.get(ep);
        if (d === undefined || (code === TraceEvent.IpcSend && seq === 1)) {
          d = [0, 0];
          this.epDepth.set(ep, d);
        }
        const key = ep * 65536 + seq;
        const st = this.host.cpus[cpu].stack;
        if (code === TraceEvent.IpcSend) {
          d[0] = seq;
          this.sends.set(key, [cpu, st.id, cycles]);
        } else {
          d[1] = seq;
          const s = this.sends.get(key);
          if (s !== undefined) {
            this.sends.delete(key);
            this.flow(`ipc ep${ep} #${seq}`, s[0], s[1], this.ns(s[2]), cpu, st.id, this.ns(cycles));
          }
        }
        this.counter(KERNEL_PID, cycles, `ep${ep} queue`, { messages: (d[0] - d[1] + 65536) % 65536 });
        return;
      }
      case TraceEvent.IoSubmit:
      case TraceEvent.IoComplete: {
        const dev = arg & 0xff;
        let s = this.ioInFlight.get(dev);
        if (s === undefined) this.ioInFlight.set(dev, (s = new Set()));
        if (code === TraceEvent.IoSubmit) s.add(arg >>> 8);
        else s.delete(arg >>> 8);
        this.counter(KERNEL_PID, cycles, `${dev === TraceDevice.Blk ? 'blk' : dev === TraceDevice.Net ? 'net' : `dev${dev}`} in flight`, { requests: s.size });
        return;
      }
      default:
        return;
    }
  }

  /** A serial console line, as an instant on the UART's track. */
  serialLine(cycles: number, line: string): void {
    const ts = this.clamp('uart', this.ns(cycles));
    this.write(`{"ph":"i","s":"t","name":${JSON.stringify(line)},"cat":"serial","pid":${UART_PID},"tid":0,"ts":${ChromeTraceWriter.us(ts)}}`);
  }

  /** A counter sample on process `pid` (one counter track per name). */
  counter(pid: number, cycles: number, name: string, values: Record<string, number>): void {
    const ts = this.clamp(`c${pid}:${name}`, this.ns(cycles));
    this.write(`{"ph":"C","name":${JSON.stringify(name)},"pid":${pid},"tid":0,"ts":${ChromeTraceWriter.us(ts)},"args":${JSON.stringify(values)}}`);
  }

  /** A flow arrow from (pidA, tidA) at nsA to (pidB, tidB) at nsB; the end binds to the slice enclosing it. */
  private flow(name: string, pidA: number, tidA: number, nsA: number, pidB: number, tidB: number, nsB: number): void {
    const id = ++this.flowId;
    const n = JSON.stringify(name);
    this.write(`{"ph":"s","id":${id},"name":${n},"cat":"flow","pid":${pidA},"tid":${tidA},"ts":${ChromeTraceWriter.us(nsA)}}`);
    this.write(`{"ph":"f","bp":"e","id":${id},"name":${n},"cat":"flow","pid":${pidB},"tid":${tidB},"ts":${ChromeTraceWriter.us(Math.max(nsA, nsB))}}`);
  }

  /** Closes every open slice at `cycles`, notes how the run ended, and ends the JSON document. */
  finish(cycles: number, end: Record<string, unknown> = {}): void {
    if (this.finished) return;
    this.finished = true;
    for (let c = 0; c < this.cpus; c++) this.closeAll(c, this.host.cpus[c].stack.id, cycles);
    const ts = this.clamp('k', this.ns(cycles));
    this.write(`{"ph":"i","s":"p","name":"end of run","cat":"run","pid":${KERNEL_PID},"tid":0,"ts":${ChromeTraceWriter.us(ts)},"args":${JSON.stringify(end)}}`);
    this.flush();
    this.sink('\n]}\n');
  }
}

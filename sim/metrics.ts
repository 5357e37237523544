// Run metrics: counters and cycle histograms kept by an observer for every
// run. Called only at traps, irets, switches, halts and trace-port events
// (never per op); per event it does a few map and typed-array updates and
// allocates nothing except the first time a thread, a syscall number or an
// endpoint is seen. With `timeline` it also records the intervals that the
// report charts need (CPU Gantt, fairness), which grow with the run.
//
// What each figure measures (cycles; the CPU's local clock at the event):
// - syscall latency: int 0x80 handler entry to its iret, per number (a
//   blocking call includes its wait; entry and iret may be on different CPUs).
// - interrupt latency: the source raising the line (IOAPIC pin, ICR write,
//   LAPIC timer expiry) to handler entry; includes the APIC bus latency, an
//   IF=0 window and irq-delay decisions.
// - context switch: the scheduler's pick (trace-port Pick) to the switch op
//   completing on that CPU (CR3 load, bookkeeping, swtch).
// - scheduling latency: a sleeping thread made runnable (trace-port Wake) to
//   it running (switch-in); run-queue wait also counts preempted and new
//   threads. A wake reported after the thread already ran (the paths that
//   flush late, see os/sched/sched.ts) is counted in lateReports, not timed.
// - IPC: one-way = a message queued (IpcSend) to taken (IpcRecv, FIFO per
//   endpoint); round trip = a thread's send to its own next receive (a
//   request and its reply, from either side).
// - run queue: the kernel's reported length after every enqueue and pick;
//   mean is time-weighted over the run.
// - per-thread CPU time: switch-in to switch-out per stack id, exact; the
//   idle threads' time includes halted time.
// - I/O: IoSubmit to IoComplete per device (reported by drivers that emit
//   them, source "kernel"), and a device model's own service times (taking
//   a request to completing it, source "device"; the runner adds virtio-blk's).
import type { Observer } from './observer.ts';
import type { Stack, TrapFrame } from './x86/cpu.ts';
import { Histogram, type HistogramSummary } from './histogram.ts';
import { TraceEvent, PickPrev, TraceDevice } from './x86/trace-port.ts';

export interface MetricsOptions {
  /** Record the intervals for timelines and fairness (reports). */
  timeline?: boolean;
}

/** Intervals recorded with `timeline` (flat arrays, cycles). */
export interface Timeline {
  /** Running intervals: cpu, stack id, start, end (4 numbers each). */
  readonly runs: number[];
  /** Halted intervals: cpu, start, end. */
  readonly halts: number[];
  /** Runnable-waiting intervals: tid, start, end, kind (TraceEvent.Wake/Requeue/Spawn). */
  readonly waits: number[];
  /** Run-queue samples: cycles, length. */
  readonly runq: number[];
  /** Stack id -> name. */
  readonly names: Map<number, string>;
  /** Cycle of the run's first context switch (-1 if none): where the workload starts after boot. */
  firstSwitch: number;
}

export interface ThreadMetrics {
  tid: number;
  name: string;
  cpuCycles: number;
  switchesIn: number;
  wakeups: number;
  preemptions: number;
}

export interface CpuMetrics {
  cpu: number;
  /** Cycles not halted, and halted (busy + idle = the run's cycles). */
  busyCycles: number;
  idleCycles: number;
  /** Cycles each stack ran on this CPU, by stack id (sums to the run length). */
  threadCycles: Record<string, number>;
  switches: number;
  halts: number;
}

export interface MetricsSummary {
  cycles: number;
  cpuHz: number;
  cpus: CpuMetrics[];
  threads: ThreadMetrics[];
  syscalls: { num: number; name?: string; count: number; latency: HistogramSummary }[];
  interrupts: { count: number; latency: HistogramSummary; byVector: Record<string, number> };
  exceptions: { count: number; byVector: Record<string, number> };
  contextSwitch: { count: number; voluntary: number; involuntary: number; exits: number; fromIdle: number; unpicked: number; latency: HistogramSummary };
  scheduling: { wakeups: number; requeues: number; spawns: number; latency: HistogramSummary; runQueueWait: HistogramSummary; lateReports: number };
  runQueue: { max: number; mean: number; samples: number };
  ipc: { sends: number; receives: number; oneWay: HistogramSummary; roundTrip: HistogramSummary; maxQueueDepth: number };
  io: { device: string; source: 'kernel' | 'device'; submitted: number; completed: number; maxInFlight: number; latency: HistogramSummary }[];
  guestEvents: number;
}

interface ThreadAcc {
  name: string;
  cpuCycles: number;
  switchesIn: number;
  wakeups: number;
  preemptions: number;
}

interface IoAcc {
  submitted: number;
  completed: number;
  inFlight: number;
  maxInFlight: number;
  latency: Histogram;
  pending: Map<number, number>;
}

const IO_NAMES: Record<number, string> = { [TraceDevice.Blk]: 'blk', [TraceDevice.Net]: 'net' };

/** The machine as metrics see it: each CPU's current stack. */
export interface MetricsHost {
  readonly cpus: readonly { readonly stack: Stack }[];
  readonly cpuHz: number;
}

export class RunMetrics implements Observer {
  readonly syscallLatency = new Map<number, Histogram>();
  readonly irqLatency = new Histogram();
  readonly switchLatency = new Histogram();
  readonly schedLatency = new Histogram();
  readonly runQueueWait = new Histogram();
  readonly ipcOneWay = new Histogram();
  readonly ipcRoundTrip = new Histogram();
  readonly timeline: Timeline | null;

  private readonly threads = new Map<number, ThreadAcc>();
  private readonly trapStacks = new Map<number, number[]>();
  private readonly irqByVector = new Map<number, number>();
  private readonly excByVector = new Map<number, number>();
  private irqs = 0;
  private excs = 0;
  /** Per CPU: current stack id, its switch-in time, pending pick time (-1), halt start (-1). */
  private readonly curId: Int32Array;
  private readonly curStart: Float64Array;
  private readonly pickAt: Float64Array;
  private readonly pickPrev: Int8Array;
  private readonly haltAt: Float64Array;
  private readonly perCpuThread: Map<number, number>[];
  private readonly cpuSwitches: Uint32Array;
  private readonly cpuHalts: Uint32Array;
  private readonly cpuIdle: Float64Array;
  private switches = 0;
  private voluntary = 0;
  private involuntary = 0;
  private exits = 0;
  private fromIdle = 0;
  private unpicked = 0;
  /** tid -> runnable-since cycles * 4 + kind index (0 wake, 1 requeue, 2 spawn). */
  private readonly runnableAt = new Map<number, number>();
  private wakeups = 0;
  private requeues = 0;
  private spawns = 0;
  private lateReports = 0;
  private runq = 0;
  private runqAt = 0;
  private runqArea = 0;
  private runqMax = 0;
  private runqSamples = 0;
  /** endpoint*65536+seq -> send cycles. */
  private readonly inFlight = new Map<number, number>();
  /** tid -> cycles of its last send not yet followed by a receive. */
  private readonly lastSend = new Map<number, number>();
  private readonly epSent = new Map<number, number>();
  private readonly epRecv = new Map<number, number>();
  private sends = 0;
  private receives = 0;
  private maxDepth = 0;
  private readonly io = new Map<number, IoAcc>();
  private readonly deviceIo = new Map<string, Histogram>();
  private guestEvents = 0;

  constructor(
    private readonly host: MetricsHost,
    opts: MetricsOptions = {},
  ) {
    const n = host.cpus.length;
    this.curId = new Int32Array(n);
    this.curStart = new Float64Array(n);
    this.pickAt = new Float64Array(n).fill(-1);
    this.pickPrev = new Int8Array(n);
    this.haltAt = new Float64Array(n).fill(-1);
    this.cpuSwitches = new Uint32Array(n);
    this.cpuHalts = new Uint32Array(n);
    this.cpuIdle = new Float64Array(n);
    this.perCpuThread = [];
    this.timeline = opts.timeline ? { runs: [], halts: [], waits: [], runq: [], names: new Map(), firstSwitch: -1 } : null;
    for (let c = 0; c < n; c++) {
      const st = host.cpus[c].stack;
      this.curId[c] = st.id;
      this.perCpuThread.push(new Map());
      this.thread(st);
    }
  }

  private thread(st: Stack): ThreadAcc {
    let t = this.threads.get(st.id);
    if (t === undefined) {
      t = { name: st.name, cpuCycles: 0, switchesIn: 0, wakeups: 0, preemptions: 0 };
      this.threads.set(st.id, t);
      this.timeline?.names.set(st.id, st.name);
    }
    return t;
  }

  private charge(cpu: number, id: number, end: number): void {
    const d = end - this.curStart[cpu];
    if (d <= 0) return;
    const t = this.threads.get(id);
    if (t !== undefined) t.cpuCycles += d;
    const m = this.perCpuThread[cpu];
    m.set(id, (m.get(id) ?? 0) + d);
    if (this.timeline !== null) this.timeline.runs.push(cpu, id, this.curStart[cpu], end);
  }

  onSwitch(cpu: number, cycles: number, from: Stack, to: Stack): void {
    if (this.timeline !== null && this.timeline.firstSwitch < 0) this.timeline.firstSwitch = cycles;
    this.charge(cpu, from.id, cycles);
    this.curId[cpu] = to.id;
    this.curStart[cpu] = cycles;
    const t = this.thread(to);
    t.switchesIn++;
    this.switches++;
    this.cpuSwitches[cpu]++;
    if (this.pickAt[cpu] >= 0) {
      this.switchLatency.add(cycles - this.pickAt[cpu]);
      const prev = this.pickPrev[cpu];
      if (prev === PickPrev.Runnable) this.involuntary++;
      else if (prev === PickPrev.Sleeping) this.voluntary++;
      else if (prev === PickPrev.Exited) this.exits++;
      else this.fromIdle++;
      this.pickAt[cpu] = -1;
    } else this.unpicked++;
    this.ranNow(to.id, cycles);
  }

  /** Thread `id` starts running at `cycles`: ends its runnable wait. */
  private ranNow(id: number, cycles: number): void {
    const r = this.runnableAt.get(id);
    if (r === undefined) return;
    this.runnableAt.delete(id);
    const kind = r % 4;
    const since = (r - kind) / 4;
    const wait = cycles - since;
    if (wait < 0) {
      this.lateReports++;
      return;
    }
    this.runQueueWait.add(wait);
    if (kind === 0) this.schedLatency.add(wait);
    if (this.timeline !== null) this.timeline.waits.push(id, since, cycles, kind === 0 ? TraceEvent.Wake : kind === 1 ? TraceEvent.Requeue : TraceEvent.Spawn);
  }

  onTrap(cpu: number, cycles: number, tf: TrapFrame, _handler: string, raisedCycles: number): void {
    const id = this.host.cpus[cpu].stack.id;
    let s = this.trapStacks.get(id);
    if (s === undefined) {
      s = [];
      this.trapStacks.set(id, s);
    }
    s.push(tf.vector === 0x80 && tf.regs !== null ? tf.regs.rax : -1, cycles);
    if (raisedCycles >= 0) {
      this.irqs++;
      this.irqLatency.add(cycles - raisedCycles);
      this.irqByVector.set(tf.vector, (this.irqByVector.get(tf.vector) ?? 0) + 1);
    } else if (tf.vector < 32) {
      this.excs++;
      this.excByVector.set(tf.vector, (this.excByVector.get(tf.vector) ?? 0) + 1);
    }
  }

  onIret(cpu: number, cycles: number, _tf: TrapFrame): void {
    const s = this.trapStacks.get(this.host.cpus[cpu].stack.id);
    if (s === undefined || s.length === 0) return;
    const start = s.pop()!;
    const num = s.pop()!;
    if (num < 0) return;
    let h = this.syscallLatency.get(num);
    if (h === undefined) {
      h = new Histogram();
      this.syscallLatency.set(num, h);
    }
    h.add(cycles - start);
  }

  onHalt(cpu: number, cycles: number, halted: boolean): void {
    if (halted) {
      this.haltAt[cpu] = cycles;
      this.cpuHalts[cpu]++;
    } else if (this.haltAt[cpu] >= 0) {
      this.endHalt(cpu, cycles);
    }
  }

  private endHalt(cpu: number, cycles: number): void {
    const from = this.haltAt[cpu];
    this.cpuIdle[cpu] += Math.max(0, cycles - from);
    if (this.timeline !== null) this.timeline.halts.push(cpu, from, cycles);
    this.haltAt[cpu] = -1;
  }

  private setRunq(cycles: number, len: number): void {
    if (cycles > this.runqAt) {
      this.runqArea += this.runq * (cycles - this.runqAt);
      this.runqAt = cycles;
    }
    this.runq = len;
    this.runqSamples++;
    if (len > this.runqMax) this.runqMax = len;
    if (this.timeline !== null) this.timeline.runq.push(cycles, len);
  }

  onGuestEvent(cpu: number, cycles: number, code: number, arg: number): void {
    this.guestEvents++;
    switch (code) {
      case TraceEvent.Wake:
      case TraceEvent.Requeue:
      case TraceEvent.Spawn: {
        const tid = arg & 0xffff;
        const kind = code === TraceEvent.Wake ? 0 : code === TraceEvent.Requeue ? 1 : 2;
        if (kind === 0) this.wakeups++;
        else if (kind === 1) this.requeues++;
        else this.spawns++;
        const t = this.threads.get(tid);
        if (t !== undefined) {
          if (kind === 0) t.wakeups++;
          else if (kind === 1) t.preemptions++;
        }
        this.runnableAt.set(tid, cycles * 4 + kind);
        this.setRunq(cycles, arg >>> 16);
        return;
      }
      case TraceEvent.Pick: {
        this.setRunq(cycles, arg & 0xff);
        if (((arg >>> 10) & 1) === 1) {
          this.ranNow(this.host.cpus[cpu].stack.id, cycles); // re-picked the current thread: no switch
          return;
        }
        this.pickAt[cpu] = cycles;
        this.pickPrev[cpu] = (arg >>> 8) & 3;
        return;
      }
      case TraceEvent.IpcSend: {
        const ep = arg & 0xff;
        const seq = arg >>> 8;
        this.sends++;
        if (seq === 1) this.epRecv.set(ep, 0); // a new endpoint with a reused id
        this.epSent.set(ep, seq);
        this.inFlight.set(ep * 65536 + seq, cycles);
        this.lastSend.set(this.host.cpus[cpu].stack.id, cycles);
        const depth = (seq - (this.epRecv.get(ep) ?? 0) + 65536) % 65536;
        if (depth > this.maxDepth) this.maxDepth = depth;
        return;
      }
      case TraceEvent.IpcRecv: {
        const ep = arg & 0xff;
        const seq = arg >>> 8;
        this.receives++;
        this.epRecv.set(ep, seq);
        const key = ep * 65536 + seq;
        const sent = this.inFlight.get(key);
        if (sent !== undefined) {
          this.inFlight.delete(key);
          this.ipcOneWay.add(cycles - sent);
        }
        const id = this.host.cpus[cpu].stack.id;
        const mine = this.lastSend.get(id);
        if (mine !== undefined) {
          this.lastSend.delete(id);
          this.ipcRoundTrip.add(cycles - mine);
        }
        return;
      }
      case TraceEvent.IoSubmit:
      case TraceEvent.IoComplete: {
        const dev = arg & 0xff;
        let a = this.io.get(dev);
        if (a === undefined) {
          a = { submitted: 0, completed: 0, inFlight: 0, maxInFlight: 0, latency: new Histogram(), pending: new Map() };
          this.io.set(dev, a);
        }
        const tag = arg >>> 8;
        if (code === TraceEvent.IoSubmit) {
          a.submitted++;
          a.pending.set(tag, cycles);
          a.inFlight = a.pending.size;
          if (a.inFlight > a.maxInFlight) a.maxInFlight = a.inFlight;
        } else {
          a.completed++;
          const t0 = a.pending.get(tag);
          if (t0 !== undefined) {
            a.pending.delete(tag);
            a.latency.add(cycles - t0);
          }
          a.inFlight = a.pending.size;
        }
        return;
      }
      default:
        return;
    }
  }

  /** Adds a device model's service times (cycles per completed request), e.g. virtio-blk's fetch-to-used latencies. */
  deviceLatencies(device: string, cycles: readonly number[]): void {
    let h = this.deviceIo.get(device);
    if (h === undefined) this.deviceIo.set(device, (h = new Histogram()));
    for (const c of cycles) h.add(c);
  }

  /** I/O latency histograms: by kernel-reported device number, and by device-model name. */
  ioLatency(): Map<string, Histogram> {
    const out = new Map<string, Histogram>();
    for (const [dev, a] of [...this.io.entries()].sort((x, y) => x[0] - y[0])) out.set(IO_NAMES[dev] ?? `dev${dev}`, a.latency);
    for (const [name, h] of this.deviceIo) out.set(`${name} (device)`, h);
    return out;
  }

  private finished = -1;

  /** Closes the open intervals at the run's end (call once, after Machine.run). */
  finish(endCycles: number): void {
    if (this.finished >= 0) return;
    this.finished = endCycles;
    for (let c = 0; c < this.curId.length; c++) {
      this.charge(c, this.curId[c], endCycles);
      this.curStart[c] = endCycles;
      if (this.haltAt[c] >= 0) this.endHalt(c, endCycles);
    }
    this.setRunq(endCycles, this.runq);
    this.runqSamples--; // the closing sample is not a report
  }

  /** All figures as plain data (stable key order; syscall names from `names` when given). */
  summary(names: Record<number, string> = {}): MetricsSummary {
    const end = Math.max(0, this.finished);
    const byKey = (m: Map<number, number>): Record<string, number> => Object.fromEntries([...m.entries()].sort((a, b) => a[0] - b[0]).map(([k, v]) => [String(k), v]));
    return {
      cycles: end,
      cpuHz: this.host.cpuHz,
      cpus: this.perCpuThread.map((m, cpu) => {
        let ran = 0;
        for (const v of m.values()) ran += v;
        return { cpu, busyCycles: ran - this.cpuIdle[cpu], idleCycles: this.cpuIdle[cpu], threadCycles: byKey(m), switches: this.cpuSwitches[cpu], halts: this.cpuHalts[cpu] };
      }),
      threads: [...this.threads.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([tid, t]) => ({ tid, name: t.name, cpuCycles: t.cpuCycles, switchesIn: t.switchesIn, wakeups: t.wakeups, preemptions: t.preemptions })),
      syscalls: [...this.syscallLatency.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([num, h]) => (names[num] !== undefined ? { num, name: names[num], count: h.count, latency: h.summary() } : { num, count: h.count, latency: h.summary() })),
      interrupts: { count: this.irqs, latency: this.irqLatency.summary(), byVector: byKey(this.irqByVector) },
      exceptions: { count: this.excs, byVector: byKey(this.excByVector) },
      contextSwitch: { count: this.switches, voluntary: this.voluntary, involuntary: this.involuntary, exits: this.exits, fromIdle: this.fromIdle, unpicked: this.unpicked, latency: this.switchLatency.summary() },
      scheduling: { wakeups: this.wakeups, requeues: this.requeues, spawns: this.spawns, latency: this.schedLatency.summary(), runQueueWait: this.runQueueWait.summary(), lateReports: this.lateReports },
      runQueue: { max: this.runqMax, mean: end > 0 ? Math.round((this.runqArea / end) * 1000) / 1000 : 0, samples: this.runqSamples },
      ipc: { sends: this.sends, receives: this.receives, oneWay: this.ipcOneWay.summary(), roundTrip: this.ipcRoundTrip.summary(), maxQueueDepth: this.maxDepth },
      io: [
        ...[...this.io.entries()]
          .sort((a, b) => a[0] - b[0])
          .map(([dev, a]) => ({ device: IO_NAMES[dev] ?? `dev${dev}`, source: 'kernel' as const, submitted: a.submitted, completed: a.completed, maxInFlight: a.maxInFlight, latency: a.latency.summary() })),
        ...[...this.deviceIo.entries()].map(([device, h]) => ({ device, source: 'device' as const, submitted: h.count, completed: h.count, maxInFlight: 0, latency: h.summary() })),
      ],
      guestEvents: this.guestEvents,
    };
  }
}

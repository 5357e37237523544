// Paravirtual trace port: a write-only I/O port through which the guest
// kernel reports scheduler and IPC events the machine cannot see (when a
// thread became runnable, the run-queue length, which message a receive
// took), for metrics and traces. A paravirtual device in the manner of
// QEMU's isa-debugcon (hw/char/debugcon.c, a port that only guests aware of
// it write) and Bochs' port 0xE9 hack; nothing like it exists on real PCs.
//
// Protocol: one 32-bit OUT to TRACE_PORT per event, value = code << 24 | arg
// (24 bits); or a batch of such words in one op (outsl in sim/ops.ts, what
// REP OUTSD would send), which the kernel uses to flush its queued events. Byte and word writes, reads and the other three ports are
// ignored (reads return all ones). Every event is mixed into the trace hash
// like any device event, whether or not an observer is attached, so a run
// hashes the same with and without --trace or metrics.
//
// Cost: the OUT costs 0 cycles and asks no jitter decision (PortBus.freePort,
// checked in Cpu.exec): instrumentation must not change the timing it
// measures. It is still an op boundary (on SMP a Pick decision may fall
// there), so adding a trace point to the kernel changes decision ordinals.
//
// Port 0x520: QEMU's PC machines put nothing there (fw_cfg is 0x510-0x51b,
// pvpanic 0x505, debugcon 0x402 by convention).
import type { PortDevice } from './port-bus.ts';

export const TRACE_PORT = 0x520;

/**
 * Event codes (stable: they are a guest ABI and change trace hashes).
 * Arguments: tid = kernel thread id (Stack id), low 16 bits; runq = the
 * scheduler's run-queue length after the event, capped at 255.
 */
export const TraceEvent = {
  /** A sleeping thread became runnable. arg = tid | runq << 16. */
  Wake: 0x01,
  /** The running thread was put back on the run queue (preemption, yield). arg = tid | runq << 16. */
  Requeue: 0x02,
  /** A new thread became runnable. arg = tid | runq << 16. */
  Spawn: 0x03,
  /** The scheduler picked the next thread on this CPU. arg = runq | prev << 8 (Prev below) | (same ? 1 : 0) << 10, same = it re-picked the current thread. */
  Pick: 0x04,
  /** A message was queued on an IPC endpoint. arg = endpoint id (8 bits) | sequence number (16 bits, 1-based) << 8. */
  IpcSend: 0x05,
  /** A message was taken from an IPC endpoint (FIFO: the n-th received is the n-th sent). arg as IpcSend. */
  IpcRecv: 0x06,
  /** An I/O request was submitted to a device (block, net). arg = device (8 bits) | tag (16 bits) << 8. */
  IoSubmit: 0x07,
  /** An I/O request completed (seen by the driver). arg as IoSubmit. */
  IoComplete: 0x08,
} as const;

/** What became of the thread that was running when the scheduler picked (TraceEvent.Pick). */
export const PickPrev = { Runnable: 0, Sleeping: 1, Exited: 2, Idle: 3 } as const;

/** Device numbers for IoSubmit/IoComplete. */
export const TraceDevice = { Blk: 1, Net: 2 } as const;

/** Encodes one event word. */
export function traceWord(code: number, arg: number): number {
  return ((code & 0xff) << 24 | (arg & 0xffffff)) >>> 0;
}

/** The word for a thread becoming runnable (Wake, Requeue or Spawn). */
export function runnableWord(code: number, tid: number, runq: number): number {
  return traceWord(code, (tid & 0xffff) | (Math.min(255, Math.max(0, runq)) << 16));
}

export class TracePort implements PortDevice {
  readonly name = 'paravirt-trace';
  /** Events received. */
  events = 0;

  /** `onEvent(cpuIndex, code, arg)` is called for every event, synchronously with the OUT. */
  constructor(private readonly onEvent: (cpuIndex: number, code: number, arg: number) => void) {}

  portIn(): number {
    return 0xffffffff;
  }

  portOut(port: number, size: number, value: number, cpuIndex: number): void {
    if (port !== TRACE_PORT || size !== 4) return;
    const v = value >>> 0;
    this.events++;
    this.onEvent(cpuIndex, v >>> 24, v & 0xffffff);
  }
}

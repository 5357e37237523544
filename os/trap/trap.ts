// Trap dispatch: every IDT stub lands here with the hardware trap frame.
// - Exceptions in kernel mode are fatal, except #BP (int3: prints
//   `TRAP: ok` and returns) and the page fault that pf_test provokes.
//   The page-fault handler reports `PF: addr=0x<cr2> err=0x<code>` (seed M1).
// - Hardware interrupts: LAPIC timer (tick, preemption), reschedule IPI,
//   PIT IRQ 0 (LAPIC timer calibration), spurious. The interrupted thread's
//   irqDepth is raised while a handler runs (for the lock checker).
import { readCr, type Code } from '../../sim/ops.ts';
import { VECTOR_NAMES, TrapKind, type TrapFrame } from '../../sim/x86/cpu.ts';
import type { Kernel, PerCpu } from '../kstate.ts';
import { uartWrite } from '../drivers/uart.ts';
import { haltOk, panic } from '../panic.ts';
import { hex } from '../lib/mem.ts';
import { mycpu } from '../sync/spinlock.ts';
import { lapicEoi, lapicTimerCurrent, VEC_RESCHED, VEC_SPURIOUS, VEC_TIMER, VEC_TLB } from '../arch/lapic.ts';
import { syscall } from '../syscall/syscall.ts';
import { exitUserThread, userFault } from '../proc/process.ts';
import { FAULTED } from '../proc/uaccess.ts';
import { tlbIpi } from '../proc/tlb.ts';
import { mythread } from '../sync/spinlock.ts';
import type { Thread } from '../kstate.ts';
import { IRQ_BASE, ioapicRoute } from '../arch/ioapic.ts';
import { timerTick } from '../sched/sched.ts';
import { kprint } from '../console.ts';

export type IrqHandler = (k: Kernel, tf: TrapFrame) => Code<void>;

/**
 * The int 0x80 gate's own entry (a kernel's dedicated syscall stub): straight
 * to the syscall handler; anything else arriving on vector 0x80 takes the
 * common path.
 */
export function syscallEntry(k: Kernel, tf: TrapFrame): Code<void> {
  return tf.kind === TrapKind.Software ? syscall(k, tf) : trap(k, tf);
}

export function* trap(k: Kernel, tf: TrapFrame): Code<void> {
  const v = tf.vector;
  if (tf.kind === TrapKind.External) {
    const c: PerCpu | undefined = k.cpus.length > 0 ? yield mycpu(k) : undefined;
    const t = c?.current;
    if (t) t.irqDepth++;
    yield interrupt(k, tf);
    if (t) t.irqDepth--;
    // Returning to user mode: a killed thread exits here instead.
    if (tf.cpl === 3 && t !== undefined && t.killed) yield exitUserThread(k, t, -1);
    return;
  }
  if (tf.cpl === 3 && v < 32) {
    // A user fault kills only that process.
    const t: Thread = yield mythread(k);
    const cr2: number = v === 14 ? yield readCr(2) : 0;
    yield userFault(k, t, `${VECTOR_NAMES[v] ?? `vector ${v}`}${v === 14 ? ` addr=${hex(cr2)}` : ''} err=${hex(tf.errorCode)}`);
  }
  if (v === 14 && tf.cpl === 0 && k.cpus.length > 0) {
    const t: Thread = yield mythread(k);
    if (t.uaccess) {
      // A user-memory copy faulted: abandon the copy op; it returns FAULTED (the caller's EFAULT).
      tf.fixup = FAULTED;
      return;
    }
  }
  if (v === 3) {
    yield uartWrite('TRAP: ok\n');
    return;
  }
  if (v === 14) {
    const cr2: number = yield readCr(2);
    yield uartWrite(`PF: addr=${hex(cr2)} err=${hex(tf.errorCode)}\n`);
    if (k.opts.pfTest && tf.cpl === 0) yield haltOk();
    yield panic(v, `page fault in kernel mode at ${hex(cr2)} (${tf.from})`);
  }
  if (v < 32) {
    yield uartWrite(`TRAP: vector=${v} ${VECTOR_NAMES[v] ?? ''} err=${hex(tf.errorCode)} from=${tf.from}\n`);
    yield panic(v, `unexpected exception ${VECTOR_NAMES[v] ?? v} in kernel mode`);
  }
  yield panic(0xff, `unexpected software interrupt ${v}`);
}

function* interrupt(k: Kernel, tf: TrapFrame): Code<void> {
  const v = tf.vector;
  switch (v) {
    case VEC_TIMER: {
      yield lapicEoi(k);
      yield timerTick(k);
      return;
    }
    case VEC_RESCHED:
      yield lapicEoi(k);
      return; // the idle loop (or the return path) finds the new work
    case VEC_SPURIOUS:
      return; // no EOI for the spurious vector
    case VEC_TLB:
      yield tlbIpi(k);
      return;
    case IRQ_BASE: {
      // PIT IRQ 0: end of the LAPIC timer calibration window.
      if (k.calibrating) {
        const cur: number = yield lapicTimerCurrent(k);
        const per10ms = 0xffffffff - cur;
        k.lapicTicksPerTick = Math.max(1, Math.round((per10ms * 100) / k.hz));
        k.calibrating = false;
        yield ioapicRoute(k, 0, 0, true);
      }
      yield lapicEoi(k);
      return;
    }
    default: {
      const h = k.irqHandlers.get(v);
      if (h !== undefined) {
        yield h(k, tf);
        return;
      }
      yield lapicEoi(k);
      yield kprint(k, `IRQ: unexpected vector ${v}\n`);
    }
  }
}

// Trap dispatch: every IDT stub lands here with the hardware trap frame.
// Kernel-mode exceptions are fatal except #BP (int3: prints `TRAP: ok` and
// returns) and the page fault that the pf_test option provokes on purpose.
// The page-fault handler reports `PF: addr=0x<cr2> err=0x<code>` (seed M1).
import { readCr, type Code } from '../../sim/ops.ts';
import { VECTOR_NAMES, type TrapFrame } from '../../sim/x86/cpu.ts';
import type { Kernel } from '../kstate.ts';
import { uartWrite } from '../drivers/uart.ts';
import { haltOk, panic } from '../panic.ts';
import { hex } from '../lib/mem.ts';

export function* trap(k: Kernel, tf: TrapFrame): Code<void> {
  const v = tf.vector;
  if (v === 3) {
    yield* uartWrite('TRAP: ok\n');
    return;
  }
  if (v === 14) {
    const cr2: number = yield readCr(2);
    yield* uartWrite(`PF: addr=${hex(cr2)} err=${hex(tf.errorCode)}\n`);
    if (k.opts.pfTest && tf.cpl === 0) yield* haltOk();
    yield* panic(v, `page fault in kernel mode at ${hex(cr2)} (${tf.from})`);
  }
  if (v < 32) {
    yield* uartWrite(`TRAP: vector=${v} ${VECTOR_NAMES[v] ?? ''} err=${hex(tf.errorCode)} from=${tf.from}\n`);
    yield* panic(v, `unexpected exception ${VECTOR_NAMES[v] ?? v} in kernel mode`);
  }
  yield* panic(0xff, `unexpected interrupt vector ${v}`);
}

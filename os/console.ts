// The kernel console: whole strings under the console spinlock, so lines of
// different CPUs never mix. Before the scheduler exists (early boot, panic)
// code writes through uartWrite directly.
import type { Code } from '../sim/ops.ts';
import type { Kernel } from './kstate.ts';
import { uartWrite } from './drivers/uart.ts';
import { acquire, release } from './sync/spinlock.ts';

export function* kprint(k: Kernel, s: string): Code<void> {
  if (k.consoleLock === undefined) return yield uartWrite(s);
  yield acquire(k, k.consoleLock);
  yield uartWrite(s);
  yield release(k, k.consoleLock);
}

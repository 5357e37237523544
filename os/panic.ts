// Kernel panic and clean halt. Both print their seed marker on the serial
// console and leave through isa-debug-exit (port 0xf4).
import { cli, hlt, outb, type Code } from '../sim/ops.ts';
import { uartWrite } from './drivers/uart.ts';

/** Prints `RUGO: panic code=0x<code>` (after a `PANIC: <why>` line, or the line `why` itself when `raw`) and exits with value 1. Never returns. */
export function* panic(code: number, why = '', raw = false): Code<never> {
  yield cli();
  if (why !== '') yield uartWrite(raw ? `${why}\n` : `PANIC: ${why}\n`);
  yield uartWrite(`RUGO: panic code=0x${(code >>> 0).toString(16)}\n`);
  yield outb(0xf4, 1);
  for (;;) yield hlt();
}

/** Prints `RUGO: halt ok` and exits with value 0. Never returns. */
export function* haltOk(): Code<never> {
  yield cli();
  yield uartWrite('RUGO: halt ok\n');
  yield outb(0xf4, 0);
  for (;;) yield hlt();
}

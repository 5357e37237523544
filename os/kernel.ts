// The Rugo kernel (TypeScript lane): its code image and kmain.
// The image is built per machine: every symbol closes over one Kernel object,
// so two machines in one process share nothing.
import { CodeImage, type EntryFn } from '../sim/code.ts';
import { int3, store32, type Code } from '../sim/ops.ts';
import type { TrapFrame } from '../sim/x86/cpu.ts';
import { Kernel } from './kstate.ts';
import { readHandoff } from './boot/handoff.ts';
import { parseCmdline } from './options.ts';
import { FrameAllocator } from './mm/pmm.ts';
import { initPaging } from './mm/paging.ts';
import { initIdt, INSTALLED_VECTORS } from './trap/idt.ts';
import { trap } from './trap/trap.ts';
import { uartInit, uartWrite } from './drivers/uart.ts';
import { haltOk, panic } from './panic.ts';

export const KERNEL_ENTRY = 'kmain';
/** An address the kernel never maps (pf_test writes there). */
export const PF_TEST_ADDR = 0xdeadb000;

/** kmain: runs on the BSP with IF = 0 on the bootloader's page tables; `handoffVa` is the handoff block. */
function* kmain(k: Kernel, handoffVa: number): Code<void> {
  yield* uartInit();
  yield* uartWrite('RUGO: boot ok\n');
  const boot = yield* readHandoff(handoffVa);
  if (typeof boot === 'string') return yield* panic(0xb0, `boot handoff: ${boot}`);
  k.boot = boot;
  k.hhdm = boot.hhdmOffset;
  k.opts = parseCmdline(boot.cmdline);
  if (k.opts.unknown.length > 0) yield* uartWrite(`RUGO: unknown options ignored: ${k.opts.unknown.join(' ')}\n`);
  k.pmm = new FrameAllocator(boot.memmap);
  const on: boolean = yield* initPaging(k);
  if (!on) return yield* panic(0x50, 'paging did not switch to the kernel page tables');
  yield* uartWrite('MM: paging=on\n');
  yield* initIdt(k);
  if (k.opts.panicTest) yield* panic(0x1, 'panic_test requested');
  if (k.opts.trapTest) yield int3();
  if (k.opts.pfTest) yield store32(PF_TEST_ADDR, 0x1);
  yield* haltOk();
}

/** Builds a fresh kernel image (and its state object). */
export function createKernel(): { image: CodeImage; kernel: Kernel } {
  const k = new Kernel();
  const entries: [string, EntryFn][] = [[KERNEL_ENTRY, (arg: number) => kmain(k, arg)]];
  for (const v of INSTALLED_VECTORS) entries.push([`isr${v}`, (tf: TrapFrame) => trap(k, tf)]);
  k.image = new CodeImage('rugo', entries);
  return { image: k.image, kernel: k };
}

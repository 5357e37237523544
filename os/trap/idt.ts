// The kernel's IDT: 256 16-byte gates in one page (Intel SDM vol. 3A
// §6.14.1, figure 6-8: offset 15:0, segment selector, IST, type/DPL/P,
// offset 31:16, offset 63:32, reserved). Exceptions and IRQs use interrupt
// gates (IF cleared on entry); int 0x80 is an interrupt gate with DPL 3 so
// ring 3 may invoke it. Unused vectors stay not-present.
import { lidt, store32, store64Halves, type Code } from '../../sim/ops.ts';
import { vaHalves } from '../../sim/x86/address.ts';
import type { Kernel } from '../kstate.ts';
import { allocZeroedFrame } from '../mm/paging.ts';

/** Limine's GDT: 64-bit kernel code segment selector. */
export const KERNEL_CS = 0x28;
export const GATE_INTERRUPT = 0xe;
export const GATE_TRAP = 0xf;

/** Vectors the kernel installs: exceptions 0-31, IRQs 32-47, the syscall gate, IPIs and the spurious vector. */
export const SYSCALL_VECTOR = 0x80;
export const INSTALLED_VECTORS: readonly number[] = [
  ...Array.from({ length: 48 }, (_, i) => i),
  SYSCALL_VECTOR,
  ...Array.from({ length: 16 }, (_, i) => 0xf0 + i),
];

/**
 * Writes gate `vector` of the IDT at `idtVa`: its low quadword (offset
 * 15:0, selector, attributes, offset 31:16) with one 8-byte store, then
 * offset 63:32 (the page is zero, so the reserved dword stays 0).
 */
export function* writeGate(idtVa: number, vector: number, handlerVa: number, dpl: number, type: number): Code<void> {
  const w = gateWords(handlerVa, dpl, type);
  const g = idtVa + vector * 16;
  yield store64Halves(g, w[0], w[1]);
  yield store32(g + 8, w[2]);
}

/** A gate's first three dwords: offset 15:0 and the selector, the attributes and offset 31:16, offset 63:32. */
function gateWords(handlerVa: number, dpl: number, type: number): [number, number, number] {
  const [lo, hi] = vaHalves(handlerVa);
  return [(lo & 0xffff) | (KERNEL_CS << 16), ((lo & 0xffff0000) | ((0x80 | (dpl << 5) | type) << 8)) >>> 0, hi];
}

/** Allocates the IDT page, fills the installed gates with the kernel's stubs (`isr<N>`), and loads IDTR. */
export function* initIdt(k: Kernel): Code<void> {
  const pa: number = yield allocZeroedFrame(k);
  const va = k.p2v(pa);
  for (const v of INSTALLED_VECTORS) {
    // writeGate's two stores, written out here (no generator call per gate; the same instructions)
    const w = gateWords(k.sym(`isr${v}`), v === SYSCALL_VECTOR ? 3 : 0, GATE_INTERRUPT);
    yield store64Halves(va + v * 16, w[0], w[1]);
    yield store32(va + v * 16 + 8, w[2]);
  }
  yield lidt(va, 256 * 16 - 1);
  k.idtVa = va;
}

// IOAPIC driver (82093AA datasheet §3: IOREGSEL/IOWIN, IOREDTBL entries):
// routes an ISA IRQ (through QEMU's override IRQ0 -> GSI 2) to a vector on a CPU.
import { store32, type Code } from '../../sim/ops.ts';
import type { Kernel } from '../kstate.ts';

export const IOAPIC_PHYS = 0xfec00000;
/** ISA IRQ n arrives at vector 32 + n. */
export const IRQ_BASE = 32;

export function isaPin(irq: number): number {
  return irq === 0 ? 2 : irq;
}

function* write(k: Kernel, index: number, value: number): Code<void> {
  yield store32(k.p2v(IOAPIC_PHYS), index);
  yield store32(k.p2v(IOAPIC_PHYS) + 0x10, value);
}

/** Routes ISA IRQ `irq` to vector IRQ_BASE + irq on APIC `apicId` (edge, active high), or masks it. */
export function* ioapicRoute(k: Kernel, irq: number, apicId: number, masked = false, level = false): Code<void> {
  const pin = isaPin(irq);
  yield write(k, 0x10 + 2 * pin + 1, apicId << 24);
  yield write(k, 0x10 + 2 * pin, (IRQ_BASE + irq) | (level ? 1 << 15 : 0) | (masked ? 1 << 16 : 0));
}

// PIT 8254 use: calibrating the LAPIC timer. Counter 0 in mode 0 (interrupt
// on terminal count) for 10 ms (11932 input ticks at 1.193182 MHz); the IRQ
// handler reads how far the LAPIC timer counted meanwhile.
import { outb, type Code } from '../../sim/ops.ts';

export const PIT_HZ = 1193182;
export const CAL_COUNT = 11932; // 10 ms

/** Masks both legacy PICs (the kernel uses the IOAPIC), after remapping them away from the exception vectors. */
export function* picDisable(): Code<void> {
  yield outb(0x20, 0x11);
  yield outb(0xa0, 0x11);
  yield outb(0x21, 0x20);
  yield outb(0xa1, 0x28);
  yield outb(0x21, 0x04);
  yield outb(0xa1, 0x02);
  yield outb(0x21, 0x01);
  yield outb(0xa1, 0x01);
  yield outb(0x21, 0xff);
  yield outb(0xa1, 0xff);
}

/** Starts counter 0, mode 0, with `count`. */
export function* pitOneShot(count: number): Code<void> {
  yield outb(0x43, 0x30);
  yield outb(0x40, count & 0xff);
  yield outb(0x40, (count >> 8) & 0xff);
}

// The legacy 8259A PIC pair (master 0x20/0x21, slave 0xA0/0xA1).
// Spec: Intel 8259A datasheet (ICW1-ICW4 initialization sequence, OCW1 =
// interrupt mask register, OCW2 EOI, OCW3 read IRR/ISR).
// This machine routes interrupts through the IOAPIC (as QEMU q35 with an
// APIC-mode kernel does), so the PICs are modelled for their registers: a
// kernel remaps and masks them exactly as on real hardware. IRQs reaching an
// unmasked PIC are counted, not delivered (the LINT0 ExtINT path is not
// modelled); docs/architecture.md says so.
import type { PortDevice } from './port-bus.ts';

interface Chip {
  imr: number;
  icwStep: number; // 0 = ready; 2..4 = expecting ICW2..ICW4
  icw4: boolean;
  vectorBase: number;
  readIsr: boolean;
}

export class Pic8259Pair implements PortDevice {
  readonly name = 'pic8259';
  private readonly chips: Chip[] = [
    { imr: 0, icwStep: 0, icw4: false, vectorBase: 0x08, readIsr: false },
    { imr: 0, icwStep: 0, icw4: false, vectorBase: 0x70, readIsr: false },
  ];
  /** IRQs raised while the PIC had them unmasked (not delivered in APIC mode). */
  undeliveredIrqs = 0;

  /** Master and slave vector bases as programmed by ICW2. */
  get vectorBases(): [number, number] {
    return [this.chips[0].vectorBase, this.chips[1].vectorBase];
  }

  /** Interrupt mask registers (master, slave). */
  get masks(): [number, number] {
    return [this.chips[0].imr, this.chips[1].imr];
  }

  /** An ISA IRQ line rose; counted if the PIC would have taken it. */
  irq(line: number): void {
    const chip = this.chips[line < 8 ? 0 : 1];
    if ((chip.imr & (1 << (line & 7))) === 0) this.undeliveredIrqs++;
  }

  portIn(port: number): number {
    const chip = this.chips[port >= 0xa0 ? 1 : 0];
    if ((port & 1) === 1) return chip.imr;
    return 0; // IRR / ISR: nothing latched in APIC mode
  }

  portOut(port: number, _size: number, value: number): void {
    const chip = this.chips[port >= 0xa0 ? 1 : 0];
    const v = value & 0xff;
    if ((port & 1) === 0) {
      if ((v & 0x10) !== 0) {
        // ICW1
        chip.icwStep = 2;
        chip.icw4 = (v & 1) !== 0;
        chip.imr = 0;
      } else if ((v & 0x18) === 0x08) chip.readIsr = (v & 3) === 3; // OCW3
      return; // OCW2 (EOI) needs no state here
    }
    switch (chip.icwStep) {
      case 2:
        chip.vectorBase = v & 0xf8;
        chip.icwStep = 3;
        return;
      case 3:
        chip.icwStep = chip.icw4 ? 4 : 0;
        return;
      case 4:
        chip.icwStep = 0;
        return;
      default:
        chip.imr = v; // OCW1
    }
  }
}

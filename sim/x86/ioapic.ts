// I/O APIC (82093AA) at physical 0xFEC00000 with 24 redirection entries.
// Spec: Intel 82093AA I/O APIC datasheet §3.0 (IOREGSEL at 0x00, IOWIN at
// 0x10; registers IOAPICID 0x00, IOAPICVER 0x01, IOAPICARB 0x02,
// IOREDTBL[n] at 0x10 + 2n: vector 7:0, delivery mode 10:8, destination mode
// 11, delivery status 12, polarity 13, remote IRR 14, trigger mode 15, mask
// 16, destination 63:56). Edge- and level-triggered inputs; a level input
// is re-delivered after the EOI broadcast while it stays asserted.
// Not modelled: logical destination mode, lowest-priority arbitration.
import type { MmioDevice } from './mmio-bus.ts';
import type { InterruptHost } from './interrupt-host.ts';

export const IOAPIC_BASE = 0xfec00000;
export const IOAPIC_SIZE = 0x20;
export const IOAPIC_PINS = 24;
/** ISA IRQ -> IOAPIC pin (QEMU's MADT interrupt source override: IRQ 0 -> GSI 2). */
export function isaIrqToPin(irq: number): number {
  return irq === 0 ? 2 : irq;
}

const MASK = 1 << 16;
const LEVEL = 1 << 15;
const REMOTE_IRR = 1 << 14;

export class IoApic implements MmioDevice {
  readonly name = 'ioapic';
  private sel = 0;
  private readonly lo = new Uint32Array(IOAPIC_PINS).fill(MASK);
  private readonly hi = new Uint32Array(IOAPIC_PINS);
  private readonly line = new Uint8Array(IOAPIC_PINS);
  /** Interrupts delivered per pin. */
  readonly delivered = new Uint32Array(IOAPIC_PINS);

  constructor(private readonly host: InterruptHost) {}

  /** Drives input pin `pin` to `level` (true = asserted). */
  setLine(pin: number, level: boolean): void {
    if (pin < 0 || pin >= IOAPIC_PINS) throw new Error(`ioapic: pin ${pin} out of range`);
    const was = this.line[pin] !== 0;
    this.line[pin] = level ? 1 : 0;
    const e = this.lo[pin];
    if ((e & LEVEL) !== 0) {
      if (level) this.tryDeliver(pin);
    } else if (level && !was) {
      this.tryDeliver(pin);
    }
  }

  private tryDeliver(pin: number): void {
    const e = this.lo[pin];
    if ((e & MASK) !== 0) return;
    const level = (e & LEVEL) !== 0;
    if (level && (e & REMOTE_IRR) !== 0) return;
    if (level) this.lo[pin] = e | REMOTE_IRR;
    this.delivered[pin]++;
    this.host.hashDevice(0x10a0 + pin, e & 0xff);
    this.host.deliver(this.hi[pin] >>> 24, e & 0xff, level, -1, false);
  }

  /** EOI broadcast from a local APIC: clears remote IRR of level entries with that vector. */
  eoi(vector: number): void {
    for (let pin = 0; pin < IOAPIC_PINS; pin++) {
      const e = this.lo[pin];
      if ((e & LEVEL) !== 0 && (e & 0xff) === vector && (e & REMOTE_IRR) !== 0) {
        this.lo[pin] = e & ~REMOTE_IRR;
        if (this.line[pin] !== 0) this.tryDeliver(pin);
      }
    }
  }

  mmioRead(offset: number): number {
    if (offset === 0) return this.sel;
    if (offset !== 0x10) return 0;
    const r = this.sel;
    if (r === 0) return 0; // IOAPIC ID 0
    if (r === 1) return ((IOAPIC_PINS - 1) << 16) | 0x11;
    if (r === 2) return 0;
    if (r >= 0x10 && r < 0x10 + 2 * IOAPIC_PINS) {
      const pin = (r - 0x10) >> 1;
      return (r & 1) === 0 ? this.lo[pin] : this.hi[pin];
    }
    return 0;
  }

  mmioWrite(offset: number, _size: number, value: number): void {
    if (offset === 0) {
      this.sel = value & 0xff;
      return;
    }
    if (offset !== 0x10) return;
    const r = this.sel;
    if (r >= 0x10 && r < 0x10 + 2 * IOAPIC_PINS) {
      const pin = (r - 0x10) >> 1;
      if ((r & 1) === 0) {
        // delivery status and remote IRR are read-only
        this.lo[pin] = (value & ~(REMOTE_IRR | (1 << 12))) | (this.lo[pin] & REMOTE_IRR);
        if (this.line[pin] !== 0 && (this.lo[pin] & LEVEL) !== 0) this.tryDeliver(pin);
      } else this.hi[pin] = value >>> 0;
    }
  }
}

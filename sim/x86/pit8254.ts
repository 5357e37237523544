// Intel 8254 programmable interval timer, input clock 1.193182 MHz.
// Spec: Intel 8254 datasheet ("Control word format": SC1:SC0 counter select,
// RW1:RW0 read/write mode, M2:M0 mode, BCD; "Counter latch command"; modes 0
// interrupt on terminal count, 2 rate generator, 3 square wave). Ports
// 0x40-0x42 are counters 0-2, 0x43 the control word. Counter 0's OUT drives
// ISA IRQ 0; counter 2's gate and OUT are at port 0x61 bits 0 and 5.
// Event times are integer cycles: the Nth period ends at
// floor(start + N * reload * cpuHz / 1193182), so periods never drift.
// Not modelled: BCD counting, modes 1, 4 and 5, read-back command.
import type { PortDevice } from './port-bus.ts';
import type { InterruptHost } from './interrupt-host.ts';
import { mulDivFloor } from '../time.ts';

export const PIT_HZ = 1_193_182;

interface Counter {
  mode: number;
  rw: number; // 1 = LSB, 2 = MSB, 3 = LSB then MSB
  reload: number; // 0 means 65536
  writeLow: boolean; // next write is the low byte (rw = 3)
  readLow: boolean;
  latched: number; // -1 when no latch
  start: number; // cycle when counting started
  armed: boolean;
  gen: number;
}

export class Pit8254 implements PortDevice {
  readonly name = 'pit8254';
  private readonly ch: Counter[] = [0, 1, 2].map(() => ({ mode: 0, rw: 3, reload: 0, writeLow: true, readLow: true, latched: -1, start: 0, armed: false, gen: 0 }));
  private gate2 = false;
  /** IRQ 0 pulses raised. */
  irq0Count = 0;

  constructor(
    private readonly host: InterruptHost,
    private readonly raiseIrq0: () => void,
  ) {}

  private periodTicks(c: Counter): number {
    return c.reload === 0 ? 65536 : c.reload;
  }

  private elapsedTicks(c: Counter): number {
    return mulDivFloor(this.host.now() - c.start, PIT_HZ, this.host.cpuHz);
  }

  private count(c: Counter): number {
    if (!c.armed) return c.reload;
    const p = this.periodTicks(c);
    const e = this.elapsedTicks(c);
    if (c.mode === 0) return e >= p ? (0x10000 - ((e - p) % 0x10000)) & 0xffff : p - e;
    return p - (e % p);
  }

  private arm(index: number): void {
    const c = this.ch[index];
    c.armed = true;
    c.start = this.host.now();
    const gen = ++c.gen;
    if (index !== 0) return; // only counter 0 drives an interrupt line
    const p = this.periodTicks(c);
    let n = 1;
    const fire = (): void => {
      if (gen !== c.gen) return;
      this.irq0Count++;
      this.raiseIrq0();
      if (c.mode === 2 || c.mode === 3) {
        n++;
        this.host.at(c.start + mulDivFloor(n * p, this.host.cpuHz, PIT_HZ), fire);
      }
    };
    this.host.at(c.start + mulDivFloor(p, this.host.cpuHz, PIT_HZ), fire);
  }

  portIn(port: number): number {
    if (port === 0x61) {
      const c = this.ch[2];
      const out2 = c.armed && this.gate2 && c.mode === 0 && this.elapsedTicks(c) >= this.periodTicks(c);
      return (this.gate2 ? 1 : 0) | (out2 ? 0x20 : 0);
    }
    const i = port - 0x40;
    if (i < 0 || i > 2) return 0xff;
    const c = this.ch[i];
    const v = c.latched >= 0 ? c.latched : this.count(c);
    if (c.rw === 1) {
      c.latched = -1;
      return v & 0xff;
    }
    if (c.rw === 2) {
      c.latched = -1;
      return (v >> 8) & 0xff;
    }
    if (c.readLow) {
      c.readLow = false;
      if (c.latched < 0) c.latched = v; // both bytes of one value
      return v & 0xff;
    }
    c.readLow = true;
    c.latched = -1;
    return (v >> 8) & 0xff;
  }

  portOut(port: number, _size: number, value: number): void {
    const v = value & 0xff;
    if (port === 0x61) {
      const was = this.gate2;
      this.gate2 = (v & 1) !== 0;
      if (this.gate2 && !was) this.arm(2);
      return;
    }
    if (port === 0x43) {
      const sel = v >> 6;
      if (sel === 3) return; // read-back command: not modelled
      const c = this.ch[sel];
      const rw = (v >> 4) & 3;
      if (rw === 0) {
        c.latched = this.count(c); // counter latch command
        c.readLow = true;
        return;
      }
      c.rw = rw;
      c.mode = (v >> 1) & 7;
      if (c.mode > 5) c.mode -= 4; // modes 6 and 7 alias 2 and 3
      c.writeLow = true;
      c.readLow = true;
      c.latched = -1;
      c.armed = false;
      c.gen++;
      return;
    }
    const i = port - 0x40;
    if (i < 0 || i > 2) return;
    const c = this.ch[i];
    if (c.rw === 1) c.reload = (c.reload & 0xff00) | v;
    else if (c.rw === 2) c.reload = (c.reload & 0xff) | (v << 8);
    else if (c.writeLow) {
      c.reload = (c.reload & 0xff00) | v;
      c.writeLow = false;
      return; // counting starts after the high byte
    } else {
      c.reload = (c.reload & 0xff) | (v << 8);
      c.writeLow = true;
    }
    if (i !== 2 || this.gate2) this.arm(i);
  }
}

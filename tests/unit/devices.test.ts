// Device models: 16550 UART, isa-debug-exit, the port and MMIO buses, the
// 8254 PIT and the local APIC timer, driven directly (with a fake interrupt
// host over a real EventQueue) and through the machine.
import { describe, expect, it } from 'vitest';
import { EventQueue } from '../../sim/event-queue.ts';
import { compute, inb, inl, inw, outb, type Code } from '../../sim/ops.ts';
import { Uart16550, COM1_BASE, LSR, UART_REG } from '../../sim/x86/uart16550.ts';
import { DebugExit, DEBUG_EXIT_PORT } from '../../sim/x86/debug-exit.ts';
import { PortBus, type PortDevice } from '../../sim/x86/port-bus.ts';
import { MmioBus, type MmioDevice } from '../../sim/x86/mmio-bus.ts';
import { Pit8254, PIT_HZ } from '../../sim/x86/pit8254.ts';
import { Lapic, LapicReg } from '../../sim/x86/lapic.ts';
import type { InterruptHost } from '../../sim/x86/interrupt-host.ts';
import { GuestKit, exit } from '../helpers/guest.ts';

/** An interrupt host backed by an EventQueue: the clock is the time of the event being run. */
class FakeHost implements InterruptHost {
  readonly queue = new EventQueue();
  nowCycles = 0;
  readonly delivered: { apicId: number; vector: number }[] = [];
  constructor(readonly cpuHz = 1_000_000_000) {}
  now(): number {
    return this.nowCycles;
  }
  at(atCycles: number, action: (nowCycles: number) => void): number {
    return this.queue.push(Math.max(atCycles, this.nowCycles), action);
  }
  deliver(apicId: number, vector: number): void {
    this.delivered.push({ apicId, vector });
  }
  eoiBroadcast(): void {}
  hashDevice(): void {}
  /** Runs events up to and including cycle `limit`, then sets the clock to `limit`. */
  runUntil(limit: number): void {
    while (this.queue.size > 0 && this.queue.peekCycles() <= limit) {
      const t = this.queue.peekCycles();
      this.nowCycles = t;
      this.queue.pop()(t);
    }
    this.nowCycles = limit;
  }
}

/** floor(n * reload * cpuHz / PIT_HZ), exactly. */
function pitTime(n: number, reload: number, cpuHz: number): number {
  return Number((BigInt(n) * BigInt(reload) * BigInt(cpuHz)) / BigInt(PIT_HZ));
}

describe('16550 UART', () => {
  function uart(): { u: Uart16550; out: number[]; irq: boolean[] } {
    const out: number[] = [];
    const irq: boolean[] = [];
    return { u: new Uart16550(COM1_BASE, (b) => out.push(b), (l) => irq.push(l)), out, irq };
  }
  const P = (reg: number): number => COM1_BASE + reg;

  it('bytes written to THR reach the output, masked to 8 bits', () => {
    const { u, out } = uart();
    for (const b of [0x68, 0x69, 0x0a, 0x1ff]) u.portOut(P(UART_REG.RBR_THR), 1, b);
    expect(out).toEqual([0x68, 0x69, 0x0a, 0xff]);
    expect(u.txCount).toBe(4);
  });

  it('LSR always reports THRE | TEMT (instant transmission), plus DR when a byte was received', () => {
    const { u } = uart();
    expect(u.portIn(P(UART_REG.LSR), 1)).toBe(LSR.THRE | LSR.TEMT);
    u.portOut(P(UART_REG.RBR_THR), 1, 0x41);
    expect(u.portIn(P(UART_REG.LSR), 1)).toBe(0x60);
    u.receive(0x7a);
    expect(u.portIn(P(UART_REG.LSR), 1)).toBe(LSR.THRE | LSR.TEMT | LSR.DR);
    expect(u.portIn(P(UART_REG.RBR_THR), 1)).toBe(0x7a);
    expect(u.portIn(P(UART_REG.LSR), 1)).toBe(0x60);
  });

  it('a full receive FIFO sets OE, which clears on read', () => {
    const { u } = uart();
    for (let i = 0; i < 17; i++) u.receive(i);
    expect(u.portIn(P(UART_REG.LSR), 1) & LSR.OE).toBe(LSR.OE);
    expect(u.portIn(P(UART_REG.LSR), 1) & LSR.OE).toBe(0);
    const got = Array.from({ length: 16 }, () => u.portIn(P(UART_REG.RBR_THR), 1));
    expect(got).toEqual(Array.from({ length: 16 }, (_, i) => i));
  });

  it('LCR.DLAB switches offsets 0 and 1 to the divisor latch (DLL/DLM); THR writes do not transmit then', () => {
    const { u, out } = uart();
    u.portOut(P(UART_REG.IER), 1, 0x01); // IER with DLAB = 0
    u.portOut(P(UART_REG.LCR), 1, 0x83); // DLAB, 8N1
    u.portOut(P(0), 1, 0x0c);
    u.portOut(P(1), 1, 0x02);
    expect(out).toEqual([]);
    expect(u.portIn(P(0), 1)).toBe(0x0c);
    expect(u.portIn(P(1), 1)).toBe(0x02);
    expect(u.divisor).toBe(0x020c);
    u.portOut(P(UART_REG.LCR), 1, 0x03);
    expect(u.portIn(P(UART_REG.LCR), 1)).toBe(0x03);
    expect(u.portIn(P(UART_REG.IER), 1)).toBe(0x01); // IER kept
    u.portOut(P(0), 1, 0x55);
    expect(out).toEqual([0x55]);
    expect(u.divisor).toBe(0x020c);
  });

  it('the scratch register round-trips', () => {
    const { u } = uart();
    for (const v of [0x00, 0x5a, 0xa5, 0xff]) {
      u.portOut(P(UART_REG.SCR), 1, v);
      expect(u.portIn(P(UART_REG.SCR), 1)).toBe(v);
    }
  });

  it('THR-empty and received-data interrupts go out on the IRQ line only with MCR.OUT2; reading IIR clears THRE', () => {
    const { u, irq } = uart();
    u.portOut(P(UART_REG.IER), 1, 0x02); // ETBEI, OUT2 still off
    expect(irq[irq.length - 1]).toBe(false);
    u.portOut(P(UART_REG.MCR), 1, 0x08); // OUT2
    u.portOut(P(UART_REG.RBR_THR), 1, 0x31);
    expect(irq[irq.length - 1]).toBe(true);
    expect(u.portIn(P(UART_REG.IIR_FCR), 1)).toBe(0x02);
    expect(irq[irq.length - 1]).toBe(false);
    expect(u.portIn(P(UART_REG.IIR_FCR), 1)).toBe(0x01); // nothing pending
    u.portOut(P(UART_REG.IER), 1, 0x01); // ERBFI
    u.receive(0x20);
    expect(irq[irq.length - 1]).toBe(true);
    expect(u.portIn(P(UART_REG.IIR_FCR), 1)).toBe(0x04);
    u.portIn(P(UART_REG.RBR_THR), 1);
    expect(irq[irq.length - 1]).toBe(false);
  });
});

describe('isa-debug-exit', () => {
  it('exit status is (value << 1) | 1 of the written width', () => {
    const got: [number, number][] = [];
    const d = new DebugExit((status, value) => got.push([status, value]));
    d.portOut(DEBUG_EXIT_PORT, 1, 0);
    d.portOut(DEBUG_EXIT_PORT, 1, 0x10);
    d.portOut(DEBUG_EXIT_PORT, 1, 0x1ff); // byte write: 0xff
    d.portOut(DEBUG_EXIT_PORT, 2, 0x1234);
    expect(got).toEqual([
      [1, 0],
      [0x21, 0x10],
      [0x1ff, 0xff],
      [0x2469, 0x1234],
    ]);
    expect(d.portIn()).toBe(0xffffffff);
  });

  it('through the machine: outb(0xf4, v) stops the run with debug-exit and status (v << 1) | 1', () => {
    for (const v of [0, 1, 0x31, 0xff]) {
      const k = new GuestKit();
      const r = k.run([
        [
          'entry',
          function* (): Code<void> {
            yield compute(100);
            yield outb(DEBUG_EXIT_PORT, v);
            k.log.push('after exit');
            yield compute(1_000_000);
          },
        ],
      ]);
      expect(r.stopReason).toBe('debug-exit');
      expect(r.exitStatus).toBe((v << 1) | 1);
      expect(r.message).toContain(`status ${(v << 1) | 1}`);
      expect(k.log).toEqual([]);
      expect(r.cycles).toBeLessThan(10_000);
    }
  });
});

describe('UART and ports through the machine', () => {
  it('guest output reaches serial text, onSerialByte and onSerialLine; unclaimed ports read all ones and are counted', () => {
    const k = new GuestKit();
    const bytes: number[] = [];
    const lines: string[] = [];
    const r = k.run([
      [
        'entry',
        function* (): Code<void> {
          k.machine.onSerialByte = (b) => bytes.push(b);
          k.machine.onSerialLine = (l) => lines.push(l);
          for (const c of 'ok\nab') yield outb(COM1_BASE, c.charCodeAt(0));
          k.log.push(yield inb(COM1_BASE + UART_REG.LSR));
          k.log.push(yield inb(0x2f8)); // COM2: nothing there
          k.log.push(yield inw(0x2f8));
          k.log.push(yield inl(0x2f8));
          yield outb(0x2f8, 1);
          yield* exit(0);
        },
      ],
    ]);
    expect(r.stopReason).toBe('debug-exit');
    expect(r.serial).toBe('ok\nab');
    expect(bytes).toEqual([0x6f, 0x6b, 0x0a, 0x61, 0x62]);
    expect(lines).toEqual(['ok']);
    expect(k.log).toEqual([0x60, 0xff, 0xffff, 0xffffffff]);
    expect(r.unclaimedPortReads).toBe(3);
    expect(r.unclaimedPortWrites).toBe(1);
  });
});

describe('port bus', () => {
  const dev = (name: string, value = 0x12): PortDevice & { writes: [number, number, number][] } => {
    const writes: [number, number, number][] = [];
    return {
      name,
      writes,
      portIn: () => value,
      portOut: (port, size, v) => void writes.push([port, size, v]),
    };
  };

  it('an unclaimed port reads all ones for its size and is counted; writes are dropped and counted', () => {
    const bus = new PortBus();
    expect(bus.read(0x80, 1, 0)).toBe(0xff);
    expect(bus.read(0x80, 2, 0)).toBe(0xffff);
    expect(bus.read(0x80, 4, 0)).toBe(0xffffffff);
    expect(bus.unclaimedReads).toBe(3);
    bus.write(0x80, 1, 5, 0);
    expect(bus.unclaimedWrites).toBe(1);
  });

  it('routes claimed ports to their device with the absolute port', () => {
    const bus = new PortBus();
    const a = dev('a', 0x42);
    bus.claim(0x100, 4, a);
    expect(bus.read(0x103, 1, 0)).toBe(0x42);
    bus.write(0x102, 2, 0xbeef, 0);
    expect(a.writes).toEqual([[0x102, 2, 0xbeef]]);
    expect(bus.read(0x104, 1, 0)).toBe(0xff);
    expect(bus.unclaimedReads).toBe(1);
  });

  it('claiming an overlapping range throws and claims nothing', () => {
    const bus = new PortBus();
    bus.claim(0x100, 4, dev('a'));
    expect(() => bus.claim(0x103, 4, dev('b'))).toThrow(/0x103 already claimed by a/);
    expect(() => bus.claim(0x100, 1, dev('c'))).toThrow(/already claimed/);
    expect(bus.read(0x104, 1, 0)).toBe(0xff); // b did not get 0x104..0x106
    expect(() => bus.claim(0x104, 4, dev('b'))).not.toThrow();
    expect(() => bus.claim(0xfffe, 4, dev('d'))).toThrow(/outside/);
    expect(() => bus.claim(0x10, 0, dev('e'))).toThrow(/outside/);
  });
});

describe('MMIO bus', () => {
  const dev = (name: string): MmioDevice & { reads: number[] } => {
    const reads: number[] = [];
    return { name, reads, mmioRead: (off) => (reads.push(off), 0x1000 + off), mmioWrite: () => {} };
  };

  it('refuses overlapping regions, accepts adjacent ones, and routes by offset', () => {
    const bus = new MmioBus();
    const a = dev('a');
    bus.map(0xfee00000, 0x1000, a);
    expect(() => bus.map(0xfee00ff0, 0x20, dev('b'))).toThrow(/overlaps a/);
    expect(() => bus.map(0xfedff000, 0x1001, dev('b'))).toThrow(/overlaps a/);
    expect(() => bus.map(0xfee00100, 0x10, dev('b'))).toThrow(/overlaps a/); // inside
    expect(() => bus.map(0xfed00000, 0x2000000, dev('b'))).toThrow(/overlaps a/); // around
    const b = dev('b');
    bus.map(0xfee01000, 0x10, b);
    bus.map(0xfedff000, 0x1000, dev('c'));
    expect(bus.read(0xfee00020, 4, 0)).toBe(0x1020);
    expect(bus.read(0xfee01004, 4, 0)).toBe(0x1004);
    expect(a.reads).toEqual([0x20]);
    expect(b.reads).toEqual([0x4]);
    expect(() => bus.map(0x1000, 0, dev('z'))).toThrow(/bad MMIO region/);
  });

  it('open bus reads all ones and counts; unmap frees the range', () => {
    const bus = new MmioBus();
    const a = dev('a');
    bus.map(0x10000, 0x100, a);
    expect(bus.read(0x20000, 4, 0)).toBe(0xffffffff);
    expect(bus.read(0x20000, 1, 0)).toBe(0xff);
    bus.write(0x20000, 4, 1, 0);
    expect(bus.openBusReads).toBe(2);
    expect(bus.openBusWrites).toBe(1);
    bus.unmap(0x10000, a);
    expect(bus.read(0x10000, 4, 0)).toBe(0xffffffff);
    expect(() => bus.map(0x10000, 0x100, dev('b'))).not.toThrow();
  });
});

describe('8254 PIT', () => {
  function program(pit: Pit8254, control: number, reload: number): void {
    pit.portOut(0x43, 1, control);
    pit.portOut(0x40, 1, reload & 0xff);
    pit.portOut(0x40, 1, reload >> 8);
  }

  it('channel 0, mode 2, divisor 11932 (100 Hz): IRQ0 at exact integer times floor(n * 11932 * cpuHz / 1193182)', () => {
    const host = new FakeHost(1_000_000_000);
    const fires: number[] = [];
    const pit = new Pit8254(host, () => fires.push(host.now()));
    program(pit, 0x34, 11932); // counter 0, lobyte/hibyte, mode 2, binary
    host.runUntil(1_000_000_000); // one simulated second: 100 periods take 1.000015 s
    expect(fires.length).toBe(99);
    host.runUntil(pitTime(100, 11932, 1e9));
    expect(fires.length).toBe(100);
    fires.forEach((t, i) => expect(t, `fire ${i + 1}`).toBe(pitTime(i + 1, 11932, 1e9)));
    expect(fires[0]).toBe(10_000_150);
    expect(fires[99]).toBe(1_000_015_085);
    // Periods stay within one cycle of the exact value: no drift.
    for (let i = 1; i < fires.length; i++) expect(Math.abs(fires[i] - fires[i - 1] - 10_000_150.85)).toBeLessThan(1);
    expect(pit.irq0Count).toBe(100);
  });

  it('the schedule starts when the high byte is written, and scales with cpuHz', () => {
    const host = new FakeHost(3_000_000_000);
    const fires: number[] = [];
    const pit = new Pit8254(host, () => fires.push(host.now()));
    host.nowCycles = 777;
    pit.portOut(0x43, 1, 0x34);
    pit.portOut(0x40, 1, 11932 & 0xff);
    host.runUntil(100_000_000);
    expect(fires).toEqual([]); // not armed before the high byte
    host.nowCycles = 123_456;
    pit.portOut(0x40, 1, 11932 >> 8);
    host.runUntil(123_456 + pitTime(5, 11932, 3e9));
    expect(fires).toEqual([1, 2, 3, 4, 5].map((n) => 123_456 + pitTime(n, 11932, 3e9)));
  });

  it('mode 0 fires once; a new control word stops the counter', () => {
    const host = new FakeHost();
    const fires: number[] = [];
    const pit = new Pit8254(host, () => fires.push(host.now()));
    program(pit, 0x30, 1000); // mode 0
    host.runUntil(100_000_000);
    expect(fires).toEqual([pitTime(1, 1000, 1e9)]);
    fires.length = 0;
    program(pit, 0x34, 1000);
    host.runUntil(host.nowCycles + 2_000_000);
    expect(fires.length).toBe(2);
    pit.portOut(0x43, 1, 0x34); // control word again: counter stops until reloaded
    host.runUntil(host.nowCycles + 10_000_000);
    expect(fires.length).toBe(2);
  });

  it('the counter latch command reads the count at the time of the latch', () => {
    const host = new FakeHost();
    const pit = new Pit8254(host, () => {});
    program(pit, 0x34, 11932);
    host.runUntil(5_000_000);
    pit.portOut(0x43, 1, 0x00); // latch counter 0
    host.runUntil(6_000_000);
    const lo = pit.portIn(0x40);
    const hi = pit.portIn(0x40);
    const elapsedTicks = Math.floor((5_000_000 * PIT_HZ) / 1e9);
    expect((hi << 8) | lo).toBe(11932 - (elapsedTicks % 11932));
  });
});

describe('LAPIC timer', () => {
  function timer(cpuHz = 1_000_000_000): { host: FakeHost; lapic: Lapic; fires: number[] } {
    const host = new FakeHost(cpuHz);
    const lapic = new Lapic(0, 0, host);
    const fires: number[] = [];
    lapic.pendingSink = { onInterruptPending: () => fires.push(host.now()) };
    return { host, lapic, fires };
  }

  it('periodic mode fires every initial-count * divider cycles (bus 1 GHz, CPU 1 GHz)', () => {
    const { host, lapic, fires } = timer();
    host.nowCycles = 500;
    lapic.mmioWrite(LapicReg.TIMER_DIV, 4, 0x3); // divide by 16
    lapic.mmioWrite(LapicReg.LVT_TIMER, 4, 0x20 | (1 << 17)); // vector 0x20, periodic, unmasked
    lapic.mmioWrite(LapicReg.TIMER_INIT, 4, 1000);
    host.runUntil(500 + 10 * 16_000);
    expect(fires).toEqual(Array.from({ length: 10 }, (_, i) => 500 + (i + 1) * 16_000));
    expect(lapic.timerFires).toBe(10);
    expect(lapic.mmioRead(LapicReg.IRR + 0x10, 4) & 1).toBe(1); // vector 0x20 pending in IRR
    expect(lapic.deliverable()).toBe(0x20);
  });

  it('every divide configuration value gives its divider', () => {
    const table: [number, number][] = [
      [0x0, 2],
      [0x1, 4],
      [0x2, 8],
      [0x3, 16],
      [0x8, 32],
      [0x9, 64],
      [0xa, 128],
      [0xb, 1],
    ];
    for (const [cfg, div] of table) {
      const { host, lapic, fires } = timer();
      lapic.mmioWrite(LapicReg.TIMER_DIV, 4, cfg);
      lapic.mmioWrite(LapicReg.LVT_TIMER, 4, 0x30 | (1 << 17));
      lapic.mmioWrite(LapicReg.TIMER_INIT, 4, 100);
      host.runUntil(3 * 100 * div);
      expect(fires, `divide config ${cfg}`).toEqual([1, 2, 3].map((n) => n * 100 * div));
    }
  });

  it('one-shot fires once; the current count counts down at bus speed; a 2 GHz CPU doubles the cycles', () => {
    const { host, lapic, fires } = timer(2_000_000_000);
    lapic.mmioWrite(LapicReg.TIMER_DIV, 4, 0xb); // divide by 1
    lapic.mmioWrite(LapicReg.LVT_TIMER, 4, 0x40); // one-shot
    lapic.mmioWrite(LapicReg.TIMER_INIT, 4, 5000);
    host.runUntil(4000); // 2000 ns of bus time
    expect(lapic.mmioRead(LapicReg.TIMER_CUR, 4)).toBe(3000);
    host.runUntil(100_000);
    expect(fires).toEqual([10_000]);
    expect(lapic.mmioRead(LapicReg.TIMER_CUR, 4)).toBe(0);
  });

  it('a masked LVT raises nothing; writing initial count 0 stops the timer', () => {
    const { host, lapic, fires } = timer();
    lapic.mmioWrite(LapicReg.TIMER_DIV, 4, 0xb);
    lapic.mmioWrite(LapicReg.LVT_TIMER, 4, 0x20 | (1 << 17) | (1 << 16));
    lapic.mmioWrite(LapicReg.TIMER_INIT, 4, 1000);
    host.runUntil(10_000);
    expect(fires).toEqual([]);
    expect(lapic.timerFires).toBe(0);
    lapic.mmioWrite(LapicReg.LVT_TIMER, 4, 0x20 | (1 << 17));
    host.runUntil(12_500);
    expect(fires).toEqual([11_000, 12_000]);
    lapic.mmioWrite(LapicReg.TIMER_INIT, 4, 0);
    host.runUntil(50_000);
    expect(fires).toEqual([11_000, 12_000]);
    expect(lapic.mmioRead(LapicReg.TIMER_CUR, 4)).toBe(0);
  });
});

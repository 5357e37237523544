// Local APIC (xAPIC mode), one per CPU, at physical 0xFEE00000.
// Spec: Intel SDM vol. 3A chapter 11 (§11.4.1 register address map, table
// 11-1: ID 0x20, version 0x30, TPR 0x80, EOI 0xB0, SVR 0xF0, ISR 0x100-0x170,
// TMR 0x180-0x1F0, IRR 0x200-0x270, ICR 0x300/0x310, LVT timer 0x320, LINT0
// 0x350, LINT1 0x360, LVT error 0x370, initial count 0x380, current count
// 0x390, divide configuration 0x3E0; §11.5.4 APIC timer (one-shot and
// periodic modes, divide values); §11.6.1 ICR (delivery modes, destination
// shorthands); §11.8.4 IRR/ISR priority; §11.8.5 EOI).
// The timer counts at the bus clock, 1 GHz as in QEMU (APIC_BUS_CYCLE_NS = 1).
// Not modelled: x2APIC, TSC-deadline mode, logical destination mode, NMI and
// SMI delivery, the error status register's bits.
import type { MmioDevice } from './mmio-bus.ts';
import type { InterruptHost } from './interrupt-host.ts';
import { mulDivFloor } from '../time.ts';

export const LAPIC_BASE = 0xfee00000;
export const LAPIC_SIZE = 0x1000;
export const LAPIC_BUS_HZ = 1_000_000_000;

export const LapicReg = {
  ID: 0x20,
  VERSION: 0x30,
  TPR: 0x80,
  EOI: 0xb0,
  LDR: 0xd0,
  DFR: 0xe0,
  SVR: 0xf0,
  ISR: 0x100,
  TMR: 0x180,
  IRR: 0x200,
  ESR: 0x280,
  ICR_LO: 0x300,
  ICR_HI: 0x310,
  LVT_TIMER: 0x320,
  LVT_LINT0: 0x350,
  LVT_LINT1: 0x360,
  LVT_ERROR: 0x370,
  TIMER_INIT: 0x380,
  TIMER_CUR: 0x390,
  TIMER_DIV: 0x3e0,
} as const;

const LVT_MASK = 1 << 16;
const TIMER_PERIODIC = 1 << 17;
const DIVIDERS = [2, 4, 8, 16, 32, 64, 128, 1];

export class Lapic implements MmioDevice {
  readonly name: string;
  private readonly irr = new Uint32Array(8);
  private readonly isr = new Uint32Array(8);
  private readonly tmr = new Uint32Array(8);
  /** Raise time of each vector's pending request (cycles). */
  private readonly raised = new Float64Array(256);
  /** Number of set IRR bits: a cheap "anything pending?" for the CPU's hot loop. */
  irrCount = 0;
  private tpr = 0;
  private svr = 0xff;
  private ldr = 0;
  private dfr = 0xffffffff;
  private icrHi = 0;
  private icrLo = 0;
  private lvtTimer = LVT_MASK;
  private lvtLint0 = LVT_MASK;
  private lvtLint1 = LVT_MASK;
  private lvtError = LVT_MASK;
  private timerInit = 0;
  private timerDiv = 0;
  private timerStart = 0;
  private timerGen = 0;
  /** Count of timer interrupts raised. */
  timerFires = 0;
  /**
   * Told when an interrupt becomes pending (wakes a halted CPU, or rewinds
   * one busy in a compute op): the CPU itself, not a closure over it. A
   * closure made per machine kept finished machines alive through V8's young
   * collections (≈900 KB promoted per scavenge, 2 ms pauses: ≈8% of a
   * ping-pong run).
   */
  pendingSink: { onInterruptPending(): void } | null = null;

  private onPending(): void {
    if (this.pendingSink !== null) this.pendingSink.onInterruptPending();
  }

  constructor(
    readonly apicId: number,
    readonly cpuIndex: number,
    private readonly host: InterruptHost,
  ) {
    this.name = `lapic${cpuIndex}`;
  }

  /** Whether software enabled the APIC (SVR bit 8). */
  get enabled(): boolean {
    return (this.svr & 0x100) !== 0;
  }

  /**
   * Accepts a fixed interrupt (SDM §11.8.3); `level` marks it level-triggered
   * (TMR). `raisedCycles` is when its source raised it (an IOAPIC pin or an
   * ICR write, before the APIC bus latency); default now. Kept per vector
   * for the interrupt-latency metric: a vector already pending keeps its
   * first raise time (the requests merge in IRR).
   */
  accept(vector: number, level = false, raisedCycles = -1): void {
    if (vector < 16) return; // vectors 0-15 are illegal for the APIC (illegal-vector error)
    const w = vector >>> 5;
    const bit = 1 << (vector & 31);
    if ((this.irr[w] & bit) === 0) {
      this.irr[w] |= bit;
      this.irrCount++;
      this.raised[vector] = raisedCycles >= 0 ? raisedCycles : this.host.now();
    }
    if (level) this.tmr[w] |= bit;
    else this.tmr[w] &= ~bit;
    this.onPending();
  }

  /** When pending (or last delivered) `vector` was raised, in cycles. */
  raisedAt(vector: number): number {
    return this.raised[vector];
  }

  /** The highest pending vector that the processor priority allows, or -1 (SDM §11.8.3.1). */
  deliverable(): number {
    if (this.irrCount === 0) return -1;
    const v = highest(this.irr);
    const inService = highest(this.isr);
    const ppr = Math.max(this.tpr & 0xf0, inService < 0 ? 0 : inService & 0xf0);
    return (v & 0xf0) > ppr ? v : -1;
  }

  /** The CPU takes `vector`: IRR -> ISR (INTA cycle). */
  ack(vector: number): void {
    const w = vector >>> 5;
    const bit = 1 << (vector & 31);
    if ((this.irr[w] & bit) !== 0) {
      this.irr[w] &= ~bit;
      this.irrCount--;
    }
    this.isr[w] |= bit;
  }

  /** Vector in service with the highest priority, or -1. */
  inService(): number {
    return highest(this.isr);
  }

  private eoi(): void {
    const v = highest(this.isr);
    if (v < 0) return;
    this.isr[v >>> 5] &= ~(1 << (v & 31));
    if ((this.tmr[v >>> 5] & (1 << (v & 31))) !== 0) this.host.eoiBroadcast(v);
    if (this.irrCount > 0) this.onPending();
  }

  mmioRead(offset: number, _size: number): number {
    const reg = offset & 0xff0;
    switch (reg) {
      case LapicReg.ID:
        return this.apicId << 24;
      case LapicReg.VERSION:
        return 0x00050014; // version 0x14, max LVT entry 5 (as QEMU)
      case LapicReg.TPR:
        return this.tpr;
      case LapicReg.LDR:
        return this.ldr;
      case LapicReg.DFR:
        return this.dfr;
      case LapicReg.SVR:
        return this.svr;
      case LapicReg.ICR_LO:
        return this.icrLo & ~(1 << 12); // delivery status: idle
      case LapicReg.ICR_HI:
        return this.icrHi;
      case LapicReg.LVT_TIMER:
        return this.lvtTimer;
      case LapicReg.LVT_LINT0:
        return this.lvtLint0;
      case LapicReg.LVT_LINT1:
        return this.lvtLint1;
      case LapicReg.LVT_ERROR:
        return this.lvtError;
      case LapicReg.TIMER_INIT:
        return this.timerInit;
      case LapicReg.TIMER_CUR:
        return this.currentCount();
      case LapicReg.TIMER_DIV:
        return this.timerDiv;
      case LapicReg.ESR:
        return 0;
      default:
        if (reg >= LapicReg.ISR && reg < LapicReg.ISR + 0x80) return this.isr[(reg - LapicReg.ISR) >> 4];
        if (reg >= LapicReg.TMR && reg < LapicReg.TMR + 0x80) return this.tmr[(reg - LapicReg.TMR) >> 4];
        if (reg >= LapicReg.IRR && reg < LapicReg.IRR + 0x80) return this.irr[(reg - LapicReg.IRR) >> 4];
        return 0;
    }
  }

  mmioWrite(offset: number, _size: number, value: number): void {
    const reg = offset & 0xff0;
    const v = value >>> 0;
    switch (reg) {
      case LapicReg.TPR:
        this.tpr = v & 0xff;
        if (this.irrCount > 0) this.onPending();
        return;
      case LapicReg.EOI:
        this.eoi();
        return;
      case LapicReg.LDR:
        this.ldr = v & 0xff000000;
        return;
      case LapicReg.DFR:
        this.dfr = v | 0x0fffffff;
        return;
      case LapicReg.SVR:
        this.svr = v & 0x13ff;
        return;
      case LapicReg.ICR_HI:
        this.icrHi = v & 0xff000000;
        return;
      case LapicReg.ICR_LO:
        this.icrLo = v;
        this.sendIpi(v);
        return;
      case LapicReg.LVT_TIMER:
        this.lvtTimer = v & 0x700ff;
        return;
      case LapicReg.LVT_LINT0:
        this.lvtLint0 = v & 0x1f7ff;
        return;
      case LapicReg.LVT_LINT1:
        this.lvtLint1 = v & 0x1f7ff;
        return;
      case LapicReg.LVT_ERROR:
        this.lvtError = v & 0x100ff;
        return;
      case LapicReg.TIMER_INIT:
        this.timerInit = v;
        this.startTimer();
        return;
      case LapicReg.TIMER_DIV:
        this.timerDiv = v & 0xb;
        return;
      default:
        return; // read-only or unmodelled registers ignore writes
    }
  }

  private divider(): number {
    return DIVIDERS[(this.timerDiv & 3) | ((this.timerDiv & 8) >> 1)];
  }

  /** Cycles of one timer period at the current initial count and divider. */
  private periodCycles(): number {
    return Math.max(1, mulDivFloor(this.timerInit * this.divider(), this.host.cpuHz, LAPIC_BUS_HZ));
  }

  private startTimer(): void {
    const gen = ++this.timerGen;
    if (this.timerInit === 0) return; // writing 0 stops the timer
    this.timerStart = this.host.now();
    const fire = (now: number): void => {
      if (gen !== this.timerGen) return;
      if ((this.lvtTimer & LVT_MASK) === 0) {
        this.timerFires++;
        this.accept(this.lvtTimer & 0xff);
      }
      if ((this.lvtTimer & TIMER_PERIODIC) !== 0) {
        this.timerStart = now;
        this.host.at(now + this.periodCycles(), fire);
      } else {
        this.timerGen++; // one-shot: stopped, current count reads 0
      }
    };
    this.host.at(this.timerStart + this.periodCycles(), fire);
  }

  private currentCount(): number {
    if (this.timerInit === 0) return 0;
    const elapsed = this.host.now() - this.timerStart;
    const ticks = Math.floor(mulDivFloor(elapsed, LAPIC_BUS_HZ, this.host.cpuHz) / this.divider());
    if (ticks >= this.timerInit) return (this.lvtTimer & TIMER_PERIODIC) !== 0 ? this.timerInit - (ticks % this.timerInit) : 0;
    return this.timerInit - ticks;
  }

  private sendIpi(lo: number): void {
    const vector = lo & 0xff;
    const mode = (lo >>> 8) & 7;
    const shorthand = (lo >>> 18) & 3;
    const dest = this.icrHi >>> 24;
    if (mode !== 0) return; // only fixed delivery is modelled (INIT/SIPI go through the boot protocol's MP handoff)
    switch (shorthand) {
      case 0:
        this.host.deliver(dest, vector, false, this.cpuIndex, false);
        return;
      case 1:
        this.host.deliver(this.apicId, vector, false, this.cpuIndex, false);
        return;
      case 2:
        this.host.deliver(0xff, vector, false, this.cpuIndex, false);
        return;
      default:
        this.host.deliver(0xff, vector, false, this.cpuIndex, true);
    }
  }
}

function highest(bits: Uint32Array): number {
  for (let w = 7; w >= 0; w--) {
    const x = bits[w];
    if (x !== 0) return w * 32 + 31 - Math.clz32(x);
  }
  return -1;
}

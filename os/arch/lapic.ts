// Local APIC driver (xAPIC MMIO through the HHDM; Intel SDM vol. 3A ch. 11):
// enable via SVR, periodic timer, EOI, fixed IPIs. Vectors are the kernel's:
// 0xF0 timer, 0xF1 reschedule IPI, 0xF2 TLB shootdown IPI, 0xFF spurious.
import { load32, store32, type Code } from '../../sim/ops.ts';
import type { Kernel } from '../kstate.ts';
import { pushOff, popOff } from '../sync/spinlock.ts';

export const LAPIC_PHYS = 0xfee00000;
export const VEC_TIMER = 0xf0;
export const VEC_RESCHED = 0xf1;
export const VEC_TLB = 0xf2;
export const VEC_SPURIOUS = 0xff;

const REG = { ID: 0x20, TPR: 0x80, EOI: 0xb0, SVR: 0xf0, ICR_LO: 0x300, ICR_HI: 0x310, LVT_TIMER: 0x320, TIMER_INIT: 0x380, TIMER_CUR: 0x390, TIMER_DIV: 0x3e0 } as const;
const TIMER_PERIODIC = 1 << 17;
const MASKED = 1 << 16;

function reg(k: Kernel, r: number): number {
  return k.p2v(LAPIC_PHYS) + r;
}

/** Enables the APIC (spurious vector 0xFF) and accepts all priorities. */
export function* lapicEnable(k: Kernel): Code<void> {
  yield store32(reg(k, REG.TPR), 0);
  yield store32(reg(k, REG.SVR), 0x100 | VEC_SPURIOUS);
}

/** Starts the periodic timer at `count` bus ticks (divide by 16). */
export function* lapicTimerPeriodic(k: Kernel, count: number): Code<void> {
  yield store32(reg(k, REG.TIMER_DIV), 0x3);
  yield store32(reg(k, REG.LVT_TIMER), VEC_TIMER | TIMER_PERIODIC);
  yield store32(reg(k, REG.TIMER_INIT), count);
}

/** Starts a masked one-shot count-down from 0xFFFFFFFF (for calibration). */
export function* lapicTimerFreeRun(k: Kernel): Code<void> {
  yield store32(reg(k, REG.TIMER_DIV), 0x3);
  yield store32(reg(k, REG.LVT_TIMER), VEC_TIMER | MASKED);
  yield store32(reg(k, REG.TIMER_INIT), 0xffffffff);
}

export function* lapicTimerCurrent(k: Kernel): Code<number> {
  return (yield load32(reg(k, REG.TIMER_CUR))) as number;
}

export function* lapicEoi(k: Kernel): Code<void> {
  yield store32(reg(k, REG.EOI), 0);
}

export function* lapicId(k: Kernel): Code<number> {
  return ((yield load32(reg(k, REG.ID))) as number) >>> 24;
}

/** Sends fixed IPI `vector` to APIC `apicId` (interrupts off around the two ICR writes). */
export function* sendIpi(k: Kernel, apicId: number, vector: number): Code<void> {
  yield pushOff(k);
  yield store32(reg(k, REG.ICR_HI), apicId << 24);
  yield store32(reg(k, REG.ICR_LO), vector);
  yield popOff(k);
}

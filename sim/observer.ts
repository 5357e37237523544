// Observers of a run (tracing, metrics). The machine calls them at
// architecturally visible points only: traps and their irets, context
// switches, halts and wake-ups, and paravirtual trace-port events (never
// per op), so with no observer attached nothing is allocated or formatted
// on the hot path. Observers must not change the run: they only read.
import type { Stack, TrapFrame } from './x86/cpu.ts';

export interface Observer {
  /** CPU `cpu` switched from stack `from` to `to`; `cycles` is after the switch op. */
  onSwitch(cpu: number, cycles: number, from: Stack, to: Stack): void;
  /**
   * A handler frame was pushed (`cycles` = handler entry). For an external
   * interrupt, `raisedCycles` is when its source raised it (an IOAPIC pin,
   * an IPI's ICR write, the LAPIC timer firing); -1 for exceptions and `int n`.
   */
  onTrap(cpu: number, cycles: number, tf: TrapFrame, handler: string, raisedCycles: number): void;
  /** The handler frame of `tf` returned (the same TrapFrame object as its onTrap). */
  onIret(cpu: number, cycles: number, tf: TrapFrame): void;
  /** The CPU halted (`halted`) or an interrupt woke it. */
  onHalt(cpu: number, cycles: number, halted: boolean): void;
  /** A paravirtual trace-port event from the guest (sim/x86/trace-port.ts: code, 24-bit arg). */
  onGuestEvent?(cpu: number, cycles: number, code: number, arg: number): void;
}

/** Several observers as one, called in order. */
export class ObserverList implements Observer {
  constructor(readonly list: readonly Observer[]) {}
  onSwitch(cpu: number, cycles: number, from: Stack, to: Stack): void {
    for (const o of this.list) o.onSwitch(cpu, cycles, from, to);
  }
  onTrap(cpu: number, cycles: number, tf: TrapFrame, handler: string, raisedCycles: number): void {
    for (const o of this.list) o.onTrap(cpu, cycles, tf, handler, raisedCycles);
  }
  onIret(cpu: number, cycles: number, tf: TrapFrame): void {
    for (const o of this.list) o.onIret(cpu, cycles, tf);
  }
  onHalt(cpu: number, cycles: number, halted: boolean): void {
    for (const o of this.list) o.onHalt(cpu, cycles, halted);
  }
  onGuestEvent(cpu: number, cycles: number, code: number, arg: number): void {
    for (const o of this.list) o.onGuestEvent?.(cpu, cycles, code, arg);
  }
}

/** One observer for a list (null when empty). */
export function combineObservers(list: readonly (Observer | null | undefined)[]): Observer | null {
  const xs = list.filter((o): o is Observer => o != null);
  return xs.length === 0 ? null : xs.length === 1 ? xs[0] : new ObserverList(xs);
}

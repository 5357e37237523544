// Observers of a run (tracing, metrics). The machine calls them at
// architecturally visible points; with no observer attached nothing is
// allocated or formatted on the hot path.
import type { Stack, TrapFrame } from './x86/cpu.ts';

export interface Observer {
  onSwitch(cpu: number, cycles: number, from: Stack, to: Stack): void;
  onTrap(cpu: number, cycles: number, tf: TrapFrame, handler: string): void;
  onIret(cpu: number, cycles: number, tf: TrapFrame): void;
  onHalt(cpu: number, cycles: number, halted: boolean): void;
}

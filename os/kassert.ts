// Kernel assertions: a broken invariant prints `KASSERT: <name>: <detail>`
// (the marker that names the failure kind) and panics. Checkers (lock
// checker, deadlock, watchdog, scenario invariants) all report through here.
import type { Code } from '../sim/ops.ts';
import { panic } from './panic.ts';

/** Panic codes by assertion name (stable: they appear in markers). */
const CODES: Record<string, number> = {
  'recursive-acquire': 0x101,
  'release-non-owner': 0x102,
  'sleep-while-spinlock': 0x103,
  'irq-unsafe-lock': 0x104,
  'lock-order': 0x105,
  deadlock: 0x106,
  watchdog: 0x107,
  starvation: 0x108,
  'lost-update': 0x109,
  'mutual-exclusion': 0x10a,
  'sched-invariant': 0x10b,
  'ipc-conservation': 0x10c,
  'stale-tlb': 0x10d,
  'use-after-free': 0x10e,
  'refcount': 0x10f,
  'data-integrity': 0x110,
};

export function* kassert(name: string, detail: string): Code<never> {
  return (yield panic(CODES[name] ?? 0x1ff, `KASSERT: ${name}: ${detail}`, true)) as never;
}

// The lock checker's findings each stop the run with a named kernel
// assertion marker (issue 3): sleeping while holding a spinlock, recursive
// acquire, release by a non-owner (spinlock and mutex), lock-order cycles,
// an irq-unsafe lock taken in an interrupt handler.
import { describe, expect, it } from 'vitest';
import { resolveScenario, type Scenario } from '../../scenarios/scenario.ts';
import { runScenario } from '../../scenarios/runner.ts';

function lockcheck(which: string): Scenario {
  const base = resolveScenario('boot');
  return { ...base, name: `lockcheck-${which}`, kernel: { options: ['test=lockcheck', `case=${which}`] }, maxCycles: 2_000_000_000 };
}

const CASES: [string, RegExp][] = [
  ['sleep', /^KASSERT: sleep-while-spinlock: main sleeps while holding spinlock lockA$/m],
  ['recursive', /^KASSERT: recursive-acquire: lockA acquired again on CPU 0 by main$/m],
  ['nonowner', /^KASSERT: release-non-owner: lockA released on CPU 0 by main, held by CPU -1$/m],
  ['mutex-nonowner', /^KASSERT: release-non-owner: mutex m unlocked by main, owner holder$/m],
  ['order', /^KASSERT: lock-order: acquiring lockA while holding lockB, but lockA -> lockB was seen before \(ABBA deadlock\)$/m],
  ['irq', /^KASSERT: (irq-unsafe-lock: stats is taken in an interrupt handler|recursive-acquire: stats acquired again)/m],
];

describe('lock checker', () => {
  for (const [which, marker] of CASES) {
    it(`case=${which} stops the run with its KASSERT marker and a panic`, () => {
      const r = runScenario(lockcheck(which), { seed: 1 });
      expect(r.run.serial).toMatch(marker);
      expect(r.run.serial).toMatch(/^RUGO: panic code=0x10[1-5]$/m);
      expect(r.run.serial).not.toContain('not detected');
      expect(r.stopReason).toBe('debug-exit');
      expect(r.run.exitStatus).toBe(3);
    });
  }
});

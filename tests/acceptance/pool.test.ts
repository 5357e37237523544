// Determinism across reused memory: machines hand their RAM back to a pool
// that re-zeroes only the pages written. If any write path forgot to mark
// its page dirty, a later run would see stale bytes and its hash would
// differ from the same run on fresh memory. Run a scenario first (fresh
// memory in this test file's process), then others that dirty memory in
// different ways, then the first again.
import { describe, expect, it } from 'vitest';
import { resolveScenario } from '../../scenarios/scenario.ts';
import { runScenario } from '../../scenarios/runner.ts';

describe('memory pool', () => {
  it('a run on reused memory hashes like the same run on fresh memory', () => {
    const first = runScenario(resolveScenario('ping-pong'), { seed: 11, cpus: 2 });
    for (const [name, cpus] of [['stress-blk', 2], ['lock-stress', 4], ['shm-bulk', 1], ['pressure-shm', 1], ['tlb-race', 2]] as [string, number][]) {
      expect(runScenario(resolveScenario(name), { seed: 3, cpus }).verdict).toBe('pass');
    }
    const again = runScenario(resolveScenario('ping-pong'), { seed: 11, cpus: 2 });
    expect(again.traceHash).toBe(first.traceHash);
    expect(again.run.serial).toBe(first.run.serial);
  });
});

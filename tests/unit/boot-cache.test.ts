// The boot handoff cache (sim/x86/boot.ts limineHandoff): a build whose
// handoff is copied from the cache must leave the same bytes in memory, the
// same code map and the same boot result as one that lays it out afresh;
// and a different configuration must not get another's handoff.
import { describe, expect, it } from 'vitest';
import { resolveScenario } from '../../scenarios/scenario.ts';
import { buildMachine, runScenario } from '../../scenarios/runner.ts';
import { clearHandoffCache, limineHandoff } from '../../sim/x86/boot.ts';
import { PhysicalMemory } from '../../sim/memory.ts';
import { CodeImage, CodeMap } from '../../sim/code.ts';
import type { Machine } from '../../sim/machine.ts';

/** Everything the handoff leaves behind: written pages and their bytes, the memory map, the code at each image base, the CPUs' boot state. */
function snapshot(m: Machine): unknown {
  const mem = m.mem;
  const pages = [...mem.dirtyPages()].sort((a, b) => a - b);
  let digest = 0;
  for (const p of pages) for (let i = p * 4096; i < p * 4096 + 4096; i++) digest = (Math.imul(digest, 31) + mem.bytes[i]) | 0;
  return {
    pages,
    digest,
    memmap: m.memmap,
    cpus: m.cpus.map((c) => ({ cr3: c.mmu.cr3, frames: c.stack.frames.map((f) => ({ name: f.name, entryVa: f.entryVa, arg: f.arg })) })),
    code: codeMap(m),
  };
}

/** Every entry point in the first 4 MiB above the kernel's load address (the kernel and the program modules), by address. */
function codeMap(m: Machine): string[] {
  const out: string[] = [];
  for (let pa = 0x200000; pa < 0x600000; pa += 0x40) {
    const e = m.lookupCode(pa);
    if (e !== undefined) out.push(`${pa.toString(16)} ${e.name}`);
  }
  return out;
}

describe('boot handoff cache', () => {
  it('a cached handoff leaves the same memory, memory map, code map and boot state as a fresh one', () => {
    for (const [name, cpus] of [
      ['ping-pong', 1],
      ['stress-ipc', 4],
    ] as const) {
      const sc = resolveScenario(name);
      clearHandoffCache();
      const fresh = buildMachine(sc, { seed: 1, cpus });
      const a = snapshot(fresh);
      fresh.dispose();
      const cached = buildMachine(sc, { seed: 2, cpus });
      const b = snapshot(cached);
      cached.dispose();
      expect(b).toEqual(a);
      expect((a as { pages: number[] }).pages.length).toBeGreaterThan(3);
      expect((a as { code: string[] }).code.length).toBeGreaterThan(100);
    }
  });

  it('runs from a cached handoff give the trace hashes of runs from fresh ones', () => {
    const sc = resolveScenario('spawn');
    const hashes = (): string[] => [1, 2, 3].map((seed) => {
      clearHandoffCache();
      return runScenario(sc, { seed, metrics: false }).traceHash;
    });
    const fresh = hashes();
    clearHandoffCache();
    runScenario(sc, { seed: 99, metrics: false }); // fills the cache
    const cached = [1, 2, 3].map((seed) => runScenario(sc, { seed, metrics: false }).traceHash);
    expect(cached).toEqual(fresh);
  });

  it('modules of raw bytes are never served from the cache: changed bytes reach the next build', () => {
    clearHandoffCache();
    const kernel = new CodeImage('k', [['entry', function* () {}]]);
    const bytes = new Uint8Array(64).fill(7);
    const modules = [{ path: '/raw', cmdline: '', bytes }];
    const build = (): number => {
      const mem = PhysicalMemory.acquire(32 * 1024 * 1024);
      const r = limineHandoff({ mem, code: new CodeMap(), kernel, entrySymbol: 'entry', cmdline: '', modules, cpus: 1 });
      const first = mem.read8(r.modules[0].base);
      mem.release();
      return first;
    };
    expect(build()).toBe(7);
    bytes.fill(9);
    expect(build()).toBe(9);
  });

  it('a different command line, CPU count or memory size gets its own handoff', () => {
    const sc = resolveScenario('user-hello');
    clearHandoffCache();
    const base = buildMachine(sc, { seed: 1 });
    const one = snapshot(base);
    base.dispose();
    for (const opts of [{ cpus: 2 }, { extraOptions: ['arg=7'] }]) {
      const m = buildMachine(sc, { seed: 1, ...opts });
      const s = snapshot(m);
      m.dispose();
      clearHandoffCache();
      const f = buildMachine(sc, { seed: 1, ...opts });
      expect(s).toEqual(snapshot(f));
      f.dispose();
      expect(s).not.toEqual(one);
    }
    const big = buildMachine({ ...sc, machine: { ...sc.machine, memoryMiB: 256 } }, { seed: 1 });
    expect(big.memmap).not.toEqual((one as { memmap: unknown }).memmap);
    big.dispose();
  });
});

// Unit tests for sim/x86/mmu.ts against an independent reference model of
// IA-32e 4-level paging (Intel SDM vol. 3A §4.5 walk, §4.6 access rights,
// §4.7 page-fault error codes, §4.8 accessed/dirty flags, §4.10 TLBs).
// The reference reads 64-bit entries as bigints, walks recursively, has no
// TLB, and never writes memory.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PhysicalMemory } from '../../sim/memory.ts';
import { Access, MAX_PHYS_BITS, Mmu, PFErr, PTE } from '../../sim/x86/mmu.ts';

const MEM_BYTES = 8 * 1024 * 1024;
const TWO_47 = 2 ** 47;
const TWO_48 = 2 ** 48;

// ---- reference model --------------------------------------------------------

const B_P = 1n << 0n;
const B_RW = 1n << 1n;
const B_US = 1n << 2n;
const B_A = 1n << 5n;
const B_D = 1n << 6n;
const B_PS = 1n << 7n;
const B_G = 1n << 8n;
const B_NX = 1n << 63n;
const ALL_ONES = (1n << 64n) - 1n;
/** Address bits MAXPHYADDR..51 must be zero in a present entry (SDM §4.5, table 4-14 ff.). */
const RSVD_ADDR = ((1n << 52n) - 1n) ^ ((1n << BigInt(MAX_PHYS_BITS)) - 1n);
const bitsRange = (lo: number, hi: number): bigint => ((1n << BigInt(hi + 1)) - 1n) ^ ((1n << BigInt(lo)) - 1n);

interface RefConfig {
  cr3: number;
  wp: boolean;
  nxe: boolean;
}

type RefResult = { ok: true; pa: number; path: number[]; leaf: number } | { ok: false; vector: number; code: number };

/** Translates `va` per the SDM, reading entries from `mem` (an entry outside RAM reads as all ones: open bus). */
function refTranslate(mem: PhysicalMemory, cfg: RefConfig, va: number, kind: number, user: boolean): RefResult {
  if (!Number.isInteger(va) || va < -TWO_47 || va >= TWO_47) return { ok: false, vector: 13, code: 0 };
  const lin = BigInt(va) & ((1n << 48n) - 1n);
  const write = kind === Access.Write;
  const exec = kind === Access.Exec;
  const base = (write ? 2 : 0) | (user ? 4 : 0) | (exec && cfg.nxe ? 16 : 0);
  const path: number[] = [];

  const step = (level: number, table: bigint, rw: boolean, us: boolean, nx: boolean): RefResult => {
    const shift = 12n + 9n * BigInt(level - 1);
    const idx = (lin >> shift) & 511n;
    const ea = Number(table + idx * 8n);
    const e = ea + 8 <= mem.size ? mem.read64(ea) : ALL_ONES;
    path.push(ea);
    if ((e & B_P) === 0n) return { ok: false, vector: 14, code: base };
    const ps = (e & B_PS) !== 0n;
    let rsvd = (e & RSVD_ADDR) !== 0n || (!cfg.nxe && (e & B_NX) !== 0n);
    if (level === 4 && ps) rsvd = true; // PML4E bit 7 is reserved
    if (level === 3 && ps && (e & bitsRange(13, 29)) !== 0n) rsvd = true; // 1 GiB page: bits 29:13 reserved
    if (level === 2 && ps && (e & bitsRange(13, 20)) !== 0n) rsvd = true; // 2 MiB page: bits 20:13 reserved
    if (rsvd) return { ok: false, vector: 14, code: base | 1 | 8 };
    const rw2 = rw && (e & B_RW) !== 0n;
    const us2 = us && (e & B_US) !== 0n;
    const nx2 = nx || (e & B_NX) !== 0n;
    if (level === 1 || ps) {
      const deny = (user && !us2) || (write && !rw2 && (user || cfg.wp)) || (exec && cfg.nxe && nx2);
      if (deny) return { ok: false, vector: 14, code: base | 1 };
      const offBits = level === 1 ? 12n : level === 2 ? 21n : 30n;
      const frame = e & bitsRange(Number(offBits), 51);
      const pa = frame | (lin & ((1n << offBits) - 1n));
      return { ok: true, pa: Number(pa), path: [...path], leaf: ea };
    }
    return step(level - 1, e & bitsRange(12, 51), rw2, us2, nx2);
  };
  return step(4, BigInt(cfg.cr3) & bitsRange(12, 51), true, true, false);
}

// ---- helpers ----------------------------------------------------------------

/** Outcome counts over a property run, to check the generators reach every case. */
const seen = new Map<string, number>();
function count(key: string): void {
  seen.set(key, (seen.get(key) ?? 0) + 1);
}

/** Checks the MMU's answer against the reference; returns a description of a mismatch, or null. */
function compare(mmu: Mmu, mem: PhysicalMemory, cfg: RefConfig, va: number, kind: number, user: boolean): string | null {
  const got = mmu.translate(va, kind, user);
  const want = refTranslate(mem, cfg, va, kind, user);
  if (want.ok) count(`ok-${want.path.length}`);
  else count(want.vector === 13 ? 'gp' : (want.code & PFErr.RSVD) !== 0 ? 'pf-rsvd' : (want.code & PFErr.P) !== 0 ? 'pf-prot' : 'pf-np');
  const what = `va=${va} (0x${(va < 0 ? va + TWO_48 : va).toString(16)}) kind=${kind} user=${user} wp=${cfg.wp} nxe=${cfg.nxe}`;
  if (want.ok) {
    if (got !== want.pa) return `${what}: MMU gave ${got} (fault ${mmu.fault.vector}/0x${mmu.fault.code.toString(16)}), reference pa 0x${want.pa.toString(16)}`;
    // SDM §4.8: every entry used has A set; the leaf has D set after a write.
    for (const ea of want.path) if ((mem.read32(ea) & PTE.A) === 0) return `${what}: A not set in entry at 0x${ea.toString(16)}`;
    if (kind === Access.Write && (mem.read32(want.leaf) & PTE.D) === 0) return `${what}: D not set in leaf at 0x${want.leaf.toString(16)}`;
    return null;
  }
  if (got !== -1) return `${what}: MMU gave pa 0x${got.toString(16)}, reference fault ${want.vector}/0x${want.code.toString(16)}`;
  if (mmu.fault.vector !== want.vector || mmu.fault.code !== want.code || mmu.fault.addr !== va) {
    return `${what}: MMU fault ${mmu.fault.vector}/0x${mmu.fault.code.toString(16)} addr ${mmu.fault.addr}, reference ${want.vector}/0x${want.code.toString(16)}`;
  }
  return null;
}

function entry(pa: number, flags: number, nx = false): bigint {
  return BigInt(pa) | BigInt(flags) | (nx ? B_NX : 0n);
}

function vaOf(i4: number, i3: number, i2: number, i1: number, off: number): number {
  const u = i4 * 2 ** 39 + i3 * 2 ** 30 + i2 * 2 ** 21 + i1 * 4096 + off;
  return u >= TWO_47 ? u - TWO_48 : u;
}

// ---- random page tables -----------------------------------------------------

/** Pool of page-table pages; T0 is the PML4. */
const POOL = 0x100000;
const POOL_TABLES = 8;
const tablePa = (j: number): number => POOL + j * 4096;
/** The entry indices that the random tables populate and the random addresses use. */
const IDX = [0, 1, 2, 255, 256, 511] as const;

/** A boolean that is true with probability num/den. */
const chance = (num: number, den: number): fc.Arbitrary<boolean> => fc.integer({ min: 0, max: den - 1 }).map((x) => x < num);

const flagsArb = fc
  .record({
    rw: chance(4, 5),
    us: chance(4, 5),
    a: fc.boolean(),
    d: fc.boolean(),
    g: fc.boolean(),
    pwt: fc.boolean(),
    nx: chance(1, 10),
  })
  .map((f) => (f.rw ? B_RW : 0n) | (f.us ? B_US : 0n) | (f.a ? B_A : 0n) | (f.d ? B_D : 0n) | (f.g ? B_G : 0n) | (f.pwt ? 8n : 0n) | (f.nx ? B_NX : 0n));

/** Frame addresses of the kinds an entry can hold. */
const tableOf = (first: number, last: number): fc.Arbitrary<bigint> => fc.integer({ min: first, max: last }).map((j) => BigInt(tablePa(j)));
// 1 GiB- or 2 MiB-aligned frame with PS; sometimes one stray low address bit (12..29): the PAT bit 12 is
// legal, bits 13..29 (1 GiB) or 13..20 (2 MiB) are reserved, bits 21..29 are address bits of a 2 MiB page.
const strayBit = fc.oneof({ weight: 3, arbitrary: fc.constant(0n) }, { weight: 1, arbitrary: fc.integer({ min: 12, max: 29 }).map((b) => 1n << BigInt(b)) });
const page1g = fc.tuple(fc.integer({ min: 0, max: 1023 }), strayBit).map(([n, stray]) => (BigInt(n) << 30n) | B_PS | stray);
const page2m = fc.tuple(fc.integer({ min: 0, max: 2 ** 19 - 1 }), strayBit).map(([n, stray]) => (BigInt(n) << 21n) | B_PS | stray);
// a random 4 KiB frame in RAM, or anywhere below 2^MAXPHYADDR (maybe with the PAT bit 7)
const page4k = fc.tuple(fc.oneof(fc.integer({ min: 0, max: MEM_BYTES / 4096 - 1 }), fc.integer({ min: 0, max: 2 ** 28 - 1 })), fc.boolean()).map(([n, pat]) => (BigInt(n) << 12n) | (pat ? B_PS : 0n));

/** Makes an entry from a frame: present with random flags, sometimes not present or with a reserved address bit. */
function mkEntry(addr: fc.Arbitrary<bigint>): fc.Arbitrary<bigint> {
  return fc.tuple(addr, flagsArb, fc.integer({ min: 0, max: 15 }), fc.integer({ min: MAX_PHYS_BITS, max: 51 })).map(([a, flags, how, rbit]) => {
    let e = a | flags | B_P;
    if (how === 0) e &= ~B_P; // not present (other bits are junk)
    if (how === 1) e |= 1n << BigInt(rbit); // reserved address bit
    return e;
  });
}

/** Anything: an entry of any level's shape, used anywhere (pointers across levels, cycles, PS where it is reserved). */
const chaosArb = mkEntry(fc.oneof(tableOf(0, POOL_TABLES - 1), page1g, page2m, page4k));

/**
 * The pool's tables have levels: T0 is the PML4, T1-T2 PDPTs, T3-T4 PDs,
 * T5-T7 page tables. Entries mostly have their level's shape; one in eight
 * is chaos.
 */
function levelOfTable(j: number): number {
  return j === 0 ? 4 : j <= 2 ? 3 : j <= 4 ? 2 : 1;
}
function entryArbFor(level: number): fc.Arbitrary<bigint> {
  const shaped =
    level === 4
      ? mkEntry(tableOf(1, 2))
      : level === 3
        ? mkEntry(fc.oneof({ weight: 2, arbitrary: tableOf(3, 4) }, { weight: 1, arbitrary: page1g }))
        : level === 2
          ? mkEntry(fc.oneof({ weight: 2, arbitrary: tableOf(5, 7) }, { weight: 1, arbitrary: page2m }))
          : mkEntry(page4k);
  return fc.oneof({ weight: 7, arbitrary: shaped }, { weight: 1, arbitrary: chaosArb });
}

interface Tables {
  /** entries[j][k]: entry IDX[k] of pool table j. */
  entries: bigint[][];
}

const tablesArb: fc.Arbitrary<Tables> = fc
  .tuple(...Array.from({ length: POOL_TABLES }, (_, j) => fc.array(entryArbFor(levelOfTable(j)), { minLength: IDX.length, maxLength: IDX.length })))
  .map((entries) => ({ entries }));

function writeTables(mem: PhysicalMemory, t: Tables): void {
  t.entries.forEach((row, j) => row.forEach((e, k) => mem.write64(tablePa(j) + IDX[k] * 8, e)));
}

const idxArb = fc.constantFrom(...IDX);
const vaArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 12, arbitrary: fc.tuple(idxArb, idxArb, idxArb, idxArb, fc.integer({ min: 0, max: 4095 })).map(([a, b, c, d, off]) => vaOf(a, b, c, d, off)) },
  // non-canonical: bits 63:48 not a copy of bit 47
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 2 ** 30 }).map((x) => TWO_47 + x) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 ** 30 }).map((x) => -TWO_47 - x) },
);
const kindArb = fc.constantFrom(Access.Read, Access.Write, Access.Exec);
const accessArb = fc.record({ va: vaArb, kind: kindArb, user: fc.boolean() });
const cfgArb = fc.record({ wp: fc.boolean(), nxe: fc.boolean() });

function freshMmu(mem: PhysicalMemory, cfg: { wp: boolean; nxe: boolean }): [Mmu, RefConfig] {
  const mmu = new Mmu(mem);
  mmu.cr3 = tablePa(0);
  mmu.wp = cfg.wp;
  mmu.nxe = cfg.nxe;
  return [mmu, { cr3: tablePa(0), wp: cfg.wp, nxe: cfg.nxe }];
}

// ---- tests ------------------------------------------------------------------

describe('Mmu against the reference walk (fast-check)', () => {
  it('a page walk gives the same translation or the same fault, and sets A/D (no TLB reuse)', () => {
    seen.clear();
    fc.assert(
      fc.property(tablesArb, cfgArb, fc.array(accessArb, { minLength: 5, maxLength: 20 }), (tables, c, accesses) => {
        const mem = new PhysicalMemory(MEM_BYTES);
        writeTables(mem, tables);
        for (const a of accesses) {
          const [mmu, cfg] = freshMmu(mem, c);
          const err = compare(mmu, mem, cfg, a.va, a.kind, a.user);
          if (err !== null) throw new Error(err);
        }
      }),
      { seed: 42, numRuns: 300 },
    );
    // The generators reach every outcome: 1 GiB, 2 MiB and 4 KiB pages (walks of 2, 3, 4 entries) and every fault kind.
    for (const k of ['ok-2', 'ok-3', 'ok-4', 'gp', 'pf-rsvd', 'pf-prot', 'pf-np']) expect(seen.get(k) ?? 0, `${k} in ${JSON.stringify([...seen])}`).toBeGreaterThan(20);
  });

  type Step = { op: 'access'; v: number; kind: number; user: boolean } | { op: 'modify'; te: readonly [number, bigint]; slot: number; mode: 'invlpg-all' | 'invlpg-one' | 'flush'; v: number; kind: number; user: boolean };

  it('with the TLB: same results while tables are unchanged, and again after invlpg or a CR3 flush', () => {
    let tlbHits = 0;
    let modifies = 0;
    const stepArb: fc.Arbitrary<Step> = fc.oneof(
      { weight: 6, arbitrary: fc.record({ op: fc.constant('access' as const), v: fc.integer({ min: 0, max: 7 }), kind: kindArb, user: fc.boolean() }) },
      {
        weight: 1,
        arbitrary: fc.record({
          op: fc.constant('modify' as const),
          te: fc.integer({ min: 0, max: POOL_TABLES - 1 }).chain((j) => entryArbFor(levelOfTable(j)).map((e) => [j, e] as const)),
          slot: fc.integer({ min: 0, max: IDX.length - 1 }),
          mode: fc.constantFrom('invlpg-all' as const, 'invlpg-one' as const, 'flush' as const),
          v: fc.integer({ min: 0, max: 7 }),
          kind: kindArb,
          user: fc.boolean(),
        }),
      },
    );
    fc.assert(
      fc.property(tablesArb, cfgArb, fc.array(vaArb, { minLength: 4, maxLength: 4 }), fc.array(fc.integer({ min: 0, max: 4095 }), { minLength: 4, maxLength: 4 }), fc.array(stepArb, { minLength: 20, maxLength: 60 }), (tables, c, bases, offs, steps) => {
        // Eight addresses: four random ones, and another address in the page of each.
        const vas = [...bases, ...bases.map((v, i) => v - (((v % 4096) + 4096) % 4096) + offs[i])];
        const mem = new PhysicalMemory(MEM_BYTES);
        writeTables(mem, tables);
        const [mmu, cfg] = freshMmu(mem, c);
        for (const s of steps) {
          if (s.op === 'access') {
            const err = compare(mmu, mem, cfg, vas[s.v], s.kind, s.user);
            if (err !== null) throw new Error(`TLB run: ${err}`);
            continue;
          }
          mem.write64(tablePa(s.te[0]) + IDX[s.slot] * 8, s.te[1]);
          if (s.mode === 'flush') mmu.flushNonGlobal(); // CR4.PGE = 0: drops everything
          else if (s.mode === 'invlpg-all') for (const va of vas) mmu.invalidate(va);
          else {
            // INVLPG of one address: that address must be translated afresh.
            mmu.invalidate(vas[s.v]);
            const err = compare(mmu, mem, cfg, vas[s.v], s.kind, s.user);
            if (err !== null) throw new Error(`after invlpg: ${err}`);
            mmu.flushNonGlobal();
          }
        }
        tlbHits += mmu.tlbHits;
        modifies += steps.filter((x) => x.op === 'modify').length;
      }),
      { seed: 42, numRuns: 300 },
    );
    expect(tlbHits).toBeGreaterThan(400); // the TLB was really exercised
    expect(modifies).toBeGreaterThan(500);
  });
});

describe('Mmu: fixed cases', () => {
  // PML4 at 0x10000, PDPT 0x11000, PD 0x12000, PT 0x13000.
  function setup(): { mem: PhysicalMemory; mmu: Mmu } {
    const mem = new PhysicalMemory(MEM_BYTES);
    const uw = PTE.P | PTE.RW | PTE.US;
    mem.write64(0x10000 + 1 * 8, entry(0x11000, uw)); // PML4[1]: 0x0000_0080_0000_0000
    mem.write64(0x11000 + 0 * 8, entry(0x12000, uw)); // PDPT[0]
    mem.write64(0x11000 + 1 * 8, entry(0x40000000, uw | PTE.PS)); // PDPT[1]: 1 GiB page
    mem.write64(0x12000 + 0 * 8, entry(0x13000, uw)); // PD[0]
    mem.write64(0x12000 + 1 * 8, entry(0x600000, PTE.P | PTE.PS, true)); // PD[1]: 2 MiB, read-only, supervisor, NX
    mem.write64(0x13000 + 5 * 8, entry(0x345000, PTE.P | PTE.US)); // PT[5]: read-only user page
    mem.write64(0x13000 + 6 * 8, entry(0x346000, PTE.P | PTE.RW | PTE.US | PTE.G)); // PT[6]: writable, global
    const mmu = new Mmu(mem);
    mmu.cr3 = 0x10000;
    mmu.nxe = true;
    return { mem, mmu };
  }
  const V = (i3: number, i2: number, i1: number, off: number): number => vaOf(1, i3, i2, i1, off);

  it('translates 4 KiB, 2 MiB and 1 GiB pages', () => {
    const { mmu } = setup();
    expect(mmu.translate(V(0, 0, 5, 0x123), Access.Read, true)).toBe(0x345123);
    expect(mmu.translate(V(0, 1, 7, 0x9), Access.Read, false)).toBe(0x600000 + 7 * 4096 + 9);
    expect(mmu.translate(V(1, 3, 2, 0x10), Access.Write, true)).toBe(0x40000000 + 3 * 0x200000 + 2 * 4096 + 0x10);
  });

  it('reports #PF error codes: not present, protection, user, write, instruction fetch', () => {
    const { mmu } = setup();
    const f = (va: number, kind: number, user: boolean): number => {
      expect(mmu.translate(va, kind, user)).toBe(-1);
      expect(mmu.fault.vector).toBe(14);
      expect(mmu.fault.addr).toBe(va);
      return mmu.fault.code;
    };
    expect(f(V(0, 0, 7, 0), Access.Read, false)).toBe(0); // PT[7] not present
    expect(f(V(0, 0, 7, 0), Access.Write, true)).toBe(PFErr.W | PFErr.U);
    expect(f(V(0, 0, 5, 0), Access.Write, true)).toBe(PFErr.P | PFErr.W | PFErr.U); // read-only user page
    expect(f(V(0, 0, 5, 0), Access.Write, false)).toBe(PFErr.P | PFErr.W); // CR0.WP = 1
    expect(f(V(0, 1, 0, 0), Access.Read, true)).toBe(PFErr.P | PFErr.U); // supervisor page
    expect(f(V(0, 1, 0, 0), Access.Exec, false)).toBe(PFErr.P | PFErr.I); // NX
    expect(f(V(0, 0, 7, 0), Access.Exec, false)).toBe(PFErr.I);
    mmu.wp = false;
    expect(mmu.translate(V(0, 0, 5, 8), Access.Write, false)).toBe(0x345008); // WP = 0: supervisor may write
    mmu.nxe = false;
    // NX set with EFER.NXE = 0 is a reserved bit; I is not reported without NXE.
    expect(f(V(0, 1, 0, 0), Access.Exec, false)).toBe(PFErr.P | PFErr.RSVD);
  });

  it('gives #GP (vector 13) for non-canonical or non-integer addresses', () => {
    const { mmu } = setup();
    for (const va of [TWO_47, TWO_47 + 4096, -TWO_47 - 1, 2 ** 60, 1.5, NaN]) {
      expect(mmu.translate(va, Access.Read, false)).toBe(-1);
      expect(mmu.fault.vector).toBe(13);
      expect(mmu.fault.code).toBe(0);
    }
    // Edges of the canonical halves are fine (they just are not mapped here: #PF).
    for (const va of [TWO_47 - 1, -TWO_47]) {
      expect(mmu.translate(va, Access.Read, false)).toBe(-1);
      expect(mmu.fault.vector).toBe(14);
    }
  });

  it('sets A on every entry of the walk, and D on the leaf only for writes (SDM §4.8)', () => {
    const { mem, mmu } = setup();
    const pte = 0x13000 + 6 * 8;
    const va = V(0, 0, 6, 0x40);
    expect(mem.read32(pte) & (PTE.A | PTE.D)).toBe(0);
    expect(mmu.translate(va, Access.Read, true)).toBe(0x346040);
    for (const ea of [0x10000 + 8, 0x11000, 0x12000]) expect(mem.read32(ea) & PTE.A).toBe(PTE.A);
    expect(mem.read32(pte) & (PTE.A | PTE.D)).toBe(PTE.A);
    expect(mem.read32(0x12000) & PTE.D).toBe(0);
    // A write hitting the clean TLB entry must still set D.
    expect(mmu.translate(va, Access.Write, true)).toBe(0x346040);
    expect(mem.read32(pte) & (PTE.A | PTE.D)).toBe(PTE.A | PTE.D);
    // Failed accesses do not set D.
    const ro = 0x13000 + 5 * 8;
    expect(mmu.translate(V(0, 0, 5, 0), Access.Write, true)).toBe(-1);
    expect(mem.read32(ro) & PTE.D).toBe(0);
    // 2 MiB leaf: D set on write.
    mmu.wp = false;
    expect(mmu.translate(V(0, 1, 0, 0), Access.Write, false)).toBe(0x600000);
    expect(mem.read32(0x12000 + 8) & (PTE.A | PTE.D)).toBe(PTE.A | PTE.D);
  });

  it('the TLB keeps a stale translation until INVLPG or a CR3 flush (SDM §4.10.4)', () => {
    const { mem, mmu } = setup();
    const va = V(0, 0, 5, 0);
    expect(mmu.translate(va, Access.Read, true)).toBe(0x345000);
    mem.write64(0x13000 + 5 * 8, entry(0x777000, PTE.P | PTE.US));
    const hits = mmu.tlbHits;
    expect(mmu.translate(va + 4, Access.Read, true)).toBe(0x345004); // stale, from the TLB
    expect(mmu.tlbHits).toBe(hits + 1);
    mmu.invalidate(va + 100);
    expect(mmu.translate(va + 4, Access.Read, true)).toBe(0x777004);
    mem.write64(0x13000 + 5 * 8, 0n);
    expect(mmu.translate(va, Access.Read, true)).toBe(0x777000);
    mmu.flushNonGlobal();
    expect(mmu.translate(va, Access.Read, true)).toBe(-1);
    expect(mmu.fault.code).toBe(PFErr.U);
  });

  it('INVLPG of one address in a 2 MiB page drops the translation of every 4 KiB page in it (the lookup cache too)', () => {
    const { mem, mmu } = setup();
    const a = V(0, 1, 3, 0x10);
    const b = V(0, 1, 200, 0x20); // same 2 MiB page, another 4 KiB page (another lookup-cache slot)
    mmu.wp = false;
    expect(mmu.translate(a, Access.Read, false)).toBe(0x600000 + 3 * 4096 + 0x10);
    expect(mmu.translate(b, Access.Read, false)).toBe(0x600000 + 200 * 4096 + 0x20);
    expect(mmu.translate(b, Access.Read, false)).toBe(0x600000 + 200 * 4096 + 0x20); // a hit
    mem.write64(0x12000 + 1 * 8, entry(0xa00000, PTE.P | PTE.PS, true)); // PD[1] now points elsewhere
    expect(mmu.translate(b, Access.Read, false)).toBe(0x600000 + 200 * 4096 + 0x20); // stale until INVLPG
    mmu.invalidate(a);
    expect(mmu.translate(b, Access.Read, false)).toBe(0xa00000 + 200 * 4096 + 0x20);
    expect(mmu.translate(a, Access.Read, false)).toBe(0xa00000 + 3 * 4096 + 0x10);
    // A write through a clean cached entry still walks to set D.
    expect(mem.read32(0x12000 + 8) & PTE.D).toBe(0);
    expect(mmu.translate(a, Access.Write, false)).toBe(0xa00000 + 3 * 4096 + 0x10);
    expect(mem.read32(0x12000 + 8) & PTE.D).toBe(PTE.D);
  });

  it('global entries survive flushNonGlobal only with CR4.PGE; invalidate and flushAll drop them', () => {
    const { mem, mmu } = setup();
    const g = V(0, 0, 6, 0);
    const ng = V(0, 0, 5, 0);
    const remap = (): void => {
      mem.write64(0x13000 + 6 * 8, entry(0x500000, PTE.P | PTE.RW | PTE.US | PTE.G));
      mem.write64(0x13000 + 5 * 8, entry(0x501000, PTE.P | PTE.US));
    };
    mmu.pge = true;
    expect(mmu.translate(g, Access.Read, true)).toBe(0x346000);
    expect(mmu.translate(ng, Access.Read, true)).toBe(0x345000);
    remap();
    mmu.flushNonGlobal();
    expect(mmu.translate(g, Access.Read, true)).toBe(0x346000); // global: kept
    expect(mmu.translate(ng, Access.Read, true)).toBe(0x501000); // non-global: re-walked
    mmu.invalidate(g);
    expect(mmu.translate(g, Access.Read, true)).toBe(0x500000);
    // Without PGE a CR3 flush drops global entries too.
    const { mem: mem2, mmu: mmu2 } = setup();
    expect(mmu2.translate(g, Access.Read, true)).toBe(0x346000);
    mem2.write64(0x13000 + 6 * 8, entry(0x500000, PTE.P | PTE.RW | PTE.US | PTE.G));
    mmu2.flushNonGlobal();
    expect(mmu2.translate(g, Access.Read, true)).toBe(0x500000);
    mmu.pge = true;
    mem.write64(0x13000 + 6 * 8, entry(0x502000, PTE.P | PTE.RW | PTE.US | PTE.G));
    mmu.flushAll();
    expect(mmu.translate(g, Access.Read, true)).toBe(0x502000);
    expect(mmu.tlbSize()).toBe(1);
  });

  it('a TLB at capacity is flushed rather than growing', () => {
    const mem = new PhysicalMemory(MEM_BYTES);
    mem.write64(0x10000, entry(0x11000, PTE.P | PTE.RW));
    mem.write64(0x11000, entry(0x12000, PTE.P | PTE.RW));
    mem.write64(0x12000, entry(0x13000, PTE.P | PTE.RW));
    for (let i = 0; i < 16; i++) mem.write64(0x13000 + i * 8, entry(0x400000 + i * 4096, PTE.P | PTE.RW));
    const mmu = new Mmu(mem, 4);
    mmu.cr3 = 0x10000;
    for (let i = 0; i < 16; i++) {
      expect(mmu.translate(i * 4096 + 1, Access.Read, false)).toBe(0x400000 + i * 4096 + 1);
      expect(mmu.tlbSize()).toBeLessThanOrEqual(4);
    }
    expect(mmu.translate(15 * 4096, Access.Read, false)).toBe(0x400000 + 15 * 4096);
    expect(mmu.walked).toBe(false);
  });

  it('reserved bits: PS in a PML4E, misaligned large pages, address bits above MAXPHYADDR', () => {
    const mem = new PhysicalMemory(MEM_BYTES);
    const mmu = new Mmu(mem);
    mmu.cr3 = 0x10000;
    mmu.nxe = true;
    const rsvd = (va: number): void => {
      mmu.flushAll();
      expect(mmu.translate(va, Access.Read, false)).toBe(-1);
      expect(mmu.fault.code).toBe(PFErr.P | PFErr.RSVD);
    };
    mem.write64(0x10000, entry(0x11000, PTE.P | PTE.RW | PTE.PS));
    rsvd(0x1000);
    mem.write64(0x10000, entry(0x11000, PTE.P | PTE.RW));
    mem.write64(0x11000, entry(0x40000000 + 0x200000, PTE.P | PTE.PS)); // 1 GiB page, bit 21 set
    rsvd(0x1000);
    mem.write64(0x11000, entry(0x40000000 + 0x1000, PTE.P | PTE.PS)); // PAT bit 12 is allowed
    expect(mmu.translate(0x1000, Access.Read, false)).toBe(0x40001000);
    mem.write64(0x11000, entry(0x12000, PTE.P | PTE.RW));
    mem.write64(0x12000, entry(0x202000, PTE.P | PTE.PS)); // 2 MiB page, bit 13 set
    rsvd(0x1000);
    mem.write64(0x12000, entry(0x13000, PTE.P | PTE.RW) | (1n << 40n)); // bit 40 >= MAXPHYADDR
    rsvd(0x1000);
    mem.write64(0x12000, entry(0x13000, PTE.P | PTE.RW));
    mem.write64(0x13000 + 8, entry(0x123000, PTE.P) | (1n << 51n));
    rsvd(0x1000);
    mem.write64(0x13000 + 8, entry(0x123000, PTE.P | PTE.PS)); // bit 7 of a PTE is PAT: allowed
    expect(mmu.translate(0x1abc, Access.Read, false)).toBe(0x123abc);
  });
});

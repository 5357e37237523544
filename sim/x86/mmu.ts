// MMU: 4-level paging (IA-32e mode) over page tables in simulated RAM, in the
// real format, with a per-CPU TLB.
// Spec: Intel SDM vol. 3A, chapter 4: §4.5 (4-level paging: PML4E, PDPTE
// with PS for 1 GiB pages, PDE with PS for 2 MiB pages, PTE), §4.6 (access
// rights: R/W, U/S, XD with EFER.NXE, CR0.WP), §4.7 (page-fault error code:
// P, W/R, U/S, RSVD, I/D; CR2), §4.8 (accessed and dirty flags), §4.10
// (TLBs: INVLPG, MOV to CR3 flushes non-global entries, CR4.PGE; a page
// fault invalidates the TLB entries for the faulting address).
// Not modelled: SMEP/SMAP, protection keys, PCIDs, 5-level paging, PAT.
import type { PhysicalMemory } from '../memory.ts';
import { TWO_32, low48 } from './address.ts';

/** Page-table entry flag bits (low dword). */
export const PTE = {
  P: 0x1,
  RW: 0x2,
  US: 0x4,
  PWT: 0x8,
  PCD: 0x10,
  A: 0x20,
  D: 0x40,
  PS: 0x80,
  G: 0x100,
} as const;
/** XD/NX is bit 63: bit 31 of the high dword. */
export const PTE_NX_HI = 0x80000000;

/** Page-fault error code bits (SDM §4.7). */
export const PFErr = { P: 1, W: 2, U: 4, RSVD: 8, I: 16 } as const;

/** Access kinds. */
export const Access = { Read: 0, Write: 1, Exec: 2 } as const;

/** MAXPHYADDR of the modelled CPU (QEMU's qemu64 model reports 40). */
export const MAX_PHYS_BITS = 40;
/** High-dword mask of address bits above MAXPHYADDR up to bit 51 (reserved, must be 0). */
const RSVD_HI = ((1 << (52 - 32)) - 1) & ~((1 << (MAX_PHYS_BITS - 32)) - 1);
/** High-dword mask of the address bits 51:32 of an entry. */
const ADDR_HI = (1 << (52 - 32)) - 1;

/** A cached translation. */
interface TlbEntry {
  /** Physical base of the page. */
  base: number;
  rw: boolean;
  us: boolean;
  nx: boolean;
  dirty: boolean;
  global: boolean;
  /** Physical address of the leaf entry (to set D). */
  leafPa: number;
}

const SIZE_4K = 4096;
const SIZE_2M = 2097152;
const SIZE_1G = 1073741824;
/** Slots of the MMU's lookup cache (a power of two). */
const UC_SLOTS = 256;
/** 32 - log2(UC_SLOTS): the top bits of the hash index the slots. */
const UC_SHIFT = 24;

/** Result of a failed translation. */
export interface Fault {
  vector: number; // 14 (#PF) or 13 (#GP, non-canonical)
  code: number;
  addr: number;
}

export class Mmu {
  /** CR3: physical address of the PML4 (bits 51:12). */
  cr3 = 0;
  /** CR0.WP: supervisor writes honour R/W. */
  wp = true;
  /** EFER.NXE: the XD bit is enabled. */
  nxe = false;
  /** CR4.PGE: global pages survive CR3 writes. */
  pge = false;
  /** Whether the last successful translation needed a page walk (for the cost model). */
  walked = false;
  /** The fault of the last failed translation. */
  readonly fault: Fault = { vector: 0, code: 0, addr: 0 };
  /** TLB capacity per page size; when full, that TLB is flushed (deterministic). */
  readonly tlbCapacity: number;
  private readonly tlb4k = new TlbLevel();
  private readonly tlb2m = new TlbLevel();
  private readonly tlb1g = new TlbLevel();
  /** Direct-mapped lookup cache by 4 KiB page number: the TLB entry covering it and that 4 KiB page's physical base. */
  private readonly ucVpn = new Float64Array(UC_SLOTS).fill(-1);
  private readonly ucEntry: (TlbEntry | null)[] = new Array<TlbEntry | null>(UC_SLOTS).fill(null);
  private readonly ucBase = new Float64Array(UC_SLOTS);
  /** Slots filled with non-global translations since the last flush (a CR3 write drops just these); UC_SLOTS entries means it overflowed. */
  private readonly ucLocal = new Int32Array(UC_SLOTS);
  private ucLocalCount = 0;
  /** Whether any slot was filled since the cache was last cleared. */
  private ucFilled = false;
  /** Counters. */
  tlbHits = 0;
  tlbMisses = 0;
  walks = 0;

  constructor(
    private readonly mem: PhysicalMemory,
    tlbCapacity = 1536,
  ) {
    this.tlbCapacity = tlbCapacity;
  }

  /**
   * Translates canonical-or-not virtual address `va` for an access of `kind`
   * at user privilege `user`. Returns the physical address, or -1 with
   * `this.fault` describing the #PF (or #GP for a non-canonical address).
   */
  translate(va: number, kind: number, user: boolean): number {
    if (!(va >= -140737488355328 && va < 140737488355328) || va !== Math.floor(va)) {
      this.fault.vector = 13;
      this.fault.code = 0;
      this.fault.addr = va;
      return -1;
    }
    const u = va + (va < 0 ? 281474976710656 : 0); // arithmetic on both paths: V8 keeps u an unboxed double (a phi with the tagged argument would box it on every call)
    const vpn = Math.floor(u / SIZE_4K);
    const off4k = u - vpn * SIZE_4K;
    // Lookup cache in front of the TLB maps (host speed only: it holds TLB entries, and loses them whenever the TLB does).
    // Slot: a multiplicative (Fibonacci) hash of the page number's low 32 bits (>>> 0 takes them from the
    // double), so the kernel image (vpn 0xfffff80000 + i) and the HHDM (vpn 0x800000000 + pfn) do not collide
    // on aligned pages as they do by low bits.
    const slot = Math.imul(vpn >>> 0, 0x9e3779b1) >>> UC_SHIFT;
    if (this.ucVpn[slot] === vpn) {
      const e = this.ucEntry[slot]!;
      if (this.allowed(e, kind, user) && (kind !== Access.Write || e.dirty)) {
        this.tlbHits++;
        this.walked = false;
        return this.ucBase[slot] + off4k;
      }
    }
    let e = this.tlb4k.get(vpn);
    let off = off4k;
    if (e === undefined) {
      const n2m = Math.floor(u / SIZE_2M);
      e = this.tlb2m.get(n2m);
      off = u - n2m * SIZE_2M;
      if (e === undefined) {
        const n1g = Math.floor(u / SIZE_1G);
        e = this.tlb1g.get(n1g);
        off = u - n1g * SIZE_1G;
      }
    }
    if (e !== undefined && this.allowed(e, kind, user) && (kind !== Access.Write || e.dirty)) {
      this.tlbHits++;
      this.walked = false;
      this.ucVpn[slot] = vpn;
      this.ucEntry[slot] = e;
      this.ucFilled = true;
      this.ucBase[slot] = e.base + off - off4k;
      if (!e.global && this.ucLocalCount < UC_SLOTS) this.ucLocal[this.ucLocalCount++] = slot;
      return e.base + off;
    }
    return this.walk(va, u, kind, user);
  }

  private allowed(e: TlbEntry, kind: number, user: boolean): boolean {
    if (user && !e.us) return false;
    if (kind === Access.Write && !e.rw && (user || this.wp)) return false;
    if (kind === Access.Exec && e.nx && this.nxe) return false;
    return true;
  }

  /** Full page walk (SDM §4.5), setting A and D bits; fills the TLB on success. */
  private walk(va: number, u: number, kind: number, user: boolean): number {
    this.tlbMisses++;
    this.walks++;
    this.walked = true;
    this.invalidate(va);
    const mem = this.mem;
    let table = this.cr3 - (this.cr3 % SIZE_4K);
    let rw = true;
    let us = true;
    let nx = false;
    const baseCode = (kind === Access.Write ? PFErr.W : 0) | (user ? PFErr.U : 0) | (kind === Access.Exec && this.nxe ? PFErr.I : 0);
    for (let level = 4; level >= 1; level--) {
      const ea = table + (Math.floor(u / (level === 4 ? 549755813888 : level === 3 ? SIZE_1G : level === 2 ? SIZE_2M : SIZE_4K)) & 511) * 8;
      if (ea + 8 > mem.size) return this.pf(va, baseCode | PFErr.P | PFErr.RSVD);
      const lo = mem.read32(ea);
      const hi = mem.read32(ea + 4);
      if ((lo & PTE.P) === 0) return this.pf(va, baseCode);
      const ps = (lo & PTE.PS) !== 0 && level > 1;
      let rsvd = (hi & RSVD_HI) !== 0 || ((hi & PTE_NX_HI) !== 0 && !this.nxe);
      if (level === 4 && (lo & PTE.PS) !== 0) rsvd = true;
      if (ps && level === 3 && (lo & 0x3fffe000) !== 0) rsvd = true;
      if (ps && level === 2 && (lo & 0x001fe000) !== 0) rsvd = true;
      if (rsvd) return this.pf(va, baseCode | PFErr.P | PFErr.RSVD);
      rw &&= (lo & PTE.RW) !== 0;
      us &&= (lo & PTE.US) !== 0;
      nx ||= (hi & PTE_NX_HI) !== 0;
      if (level === 1 || ps) {
        // Leaf: check rights before setting A/D (SDM §4.8: flags are set only for accesses that succeed).
        if ((user && !us) || (kind === Access.Write && !rw && (user || this.wp)) || (kind === Access.Exec && nx && this.nxe)) {
          return this.pf(va, baseCode | PFErr.P);
        }
        let newLo = lo | PTE.A;
        if (kind === Access.Write) newLo |= PTE.D;
        if (newLo !== lo) mem.write32(ea, newLo);
        const size = level === 3 ? SIZE_1G : level === 2 ? SIZE_2M : SIZE_4K;
        const addrHi = (hi & ADDR_HI) * TWO_32;
        const addrLo = (lo >>> 0) - ((lo >>> 0) % size);
        const base = addrHi + addrLo;
        const entry: TlbEntry = {
          base,
          rw,
          us,
          nx,
          dirty: (newLo & PTE.D) !== 0,
          global: (lo & PTE.G) !== 0,
          leafPa: ea,
        };
        const map = level === 3 ? this.tlb1g : level === 2 ? this.tlb2m : this.tlb4k;
        if (map.size >= this.tlbCapacity) {
          map.clear();
          this.clearCache();
        }
        map.set(Math.floor(u / size), entry);
        return base + (u % size);
      }
      if ((lo & PTE.A) === 0) mem.write32(ea, lo | PTE.A);
      table = (hi & ADDR_HI) * TWO_32 + ((lo >>> 0) - ((lo >>> 0) % SIZE_4K));
    }
    /* istanbul ignore next: the loop always returns */
    throw new Error('unreachable: page walk fell through');
  }

  private pf(va: number, code: number): number {
    this.fault.vector = 14;
    this.fault.code = code;
    this.fault.addr = va;
    return -1;
  }

  /** INVLPG: drops every cached translation covering `va`. */
  invalidate(va: number): void {
    const u = low48(va);
    const n4k = Math.floor(u / SIZE_4K);
    const n2m = Math.floor(u / SIZE_2M);
    const n1g = Math.floor(u / SIZE_1G);
    const e4k = this.tlb4k.get(n4k);
    const e2m = this.tlb2m.get(n2m);
    const e1g = this.tlb1g.get(n1g);
    if (e4k === undefined && e2m === undefined && e1g === undefined) return;
    this.tlb4k.delete(n4k);
    this.tlb2m.delete(n2m);
    this.tlb1g.delete(n1g);
    const ent = this.ucEntry;
    for (let i = 0; i < UC_SLOTS; i++) {
      const e = ent[i];
      if (e !== null && (e === e4k || e === e2m || e === e1g)) {
        ent[i] = null;
        this.ucVpn[i] = -1;
      }
    }
  }

  /** MOV to CR3: flushes non-global entries (all entries when CR4.PGE is clear). */
  flushNonGlobal(): void {
    if (this.pge) this.dropLocalFromCache();
    else this.clearCache();
    if (!this.pge) {
      this.tlb4k.clear();
      this.tlb2m.clear();
      this.tlb1g.clear();
      return;
    }
    this.tlb4k.clearLocal();
    this.tlb2m.clearLocal();
    this.tlb1g.clearLocal();
  }

  /** Flushes everything (CR4.PGE toggled, or CR0.PG written). */
  flushAll(): void {
    this.clearCache();
    this.tlb4k.clear();
    this.tlb2m.clear();
    this.tlb1g.clear();
  }

  /** Drops the lookup cache's non-global translations (global ones survive a CR3 write, in the TLB maps too). */
  private dropLocalFromCache(): void {
    if (this.ucLocalCount >= UC_SLOTS) for (let i = 0; i < UC_SLOTS; i++) this.dropSlotIfLocal(i); // the list overflowed
    else for (let j = 0; j < this.ucLocalCount; j++) this.dropSlotIfLocal(this.ucLocal[j]);
    this.ucLocalCount = 0;
  }

  private dropSlotIfLocal(i: number): void {
    const e = this.ucEntry[i];
    if (e !== null && !e.global) {
      this.ucEntry[i] = null;
      this.ucVpn[i] = -1;
    }
  }

  private clearCache(): void {
    if (!this.ucFilled) return;
    this.ucVpn.fill(-1); // no slot matches any page now
    this.ucEntry.fill(null);
    this.ucLocalCount = 0;
    this.ucFilled = false;
  }

  /** Number of cached translations (for tests and reports). */
  tlbSize(): number {
    return this.tlb4k.size + this.tlb2m.size + this.tlb1g.size;
  }
}

/**
 * The TLB for one page size: global translations (PTE.G with CR4.PGE) and
 * the others kept apart, so a CR3 write drops the others in O(1) instead of
 * visiting every cached kernel translation (it was ~0.4 us per context
 * switch). A page number is in at most one of the two: a fill follows an
 * invalidation of its address.
 */
class TlbLevel {
  private readonly global = new Map<number, TlbEntry>();
  private readonly local = new Map<number, TlbEntry>();

  get size(): number {
    return this.global.size + this.local.size;
  }

  get(key: number): TlbEntry | undefined {
    const e = this.global.get(key);
    return e !== undefined ? e : this.local.get(key);
  }

  set(key: number, e: TlbEntry): void {
    (e.global ? this.global : this.local).set(key, e);
  }

  delete(key: number): void {
    this.global.delete(key);
    this.local.delete(key);
  }

  // Map.clear() allocates a fresh table even for an empty map: skip it then.
  clear(): void {
    if (this.global.size > 0) this.global.clear();
    if (this.local.size > 0) this.local.clear();
  }

  clearLocal(): void {
    if (this.local.size > 0) this.local.clear();
  }
}

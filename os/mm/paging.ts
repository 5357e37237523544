// Kernel page tables in the real x86-64 4-level format (Intel SDM vol. 3A
// §4.5), built through the higher-half direct map. The kernel's address
// space: the HHDM (all RAM, 1 GiB pages, RW, NX, global), the kernel image at
// its link address (4 KiB pages, read + execute, global), and the LAPIC and
// IOAPIC register pages (uncached: PCD | PWT).
import { compute, load32, readCr, rdmsr, repStos, store32, writeCr, wrmsr, Msr, type Code } from '../../sim/ops.ts';
import { PTE, PTE_NX_HI } from '../../sim/x86/mmu.ts';
import { TWO_32, low48 } from '../../sim/x86/address.ts';
import type { Kernel } from '../kstate.ts';
import { panic } from '../panic.ts';

export const LAPIC_PHYS = 0xfee00000;
export const IOAPIC_PHYS = 0xfec00000;

/** Allocates and zeroes a frame; panics when memory is exhausted (boot-time use). */
export function* allocZeroedFrame(k: Kernel): Code<number> {
  yield compute(40); // allocator bookkeeping
  const pa = k.pmm.alloc();
  if (pa < 0) return yield panic(0x4d, 'out of physical memory');
  yield repStos(k.p2v(pa), 4096, 0);
  return pa;
}

/** Page sizes (SDM §4.5: PS in a PDPTE maps 1 GiB, in a PDE 2 MiB). */
export const PAGE_4K = 0x1000;
export const PAGE_2M = 0x200000;
export const PAGE_1G = 0x40000000;

/**
 * Maps `va` -> `pa` in the tables rooted at `pml4` with a page of `size`
 * (4 KiB, 2 MiB or 1 GiB). Intermediate tables are created with P | RW
 * (| US when `flags` has US); returns false if a large page is in the way.
 */
export function* mapPage(k: Kernel, pml4: number, va: number, pa: number, flags: number, nx: boolean, size = PAGE_4K): Code<boolean> {
  const u = low48(va);
  const idx = [Math.floor(u / 2 ** 39) % 512, Math.floor(u / 2 ** 30) % 512, Math.floor(u / 2 ** 21) % 512, Math.floor(u / 4096) % 512];
  const large = size !== PAGE_4K;
  const leafLevel = size === PAGE_1G ? 1 : size === PAGE_2M ? 2 : 3;
  let table = pml4;
  for (let level = 0; level < leafLevel; level++) {
    const ea = k.p2v(table + idx[level] * 8);
    const lo: number = yield load32(ea);
    const hi: number = yield load32(ea + 4);
    if ((lo & PTE.P) === 0) {
      const t: number = yield allocZeroedFrame(k);
      yield store32(ea + 4, Math.floor(t / TWO_32));
      yield store32(ea, (t % TWO_32) | PTE.P | PTE.RW | (flags & PTE.US));
      table = t;
    } else {
      if ((lo & PTE.PS) !== 0) return false;
      if ((flags & PTE.US) !== 0 && (lo & PTE.US) === 0) yield store32(ea, lo | PTE.US);
      table = (hi & 0xfffff) * TWO_32 + ((lo >>> 0) - ((lo >>> 0) % 4096));
    }
  }
  const ea = k.p2v(table + idx[leafLevel] * 8);
  yield store32(ea + 4, Math.floor(pa / TWO_32) | (nx ? PTE_NX_HI : 0));
  yield store32(ea, (pa % TWO_32) | flags | PTE.P | (large ? PTE.PS : 0));
  return true;
}

/** Builds the kernel's page tables, turns on NXE and PGE, loads CR3; returns whether paging is on with the new tables. */
export function* initPaging(k: Kernel): Code<boolean> {
  const pml4: number = yield allocZeroedFrame(k);
  let top = 0;
  for (const r of k.boot.memmap) top = Math.max(top, r.base + r.length);
  // The HHDM with 1 GiB pages (as Limine does on CPUs with pdpe1gb): one entry per GiB of RAM.
  top = Math.ceil(top / PAGE_1G) * PAGE_1G;
  for (let pa = 0; pa < top; pa += PAGE_1G) {
    yield mapPage(k, pml4, k.p2v(pa), pa, PTE.RW | PTE.G, true, PAGE_1G);
  }
  const pages = k.image.size / 4096;
  for (let i = 0; i < pages; i++) {
    yield mapPage(k, pml4, k.boot.kernelVirtBase + i * 4096, k.boot.kernelPhysBase + i * 4096, PTE.G, false);
  }
  for (const mmio of [LAPIC_PHYS, IOAPIC_PHYS]) {
    yield mapPage(k, pml4, k.p2v(mmio), mmio, PTE.RW | PTE.PCD | PTE.PWT | PTE.G, true);
  }
  const efer: number = yield rdmsr(Msr.EFER);
  yield wrmsr(Msr.EFER, efer | 0x800);
  const cr4: number = yield readCr(4);
  yield writeCr(4, cr4 | 0x80);
  yield writeCr(3, pml4);
  k.kernelPml4 = pml4;
  const cr0: number = yield readCr(0);
  const cr3: number = yield readCr(3);
  return (cr0 & 0x80000000) !== 0 && cr3 === pml4;
}

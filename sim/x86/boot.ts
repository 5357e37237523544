// Boot handoff following the Limine boot protocol's contract
// (Limine PROTOCOL.md: "Entry machine state" for x86-64, and the memory map,
// HHDM, executable address, executable cmdline, module and MP (SMP)
// features). The machine plays the bootloader:
// - the memory map uses Limine's entry types and is sorted, non-overlapping,
//   with usable and bootloader-reclaimable entries 4 KiB aligned;
// - the higher-half direct map (HHDM) maps all of RAM at 0xffff800000000000;
// - the kernel image is loaded at physical 0x200000 and mapped at its
//   virtual base 0xffffffff80000000 (Limine maps the executable there);
// - the BSP enters the kernel's entry point in 64-bit mode, paging on with
//   the bootloader's page tables, IF = 0; each AP waits in bootloader code,
//   polling its limine_smp_info.goto_address, and jumps there with the
//   info's address as its argument once the kernel writes it.
// Responses are laid out in their real C layouts (limine.h) in
// bootloader-reclaimable memory. One deviation: Limine finds the kernel's
// requests by scanning the executable for their magic IDs; here the
// responses are gathered in a handoff block (RUGO_HANDOFF_LAYOUT) whose HHDM
// address is the entry point's argument.
import type { PhysicalMemory } from '../memory.ts';
import { CodeImage, type CodeMap, IMAGE_MAGIC } from '../code.ts';
import { PTE, PTE_NX_HI } from './mmu.ts';
import { TWO_32, low48 } from './address.ts';
import { Stack } from './cpu.ts';
import { compute, load32, jump, pause } from '../ops.ts';

/** Limine memory map entry types (limine.h LIMINE_MEMMAP_*). */
export const MemmapType = {
  USABLE: 0,
  RESERVED: 1,
  ACPI_RECLAIMABLE: 2,
  ACPI_NVS: 3,
  BAD_MEMORY: 4,
  BOOTLOADER_RECLAIMABLE: 5,
  EXECUTABLE_AND_MODULES: 6,
  FRAMEBUFFER: 7,
} as const;

export const HHDM_OFFSET = -0x800000000000; // 0xffff800000000000
export const KERNEL_VIRT_BASE = -0x80000000; // 0xffffffff80000000
export const KERNEL_PHYS_BASE = 0x200000;
const RECLAIM_BASE = 0x100000;
const RECLAIM_END = 0x200000;

/** Handoff block: u64 magic, then HHDM pointers to each response (0 = feature absent). */
export const RUGO_HANDOFF_LAYOUT = {
  magic: 0,
  memmap: 8,
  hhdm: 16,
  executableAddress: 24,
  executableCmdline: 32,
  modules: 40,
  smp: 48,
  size: 56,
} as const;
/** "RUGOBOOT" little-endian, as two dwords. */
export const HANDOFF_MAGIC_LO = 0x4f475552;
export const HANDOFF_MAGIC_HI = 0x544f4f42;

/** limine_smp_info layout. */
export const SMP_INFO = { processorId: 0, lapicId: 4, reserved: 8, gotoAddress: 16, extraArgument: 24, size: 32 } as const;

export interface BootModule {
  /** Path as the kernel sees it (limine_file.path). */
  readonly path: string;
  /** Module command line (limine_file.string). */
  readonly cmdline: string;
  /** Raw bytes of the module, and/or a code image registered in the code map at the module's base. */
  readonly bytes?: Uint8Array;
  readonly image?: CodeImage;
}

export interface MemmapEntry {
  readonly base: number;
  readonly length: number;
  readonly type: number;
}

export interface BootResult {
  readonly memmap: readonly MemmapEntry[];
  readonly handoffPhys: number;
  readonly bspStack: Stack;
  readonly apStacks: readonly Stack[];
  readonly pml4Phys: number;
  readonly modules: readonly { path: string; base: number; size: number }[];
}

/** A bump allocator over the bootloader-reclaimable region. */
class ReclaimAlloc {
  next = RECLAIM_BASE;
  alloc(size: number, align = 8): number {
    const p = Math.ceil(this.next / align) * align;
    if (p + size > RECLAIM_END) throw new Error('boot: bootloader-reclaimable region exhausted (too many modules or CPUs)');
    this.next = p + size;
    return p;
  }
}

function hhdm(pa: number): number {
  return pa + HHDM_OFFSET;
}

const utf8 = new TextEncoder();

function w64(mem: PhysicalMemory, pa: number, value: number): void {
  // value: a canonical virtual address (signed form) or a non-negative integer below 2^53
  const u = low48(value); // exact; the high-half sign extension goes into bits 63:48 below
  const hi = Math.floor(u / TWO_32);
  mem.write64Halves(pa, u - hi * TWO_32, value < 0 ? (hi | 0xffff0000) >>> 0 : hi);
}

/** The bootloader code run by waiting APs: poll goto_address, then jump there (Limine MP). */
export function apWaitLoop(infoVa: number): Generator<any, void, any> {
  return (function* () {
    for (;;) {
      const lo: number = yield load32(infoVa + SMP_INFO.gotoAddress);
      const hi: number = yield load32(infoVa + SMP_INFO.gotoAddress + 4);
      if (lo !== 0 || hi !== 0) {
        const u = (BigInt(hi) << 32n) | BigInt(lo);
        const target = u >= 0xffff800000000000n ? Number(u - (1n << 64n)) : Number(u);
        yield jump(target, infoVa);
        return;
      }
      yield pause();
      yield compute(100_000); // poll every 100 us: cheap for the host, negligible start-up latency
    }
  })();
}

export interface HandoffOptions {
  mem: PhysicalMemory;
  code: CodeMap;
  kernel: CodeImage;
  entrySymbol: string;
  cmdline: string;
  modules: readonly BootModule[];
  cpus: number;
}

/** What a handoff wrote and where, to write it again into a fresh memory (host speed only). */
interface CachedHandoff {
  /** Written 4 KiB pages: page number, offset of the first non-zero byte, the bytes from there to the last non-zero one. */
  readonly pages: readonly (readonly [number, number, Uint8Array])[];
  readonly result: Omit<BootResult, 'bspStack' | 'apStacks'>;
  readonly entryVa: number;
  readonly apInfoVas: readonly number[];
}

/**
 * Handoffs already made, by everything they depend on. A fuzz campaign
 * builds the same machine thousands of times: the second and later builds
 * copy the pages the first one wrote instead of laying the handoff out
 * again. The bytes, code map and result are the same either way
 * (tests/unit/boot-cache.test.ts).
 */
const handoffCache = new Map<string, CachedHandoff>();
const HANDOFF_CACHE_LIMIT = 32;
/** Module lists seen, by identity (a machine config's list is one constant array); at most HANDOFF_CACHE_LIMIT. */
const moduleSets: (readonly BootModule[])[] = [];

/** Forgets every cached handoff (tests compare a cached build with a fresh one). */
export function clearHandoffCache(): void {
  handoffCache.clear();
}

/**
 * The cache key of a handoff, or null when it is not to be cached: too many
 * different module lists, or a module of raw bytes (the caller could change
 * them between builds; code images cannot change).
 */
function handoffKey(opts: HandoffOptions): string | null {
  for (const m of opts.modules) if (m.bytes !== undefined) return null;
  let id = moduleSets.indexOf(opts.modules);
  if (id < 0) {
    if (moduleSets.length >= HANDOFF_CACHE_LIMIT) return null;
    id = moduleSets.push(opts.modules) - 1;
  }
  const k = opts.kernel;
  let syms = '';
  for (const sym of k.symbols) syms += sym.name + ',';
  return `${opts.mem.size}|${opts.cpus}|${id}|${opts.entrySymbol}|${k.name}|${syms}|${opts.cmdline}`;
}

/**
 * Performs the handoff: memory map, page tables, kernel and module loading,
 * responses, and the initial stacks of every CPU.
 */
export function limineHandoff(opts: HandoffOptions): BootResult {
  const key = handoffKey(opts);
  // Fresh (all-zero) memory only, both to record and to replay: a replay writes each page's non-zero span alone.
  const fresh = opts.mem.dirtyPages().length === 0;
  const hit = key === null || !fresh ? undefined : handoffCache.get(key);
  if (hit !== undefined) {
    const mem = opts.mem;
    const dst = mem.bytes;
    for (const [page, first, bytes] of hit.pages) {
      mem.markDirty(page * 4096, 4096);
      const at = page * 4096 + first;
      if (bytes.length > 64) dst.set(bytes, at);
      else for (let i = 0; i < bytes.length; i++) dst[at + i] = bytes[i]; // most spans are a header word: a loop beats set()'s call
    }
    opts.code.load(opts.kernel, KERNEL_PHYS_BASE);
    for (let i = 0; i < opts.modules.length; i++) {
      const img = opts.modules[i].image;
      if (img) opts.code.load(img, hit.result.modules[i].base);
    }
    const r = hit.result;
    return {
      memmap: r.memmap.map((e) => ({ ...e })),
      handoffPhys: r.handoffPhys,
      pml4Phys: r.pml4Phys,
      modules: r.modules.map((m) => ({ ...m })),
      ...bootStacks(hit.entryVa, r.handoffPhys, hit.apInfoVas),
    };
  }
  const made = writeHandoff(opts);
  if (key !== null && fresh && handoffCache.size < HANDOFF_CACHE_LIMIT) {
    const bytes = opts.mem.bytes;
    const pages = opts.mem.dirtyPages().map((p): [number, number, Uint8Array] => {
      let first = p * 4096;
      let end = first + 4096;
      while (first < end && bytes[first] === 0) first++;
      while (end > first && bytes[end - 1] === 0) end--;
      return [p, first - p * 4096, bytes.slice(first, end)]; // most pages hold a few words (module headers)
    });
    const r = made.result;
    handoffCache.set(key, {
      pages,
      result: { memmap: r.memmap.map((e) => ({ ...e })), handoffPhys: r.handoffPhys, pml4Phys: r.pml4Phys, modules: r.modules.map((m) => ({ ...m })) },
      entryVa: made.entryVa,
      apInfoVas: made.apInfoVas,
    });
  }
  return made.result;
}

/** The BSP's stack at the kernel entry point (fetched through the MMU), and each AP's in the bootloader's wait loop. */
function bootStacks(entryVa: number, handoffPhys: number, apInfoVas: readonly number[]): { bspStack: Stack; apStacks: Stack[] } {
  const bspStack = new Stack(0, 'cpu0-boot', null, entryVa, hhdm(handoffPhys));
  const apStacks: Stack[] = [];
  for (let i = 1; i < apInfoVas.length; i++) apStacks.push(new Stack(i, `cpu${i}-boot`, apWaitLoop(apInfoVas[i])));
  return { bspStack, apStacks };
}

function writeHandoff(opts: HandoffOptions): { result: BootResult; entryVa: number; apInfoVas: number[] } {
  const { mem, code, kernel } = opts;
  const ram = mem.size;
  const ra = new ReclaimAlloc();

  // 1. Kernel image and modules, page aligned, from KERNEL_PHYS_BASE.
  let next = KERNEL_PHYS_BASE;
  code.load(kernel, next);
  mem.write32(next, IMAGE_MAGIC);
  const kernelSize = kernel.size;
  next += kernelSize;
  const modules: { path: string; base: number; size: number; cmdline: string }[] = [];
  for (const m of opts.modules) {
    const size = Math.max(m.bytes?.length ?? 0, m.image?.size ?? 0, 1);
    const paged = Math.ceil(size / 4096) * 4096;
    if (next + paged > ram) throw new Error(`boot: module ${m.path} (${size} bytes) does not fit in ${ram >> 20} MiB of RAM`);
    if (m.image) {
      code.load(m.image, next);
      mem.write32(next, IMAGE_MAGIC);
      // Header word 1: offset of the entry point (the image's first symbol), like ELF's e_entry.
      mem.write32(next + 4, m.image.symbols[0]?.offset ?? 0);
    }
    if (m.bytes) mem.set(m.bytes, next);
    modules.push({ path: m.path, base: next, size, cmdline: m.cmdline });
    next += paged;
  }
  const kmEnd = next;
  if (kmEnd + 0x100000 > ram) throw new Error(`boot: ${ram >> 20} MiB of RAM is too small for the kernel and modules`);

  // 2. Memory map (sorted, non-overlapping).
  const memmap: MemmapEntry[] = [
    { base: 0, length: 0x1000, type: MemmapType.RESERVED },
    { base: 0x1000, length: 0x9f000 - 0x1000, type: MemmapType.USABLE },
    { base: 0x9f000, length: 0x100000 - 0x9f000, type: MemmapType.RESERVED },
    { base: RECLAIM_BASE, length: RECLAIM_END - RECLAIM_BASE, type: MemmapType.BOOTLOADER_RECLAIMABLE },
    { base: KERNEL_PHYS_BASE, length: kmEnd - KERNEL_PHYS_BASE, type: MemmapType.EXECUTABLE_AND_MODULES },
    { base: kmEnd, length: ram - kmEnd, type: MemmapType.USABLE },
  ];

  // 3. Page tables: HHDM with 2 MiB pages over all RAM, the kernel with 4 KiB pages.
  const table = (): number => {
    const p = ra.alloc(4096, 4096);
    mem.fill(0, p, 4096);
    return p;
  };
  const pml4 = table();
  const setEntry = (t: number, idx: number, pa: number, flags: number, nx: boolean): void => {
    const lo = (pa % TWO_32) | flags;
    const hi = Math.floor(pa / TWO_32) | (nx ? PTE_NX_HI : 0);
    mem.write64Halves(t + idx * 8, lo, hi);
  };
  // HHDM: PML4[256..], one PDPT, PDs of 2 MiB pages.
  const hhdmPdpt = table();
  setEntry(pml4, 256, hhdmPdpt, PTE.P | PTE.RW, false);
  const gib = Math.ceil(ram / 0x40000000);
  for (let g = 0; g < gib; g++) {
    const pd = table();
    setEntry(hhdmPdpt, g, pd, PTE.P | PTE.RW, false);
    for (let i = 0; i < 512; i++) {
      const pa = g * 0x40000000 + i * 0x200000;
      if (pa >= ram) break;
      setEntry(pd, i, pa, PTE.P | PTE.RW | PTE.PS, true);
    }
  }
  // Kernel: PML4[511] -> PDPT[510] -> PD[0] -> PT, 4 KiB pages, read + execute.
  const kPdpt = table();
  setEntry(pml4, 511, kPdpt, PTE.P | PTE.RW, false);
  const kPd = table();
  setEntry(kPdpt, 510, kPd, PTE.P | PTE.RW, false);
  const pages = kernelSize / 4096;
  if (pages > 512 * 8) throw new Error('boot: kernel image larger than 16 MiB');
  for (let p = 0; p < pages; p += 512) {
    const pt = table();
    setEntry(kPd, p / 512, pt, PTE.P | PTE.RW, false);
    for (let i = 0; i < 512 && p + i < pages; i++) setEntry(pt, i, KERNEL_PHYS_BASE + (p + i) * 4096, PTE.P, false);
  }

  // 4. Responses.
  const entryArr = ra.alloc(8 * memmap.length);
  const entries = ra.alloc(24 * memmap.length);
  memmap.forEach((e, i) => {
    w64(mem, entries + 24 * i, e.base);
    w64(mem, entries + 24 * i + 8, e.length);
    w64(mem, entries + 24 * i + 16, e.type);
    w64(mem, entryArr + 8 * i, hhdm(entries + 24 * i));
  });
  const memmapResp = ra.alloc(24);
  w64(mem, memmapResp, 0);
  w64(mem, memmapResp + 8, memmap.length);
  w64(mem, memmapResp + 16, hhdm(entryArr));

  const hhdmResp = ra.alloc(16);
  w64(mem, hhdmResp, 0);
  w64(mem, hhdmResp + 8, HHDM_OFFSET);

  const execResp = ra.alloc(24);
  w64(mem, execResp, 0);
  w64(mem, execResp + 8, KERNEL_PHYS_BASE);
  w64(mem, execResp + 16, KERNEL_VIRT_BASE);

  const cstr = (s: string): number => {
    let ascii = true;
    for (let i = 0; i < s.length && ascii; i++) ascii = s.charCodeAt(i) < 0x80;
    const bytes = ascii ? null : utf8.encode(s); // paths and command lines are ASCII: skip the encoder's native call
    const len = bytes === null ? s.length : bytes.length;
    const p = ra.alloc(len + 1, 1);
    if (bytes !== null) mem.set(bytes, p);
    else for (let i = 0; i < len; i++) mem.write8(p + i, s.charCodeAt(i));
    mem.write8(p + len, 0);
    return p;
  };
  const cmdResp = ra.alloc(16);
  w64(mem, cmdResp, 0);
  w64(mem, cmdResp + 8, hhdm(cstr(opts.cmdline)));

  // limine_file: revision, address, size, path, string, media_type (u32), unused (u32),
  // tftp_ip, tftp_port, partition_index, mbr_disk_id (u32 each), gpt_disk_uuid, gpt_part_uuid, part_uuid (16 each).
  const FILE_SIZE = 8 * 5 + 4 * 6 + 16 * 3;
  const modArr = ra.alloc(8 * Math.max(1, modules.length));
  modules.forEach((m, i) => {
    const f = ra.alloc(FILE_SIZE);
    mem.fill(0, f, FILE_SIZE);
    w64(mem, f + 8, hhdm(m.base));
    w64(mem, f + 16, m.size);
    w64(mem, f + 24, hhdm(cstr(m.path)));
    w64(mem, f + 32, hhdm(cstr(m.cmdline)));
    w64(mem, modArr + 8 * i, hhdm(f));
  });
  const modResp = ra.alloc(24);
  w64(mem, modResp, 0);
  w64(mem, modResp + 8, modules.length);
  w64(mem, modResp + 16, hhdm(modArr));

  // limine_smp_response: revision, flags (u32), bsp_lapic_id (u32), cpu_count, cpus (pointer to array of pointers).
  const smpArr = ra.alloc(8 * opts.cpus);
  const infos: number[] = [];
  for (let i = 0; i < opts.cpus; i++) {
    const info = ra.alloc(SMP_INFO.size);
    mem.fill(0, info, SMP_INFO.size);
    mem.write32(info + SMP_INFO.processorId, i);
    mem.write32(info + SMP_INFO.lapicId, i);
    w64(mem, smpArr + 8 * i, hhdm(info));
    infos.push(info);
  }
  const smpResp = ra.alloc(32);
  w64(mem, smpResp, 0);
  mem.write32(smpResp + 8, 0);
  mem.write32(smpResp + 12, 0);
  w64(mem, smpResp + 16, opts.cpus);
  w64(mem, smpResp + 24, hhdm(smpArr));

  const handoff = ra.alloc(RUGO_HANDOFF_LAYOUT.size);
  mem.write32(handoff, HANDOFF_MAGIC_LO);
  mem.write32(handoff + 4, HANDOFF_MAGIC_HI);
  w64(mem, handoff + RUGO_HANDOFF_LAYOUT.memmap, hhdm(memmapResp));
  w64(mem, handoff + RUGO_HANDOFF_LAYOUT.hhdm, hhdm(hhdmResp));
  w64(mem, handoff + RUGO_HANDOFF_LAYOUT.executableAddress, hhdm(execResp));
  w64(mem, handoff + RUGO_HANDOFF_LAYOUT.executableCmdline, hhdm(cmdResp));
  w64(mem, handoff + RUGO_HANDOFF_LAYOUT.modules, hhdm(modResp));
  w64(mem, handoff + RUGO_HANDOFF_LAYOUT.smp, hhdm(smpResp));

  // 5. Initial stacks: the BSP at the kernel entry point (fetched through the MMU), APs in the wait loop.
  const entryVa = KERNEL_VIRT_BASE + kernel.offsetOf(opts.entrySymbol);
  const apInfoVas = infos.map((pa) => hhdm(pa));
  return { result: { memmap, handoffPhys: handoff, pml4Phys: pml4, modules, ...bootStacks(entryVa, handoff, apInfoVas) }, entryVa, apInfoVas };
}

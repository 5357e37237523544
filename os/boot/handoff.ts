// Reads the bootloader's handoff (Limine responses, in their C layouts) from
// simulated memory. See sim/x86/boot.ts for the layout the machine writes.
import type { Code } from '../../sim/ops.ts';
import { RUGO_HANDOFF_LAYOUT as H, HANDOFF_MAGIC_LO, HANDOFF_MAGIC_HI, SMP_INFO } from '../../sim/x86/boot.ts';
import { load32 } from '../../sim/ops.ts';
import { readPtr, readU64, readCString } from '../lib/mem.ts';

export interface MemRegion {
  base: number;
  length: number;
  type: number;
}

export interface BootModuleInfo {
  /** HHDM virtual address of the module's bytes. */
  addressVa: number;
  size: number;
  path: string;
  cmdline: string;
}

export interface SmpCpuInfo {
  processorId: number;
  lapicId: number;
  /** HHDM address of the limine_smp_info (goto_address lives inside). */
  infoVa: number;
}

export interface BootInfo {
  memmap: MemRegion[];
  hhdmOffset: number;
  kernelPhysBase: number;
  kernelVirtBase: number;
  cmdline: string;
  /** Boot modules read so far, in list order (findModule reads the list only as far as it must). */
  modules: BootModuleInfo[];
  moduleArray: number;
  moduleCount: number;
  cpus: SmpCpuInfo[];
  bspLapicId: number;
}

/** Parses the handoff block at `va`; returns a message on a malformed block. */
export function* readHandoff(va: number): Code<BootInfo | string> {
  const lo: number = yield load32(va);
  const hi: number = yield load32(va + 4);
  if (lo !== HANDOFF_MAGIC_LO || hi !== HANDOFF_MAGIC_HI) return 'bad handoff magic';
  const memmapResp: number = yield readPtr(va + H.memmap);
  const count: number = yield readU64(memmapResp + 8);
  if (count > 256) return `memory map has ${count} entries (limit 256)`;
  const arr: number = yield readPtr(memmapResp + 16);
  const memmap: MemRegion[] = [];
  for (let i = 0; i < count; i++) {
    const e: number = yield readPtr(arr + 8 * i);
    memmap.push({ base: yield readU64(e), length: yield readU64(e + 8), type: yield readU64(e + 16) });
  }
  const hhdmResp: number = yield readPtr(va + H.hhdm);
  const hhdmOffset: number = yield readPtr(hhdmResp + 8);
  const execResp: number = yield readPtr(va + H.executableAddress);
  const kernelPhysBase: number = yield readU64(execResp + 8);
  const kernelVirtBase: number = yield readPtr(execResp + 16);
  const cmdResp: number = yield readPtr(va + H.executableCmdline);
  const cmdline: string = yield readCString(yield readPtr(cmdResp + 8), 4096);
  const modResp: number = yield readPtr(va + H.modules);
  const modCount: number = yield readU64(modResp + 8);
  if (modCount > 64) return `module list has ${modCount} entries (limit 64)`;
  const modArr: number = yield readPtr(modResp + 16);
  const smpResp: number = yield readPtr(va + H.smp);
  const bspLapicId: number = yield load32(smpResp + 12);
  const cpuCount: number = yield readU64(smpResp + 16);
  if (cpuCount > 64) return `SMP response lists ${cpuCount} CPUs (limit 64)`;
  const cpuArr: number = yield readPtr(smpResp + 24);
  const cpus: SmpCpuInfo[] = [];
  for (let i = 0; i < cpuCount; i++) {
    const info: number = yield readPtr(cpuArr + 8 * i);
    cpus.push({ processorId: yield load32(info + SMP_INFO.processorId), lapicId: yield load32(info + SMP_INFO.lapicId), infoVa: info });
  }
  return { memmap, hhdmOffset, kernelPhysBase, kernelVirtBase, cmdline, modules: [], moduleArray: modArr, moduleCount: modCount, cpus, bspLapicId };
}

/**
 * The boot module (limine_file entry) whose path is `path`, or null: reads
 * the list in order only as far as the match (like a lookup in a real
 * kernel's module list), keeping what it read for later lookups.
 */
export function* findModule(boot: BootInfo, path: string): Code<BootModuleInfo | null> {
  const modules = boot.modules;
  for (let i = 0; i < boot.moduleCount; i++) {
    if (i === modules.length) {
      const f: number = yield readPtr(boot.moduleArray + 8 * i);
      modules.push({
        addressVa: yield readPtr(f + 8),
        size: yield readU64(f + 16),
        path: yield readCString(yield readPtr(f + 24), 256),
        cmdline: yield readCString(yield readPtr(f + 32), 256),
      });
    }
    if (modules[i].path === path) return modules[i];
  }
  return null;
}

// The kernel's state: bookkeeping lives in TypeScript objects (DESIGN.md);
// what the hardware reads (page tables, IDT, lock words) lives in simulated
// memory. One Kernel per machine: nothing is module-global.
import type { CodeImage } from '../sim/code.ts';
import type { BootInfo } from './boot/handoff.ts';
import type { KernelOptions } from './options.ts';
import type { FrameAllocator } from './mm/pmm.ts';

export class Kernel {
  /** The kernel's code image (symbols -> offsets), set when the image is built. */
  image!: CodeImage;
  boot!: BootInfo;
  opts!: KernelOptions;
  pmm!: FrameAllocator;
  /** HHDM offset: virtual = physical + hhdm. */
  hhdm = 0;
  /** Physical address of the kernel's own PML4. */
  kernelPml4 = 0;
  /** Virtual address of the IDT. */
  idtVa = 0;

  /** Virtual address of kernel symbol `sym`. */
  sym(sym: string): number {
    return this.boot.kernelVirtBase + this.image.offsetOf(sym);
  }

  /** HHDM virtual address of physical address `pa`. */
  p2v(pa: number): number {
    return pa + this.hhdm;
  }
}

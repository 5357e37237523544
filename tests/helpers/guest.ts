// Tiny test guests: build a code image from generator functions, boot it on a
// real Machine (Limine-style handoff from sim/x86/boot.ts), and give the
// guest the few routines it needs: write an IDT through the HHDM and load it,
// map a 4 KiB page in the boot page tables, exit through isa-debug-exit.
import { CodeImage, type EntryFn } from '../../sim/code.ts';
import { DEFAULT_MACHINE, Machine, type MachineConfig, type RunResult } from '../../sim/machine.ts';
import { invlpg, lidt, load64, outb, readCr, repStos, store64, type Code } from '../../sim/ops.ts';
import { HHDM_OFFSET, KERNEL_VIRT_BASE } from '../../sim/x86/boot.ts';
import { DEBUG_EXIT_PORT } from '../../sim/x86/debug-exit.ts';
import { low48 } from '../../sim/x86/address.ts';
import { GATE_INTERRUPT, writeGate } from '../../os/trap/idt.ts';

/** RAM of a test machine: enough for the IDT at 16 MiB and a few page tables above it. */
export const GUEST_MEMORY_BYTES = 32 * 1024 * 1024;
/** Physical page the test guests use for their IDT. */
export const IDT_PHYS = 0x1000000;
/** The IDT through the higher-half direct map. */
export const IDT_VA = IDT_PHYS + HHDM_OFFSET;
/** First physical frame handed out for page tables by FrameAlloc. */
export const FREE_PHYS = 0x1100000;

/** The HHDM virtual address of physical `pa`. */
export function p2v(pa: number): number {
  return pa + HHDM_OFFSET;
}

/** Virtual address of `sym` in `image` once booted (the kernel is mapped at KERNEL_VIRT_BASE). */
export function symVa(image: CodeImage, sym: string): number {
  return KERNEL_VIRT_BASE + image.offsetOf(sym);
}

export interface Gate {
  vector: number;
  sym: string;
  /** Descriptor privilege level (default 0). */
  dpl?: number;
  /** GATE_INTERRUPT (default) or GATE_TRAP. */
  type?: number;
}

/** Writes `gates` into the IDT page (zero, so other gates are not present) and loads IDTR with a 256-entry limit. */
export function* installIdt(image: CodeImage, gates: readonly Gate[], limit = 256 * 16 - 1): Code<void> {
  for (const g of gates) yield* writeGate(IDT_VA, g.vector, symVa(image, g.sym), g.dpl ?? 0, g.type ?? GATE_INTERRUPT);
  yield lidt(IDT_VA, limit);
}

/** Exits through isa-debug-exit with `value` (exit status (value << 1) | 1). */
export function* exit(value: number): Code<void> {
  yield outb(DEBUG_EXIT_PORT, value);
}

/** Hands out zeroed physical frames for page tables, from FREE_PHYS up. */
export class FrameAlloc {
  constructor(public next = FREE_PHYS) {}
  alloc(): number {
    const p = this.next;
    this.next += 4096;
    return p;
  }
}

/**
 * Maps the 4 KiB page at `va` to physical `pa` with leaf `flags` (P is added)
 * in the active page tables (CR3), creating missing tables with P | RW | US,
 * then INVLPGs `va`. The path must not cross a large page.
 */
export function* mapPage4k(alloc: FrameAlloc, va: number, pa: number, flags: number, nx = false): Code<void> {
  const cr3: number = yield readCr(3);
  let table = cr3 - (cr3 % 4096);
  const u = low48(va);
  for (const shift of [39, 30, 21]) {
    const ea = p2v(table + (Math.floor(u / 2 ** shift) % 512) * 8);
    const e: bigint = yield load64(ea);
    if ((e & 1n) === 0n) {
      const t = alloc.alloc();
      yield repStos(p2v(t), 4096, 0);
      yield store64(ea, BigInt(t) | 0x7n);
      table = t;
    } else {
      if ((e & 0x80n) !== 0n) throw new Error(`mapPage4k: ${va} is inside a large page`);
      table = Number(e & 0x000ffffffffff000n);
    }
  }
  const ea = p2v(table + (Math.floor(u / 4096) % 512) * 8);
  yield store64(ea, BigInt(pa) | BigInt(flags | 1) | (nx ? 1n << 63n : 0n));
  yield invlpg(va);
}

/** Builds the image `t` from `entries` and a machine that boots it at symbol 'entry'. */
export function guestMachine(entries: readonly (readonly [string, EntryFn])[], cfg: Partial<MachineConfig> = {}): { machine: Machine; image: CodeImage } {
  const image = new CodeImage('t', entries);
  const machine = new Machine({ ...DEFAULT_MACHINE, memoryBytes: GUEST_MEMORY_BYTES, maxCycles: 50_000_000, ...cfg, kernel: image, entrySymbol: 'entry', cmdline: '' });
  return { machine, image };
}

/** Builds and runs a guest; returns the run result with the machine and image. */
export function runGuest(entries: readonly (readonly [string, EntryFn])[], cfg: Partial<MachineConfig> = {}): { result: RunResult; machine: Machine; image: CodeImage } {
  const { machine, image } = guestMachine(entries, cfg);
  const result = machine.run();
  return { result, machine, image };
}

/**
 * A small guest kit: an image whose entries can refer to the image itself
 * (for gate and entry addresses) through `kit.image`, set before the run.
 */
export class GuestKit {
  image!: CodeImage;
  machine!: Machine;
  readonly log: unknown[] = [];

  run(entries: readonly (readonly [string, EntryFn])[], cfg: Partial<MachineConfig> = {}): RunResult {
    const { machine, image } = guestMachine(entries, cfg);
    this.image = image;
    this.machine = machine;
    return machine.run();
  }

  /** installIdt on this kit's image. */
  idt(gates: readonly Gate[], limit?: number): Code<void> {
    return installIdt(this.image, gates, limit);
  }

  va(sym: string): number {
    return symVa(this.image, sym);
  }
}

// Code images and the code map. Guest code is TypeScript generator functions;
// a code image lays them out at fixed offsets (like a linker's symbol table),
// the loader places the image in physical memory, and the code map answers
// "which function starts at this physical address?" when the CPU jumps
// somewhere: an IDT gate's target, or a user program's entry point. The CPU
// reaches that physical address through the MMU with an instruction fetch,
// so NX, U/S and not-present pages apply to code exactly as on hardware.
import type { Code } from './ops.ts';

/** An entry point: a generator function taking one argument (a trap frame, or a register value). */
export type EntryFn = (arg: any) => Code;

/** Bytes between consecutive symbols of an image (each symbol gets its own slot). */
export const SYMBOL_STRIDE = 0x40;
/** Magic at the start of an image's first page ("RGOI"), so a loader can tell code from data. */
export const IMAGE_MAGIC = 0x494f4752;

export class CodeImage {
  private readonly offsets = new Map<string, number>();
  readonly symbols: { name: string; offset: number; fn: EntryFn }[] = [];

  /** Lays out `entries` in order at SYMBOL_STRIDE spacing after a one-slot header. */
  constructor(
    readonly name: string,
    entries: readonly (readonly [string, EntryFn])[],
  ) {
    let off = SYMBOL_STRIDE; // slot 0 holds the header
    for (const [sym, fn] of entries) {
      if (this.offsets.has(sym)) throw new Error(`image ${name}: duplicate symbol ${sym}`);
      this.offsets.set(sym, off);
      this.symbols.push({ name: sym, offset: off, fn });
      off += SYMBOL_STRIDE;
    }
  }

  /** Size in bytes, rounded up to whole pages. */
  get size(): number {
    const raw = SYMBOL_STRIDE * (this.symbols.length + 1);
    return Math.ceil(raw / 4096) * 4096;
  }

  /** Offset of `sym` from the image base; throws for an unknown symbol (a link error). */
  offsetOf(sym: string): number {
    const o = this.offsets.get(sym);
    if (o === undefined) throw new Error(`image ${this.name}: undefined symbol ${sym}`);
    return o;
  }

  has(sym: string): boolean {
    return this.offsets.has(sym);
  }
}

export interface CodeEntry {
  readonly fn: EntryFn;
  readonly name: string;
}

/** Physical address -> entry point, for every loaded image. */
export class CodeMap {
  private readonly map = new Map<number, CodeEntry>();
  private readonly loaded: { base: number; image: CodeImage }[] = [];

  /** Registers `image` at physical `base` (the bytes are written by the loader separately). */
  load(image: CodeImage, base: number): void {
    for (const l of this.loaded) {
      if (base < l.base + l.image.size && l.base < base + image.size) throw new Error(`image ${image.name} at 0x${base.toString(16)} overlaps ${l.image.name}`);
    }
    this.loaded.push({ base, image });
    for (const s of image.symbols) this.map.set(base + s.offset, { fn: s.fn, name: `${image.name}:${s.name}` });
  }

  /** The entry point at physical address `pa`, or undefined (a jump into data). */
  lookup(pa: number): CodeEntry | undefined {
    return this.map.get(pa);
  }
}

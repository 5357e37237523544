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
    return Math.ceil((SYMBOL_STRIDE * (this.symbols.length + 1)) / 4096) * 4096;
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

  /** Entries made so far, by symbol index (an image never changes; most runs look up a few symbols). */
  private readonly entryList: (CodeEntry | undefined)[] = [];

  /** The entry point of the symbol at `offset`, or undefined: symbol i sits at SYMBOL_STRIDE * (i + 1). */
  entryAt(offset: number): CodeEntry | undefined {
    const i = offset / SYMBOL_STRIDE - 1;
    if (!Number.isInteger(i) || i < 0 || i >= this.symbols.length) return undefined;
    let e = this.entryList[i];
    if (e === undefined) {
      const s = this.symbols[i];
      e = { fn: s.fn, name: `${this.name}:${s.name}` };
      this.entryList[i] = e;
    }
    return e;
  }
}

export interface CodeEntry {
  readonly fn: EntryFn;
  readonly name: string;
}

/** Physical address -> entry point, for every loaded image. */
export class CodeMap {
  /** Loaded images, sorted by base. */
  private readonly loaded: { base: number; end: number; image: CodeImage }[] = [];
  /** Lookups answered so far (a run asks for a few entry points many times). */
  private readonly cache = new Map<number, CodeEntry>();

  /** Registers `image` at physical `base` (the bytes are written by the loader separately). */
  load(image: CodeImage, base: number): void {
    const end = base + image.size;
    let i = this.loaded.length;
    while (i > 0 && this.loaded[i - 1].base > base) i--;
    for (const l of [this.loaded[i - 1], this.loaded[i]]) {
      if (l !== undefined && base < l.end && l.base < end) throw new Error(`image ${image.name} at 0x${base.toString(16)} overlaps ${l.image.name}`);
    }
    if (i === this.loaded.length) this.loaded.push({ base, end, image }); // the loader goes up in address: append
    else this.loaded.splice(i, 0, { base, end, image });
  }

  /** The entry point at physical address `pa`, or undefined (a jump into data). */
  lookup(pa: number): CodeEntry | undefined {
    const hit = this.cache.get(pa);
    if (hit !== undefined) return hit;
    const loaded = this.loaded;
    let lo = 0;
    let hi = loaded.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const l = loaded[mid];
      if (pa < l.base) hi = mid - 1;
      else if (pa >= l.end) lo = mid + 1;
      else {
        const e = l.image.entryAt(pa - l.base);
        if (e !== undefined) this.cache.set(pa, e);
        return e;
      }
    }
    return undefined;
  }
}

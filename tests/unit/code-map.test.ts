// Code images and the code map (sim/code.ts): which entry point starts at a
// physical address, for images loaded in any order; overlaps are refused.
import { describe, expect, it } from 'vitest';
import { CodeImage, CodeMap, SYMBOL_STRIDE, type EntryFn } from '../../sim/code.ts';
import { compute } from '../../sim/ops.ts';

const fn = (tag: number): EntryFn =>
  function* () {
    yield compute(tag);
  };

function image(name: string, syms: string[]): CodeImage {
  return new CodeImage(
    name,
    syms.map((s, i) => [s, fn(i)] as const),
  );
}

describe('code map', () => {
  it('finds every symbol of every image, loaded out of address order, and nothing between symbols', () => {
    const a = image('a', ['main', 'worker']);
    const b = image('b', ['main']);
    const c = image('c', Array.from({ length: 70 }, (_, i) => `s${i}`)); // two pages
    const map = new CodeMap();
    map.load(b, 0x300000);
    map.load(a, 0x100000);
    map.load(c, 0x200000);
    for (const [img, base] of [[a, 0x100000], [b, 0x300000], [c, 0x200000]] as const) {
      for (const s of img.symbols) {
        const e = map.lookup(base + s.offset);
        expect(e?.name).toBe(`${img.name}:${s.name}`);
        expect(e?.fn).toBe(s.fn);
        expect(map.lookup(base + s.offset)).toBe(e); // answered again (cached), the same entry
      }
    }
    expect(c.size).toBe(8192);
    expect(map.lookup(0x100000)).toBeUndefined(); // the header slot
    expect(map.lookup(0x100000 + SYMBOL_STRIDE + 1)).toBeUndefined(); // inside a symbol
    expect(map.lookup(0x100000 + 3 * SYMBOL_STRIDE)).toBeUndefined(); // past the last symbol, inside the image
    expect(map.lookup(0x150000)).toBeUndefined(); // between images
    expect(map.lookup(0x400000)).toBeUndefined(); // above every image
  });

  it('refuses an image overlapping one already loaded, on either side', () => {
    const map = new CodeMap();
    map.load(image('a', ['main']), 0x100000);
    map.load(image('b', ['main']), 0x102000);
    expect(() => map.load(image('c', ['main']), 0x100000)).toThrow(/overlaps a/);
    expect(() => map.load(image('d', Array.from({ length: 70 }, (_, i) => `s${i}`)), 0x101000)).toThrow(/overlaps b/);
    expect(() => map.load(image('e', ['main']), 0x0ff800)).toThrow(/overlaps a/);
    map.load(image('f', ['main']), 0x101000); // the gap between a and b fits one page
    expect(map.lookup(0x101000 + SYMBOL_STRIDE)?.name).toBe('f:main');
  });
});

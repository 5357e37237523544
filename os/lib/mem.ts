// Small helpers for kernel code that reads simulated memory: every access is
// an op through the MMU (so it costs cycles and can fault like real code).
import { load32, load8, loadPtr, loadU64, store64Halves, type Code, type OpRec } from '../../sim/ops.ts';
import { TWO_32 } from '../../sim/x86/address.ts';

/**
 * Reads an unsigned 64-bit value known to fit in 53 bits (lengths, counts,
 * physical addresses): one 8-byte load, an op (`yield readU64(va)`).
 */
export function readU64(va: number): OpRec {
  return loadU64(va);
}

/** Reads a 64-bit pointer (a canonical virtual address; NaN when not canonical): one 8-byte load. */
export function readPtr(va: number): OpRec {
  return loadPtr(va);
}

/** Writes an unsigned 64-bit value < 2^53: one 8-byte store. */
export function writeU64(va: number, v: number): OpRec {
  const hi = Math.floor(v / TWO_32);
  return store64Halves(va, v - hi * TWO_32, hi);
}

/**
 * Reads a NUL-terminated string of at most `max` bytes (Latin-1), a dword
 * at a time (like an optimized strlen: aligned 4-byte loads never cross a
 * page, so they cannot fault where a byte load would not).
 */
export function* readCString(va: number, max: number): Code<string> {
  let s = '';
  let i = 0;
  while (i < max && (va + i) % 4 !== 0) {
    const b: number = yield load8(va + i);
    if (b === 0) return s;
    s += String.fromCharCode(b);
    i++;
  }
  while (i < max) {
    const w: number = yield load32(va + i);
    for (let j = 0; j < 4 && i < max; j++, i++) {
      const b = (w >>> (8 * j)) & 0xff;
      if (b === 0) return s;
      s += String.fromCharCode(b);
    }
  }
  return s;
}

/** Formats a number as lower-case hex with a 0x prefix (64-bit unsigned for negative canonical addresses). */
export function hex(n: number): string {
  if (n < 0) return '0x' + (BigInt(n) + (1n << 64n)).toString(16);
  return '0x' + n.toString(16);
}

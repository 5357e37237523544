// Address conventions. Virtual addresses are numbers in canonical form:
// bits 63:48 equal bit 47 (Intel SDM vol. 1 §3.3.7.1), represented as the
// signed value, so 0xffff800000000000 is -2^47 and every canonical address
// is exact in a double. Physical addresses are non-negative numbers < 2^52.

/** A canonical virtual address (signed form). */
export type VirtAddr = number;
/** A physical address. */
export type PhysAddr = number;

export const TWO_32 = 4294967296;
export const TWO_47 = 140737488355328;
export const TWO_48 = 281474976710656;
export const PAGE_SIZE = 4096;

/** Whether `va` is an integer canonical virtual address in signed form. */
export function isCanonical(va: number): boolean {
  return Number.isInteger(va) && va >= -TWO_47 && va < TWO_47;
}

/** The low 48 bits of a canonical address as an unsigned number (for page-table indexing). */
export function low48(va: VirtAddr): number {
  return va + (va < 0 ? TWO_48 : 0); // not `va < 0 ? va + TWO_48 : va`, whose phi with the argument boxes a double (see mmu.ts translate)
}

/** Builds a virtual address from the unsigned 64-bit value (lo, hi) 32-bit halves; returns NaN when not canonical. */
export function vaFromHalves(lo: number, hi: number): VirtAddr {
  const top = hi >>> 15; // bits 63:47
  if (top === 0) return (hi >>> 0) * TWO_32 + (lo >>> 0);
  if (top === 0x1ffff) return -((~hi >>> 0) * TWO_32 + (TWO_32 - (lo >>> 0)));
  return NaN;
}

/** The unsigned 64-bit value of a canonical address, as a bigint (edges only). */
export function vaToU64(va: VirtAddr): bigint {
  return va < 0 ? BigInt(va) + (1n << 64n) : BigInt(va);
}

/** Builds a canonical address from an unsigned 64-bit bigint; NaN when not canonical. */
export function vaFromU64(v: bigint): VirtAddr {
  const u = BigInt.asUintN(64, v);
  if (u < 1n << 47n) return Number(u);
  if (u >= 0xffff800000000000n) return Number(u - (1n << 64n));
  return NaN;
}

/** Formats a virtual address as 0x-hex of its unsigned 64-bit value. */
export function hexVa(va: VirtAddr): string {
  return '0x' + vaToU64(va).toString(16);
}

/** Formats a non-negative number as 0x-hex. */
export function hex(n: number): string {
  return '0x' + n.toString(16);
}

/** Unsigned 32-bit halves [lo, hi] of a canonical virtual address's 64-bit value. */
export function vaHalves(va: VirtAddr): [number, number] {
  const hiSigned = Math.floor(va / TWO_32);
  return [va - hiSigned * TWO_32, hiSigned >>> 0];
}

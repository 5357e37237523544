// Physical memory: one ArrayBuffer (default 128 MiB, like the seed's QEMU
// `-m 128`). Page tables, IDTs, virtqueues, DMA buffers and user pages live
// here in their real little-endian byte layouts.

export class PhysicalMemory {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly size: number;

  constructor(sizeBytes: number) {
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % 4096 !== 0) {
      throw new Error(`memory size must be a positive multiple of 4096 bytes, got ${sizeBytes}`);
    }
    this.size = sizeBytes;
    this.bytes = new Uint8Array(sizeBytes);
    this.view = new DataView(this.bytes.buffer);
  }

  /** Whether [pa, pa+len) lies in RAM. */
  contains(pa: number, len: number): boolean {
    return pa >= 0 && pa + len <= this.size;
  }

  read8(pa: number): number {
    return this.bytes[pa];
  }
  read16(pa: number): number {
    return this.view.getUint16(pa, true);
  }
  read32(pa: number): number {
    return this.view.getUint32(pa, true);
  }
  read64(pa: number): bigint {
    return this.view.getBigUint64(pa, true);
  }
  write8(pa: number, v: number): void {
    this.bytes[pa] = v;
  }
  write16(pa: number, v: number): void {
    this.view.setUint16(pa, v, true);
  }
  write32(pa: number, v: number): void {
    this.view.setUint32(pa, v >>> 0, true);
  }
  write64(pa: number, v: bigint): void {
    this.view.setBigUint64(pa, BigInt.asUintN(64, v), true);
  }
  /** Writes a 64-bit value given as unsigned 32-bit halves. */
  write64Halves(pa: number, lo: number, hi: number): void {
    this.view.setUint32(pa, lo >>> 0, true);
    this.view.setUint32(pa + 4, hi >>> 0, true);
  }
}

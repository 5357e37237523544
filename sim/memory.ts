// Physical memory: one ArrayBuffer (default 128 MiB, like the seed's QEMU
// `-m 128`). Page tables, IDTs, virtqueues, DMA buffers and user pages live
// here in their real little-endian byte layouts.
//
// Every write marks its 4 KiB page dirty, so a finished machine can hand its
// buffer back to a pool that re-zeroes only the pages that were written: a
// fuzz campaign of thousands of runs does not allocate (and garbage-collect)
// 128 MiB per run. Writers that go around the write methods (bulk copies
// into `bytes`) must call markDirty.

const PAGE_SHIFT = 12;

export class PhysicalMemory {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly size: number;
  private readonly dirty: Uint8Array;
  private dirtyList: number[] = [];

  constructor(sizeBytes: number) {
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % 4096 !== 0 || sizeBytes > 2 ** 32) {
      throw new Error(`memory size must be a positive multiple of 4096 bytes up to 4 GiB, got ${sizeBytes}`);
    }
    this.size = sizeBytes;
    this.bytes = new Uint8Array(sizeBytes);
    this.view = new DataView(this.bytes.buffer);
    this.dirty = new Uint8Array(sizeBytes >>> PAGE_SHIFT);
  }

  /** A zeroed memory of `sizeBytes`, reused from the pool when one is free. */
  static acquire(sizeBytes: number): PhysicalMemory {
    const free = pool.get(sizeBytes);
    const m = free !== undefined && free.length > 0 ? free.pop()! : new PhysicalMemory(sizeBytes);
    return m;
  }

  /** Zeroes the pages written since acquisition and returns this memory to the pool. The caller must not use it again. */
  release(): void {
    const d = this.dirty;
    for (const page of this.dirtyList) {
      const base = page << PAGE_SHIFT;
      this.bytes.fill(0, base, base + 4096);
      d[page] = 0;
    }
    this.dirtyList = [];
    let free = pool.get(this.size);
    if (free === undefined) {
      free = [];
      pool.set(this.size, free);
    }
    if (free.length < POOL_LIMIT) free.push(this);
  }

  /** Marks [pa, pa+len) as written (for bulk writes into `bytes`). */
  markDirty(pa: number, len: number): void {
    if (len <= 0) return;
    const last = (pa + len - 1) >>> PAGE_SHIFT;
    for (let p = pa >>> PAGE_SHIFT; p <= last; p++) {
      if (this.dirty[p] === 0) {
        this.dirty[p] = 1;
        this.dirtyList.push(p);
      }
    }
  }

  /** Page numbers written since this memory was fresh, in first-write order. */
  dirtyPages(): readonly number[] {
    return this.dirtyList;
  }

  private touch(pa: number): void {
    const p = pa >>> PAGE_SHIFT;
    if (this.dirty[p] === 0) {
      this.dirty[p] = 1;
      this.dirtyList.push(p);
    }
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
    this.touch(pa);
    this.bytes[pa] = v;
  }
  write16(pa: number, v: number): void {
    this.touch(pa);
    this.touch(pa + 1);
    this.view.setUint16(pa, v, true);
  }
  write32(pa: number, v: number): void {
    this.touch(pa);
    this.touch(pa + 3);
    this.view.setUint32(pa, v >>> 0, true);
  }
  write64(pa: number, v: bigint): void {
    this.touch(pa);
    this.touch(pa + 7);
    this.view.setBigUint64(pa, BigInt.asUintN(64, v), true);
  }
  /** Writes a 64-bit value given as unsigned 32-bit halves. */
  write64Halves(pa: number, lo: number, hi: number): void {
    this.write32(pa, lo);
    this.write32(pa + 4, hi);
  }
  /** Fills [pa, pa+len) with byte `b`. */
  fill(b: number, pa: number, len: number): void {
    this.markDirty(pa, len);
    this.bytes.fill(b, pa, pa + len);
  }
  /** Copies `src` to pa. */
  set(src: Uint8Array, pa: number): void {
    this.markDirty(pa, src.length);
    this.bytes.set(src, pa);
  }
}

/** Free memories by size. Holds only zeroed buffers, so it carries no state between runs. */
const pool = new Map<number, PhysicalMemory[]>();
const POOL_LIMIT = 4;

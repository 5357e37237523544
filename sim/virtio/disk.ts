// The block device's backing store: an in-memory disk image of 512-byte
// sectors (the unit of VIRTIO 1.2 §5.2: capacity and sector are always in
// 512-byte units). An image is created empty (zeroes), generated (a
// deterministic pattern, so a guest can verify a read of a sector nobody
// wrote), or made from bytes the caller loaded from a file (`--disk FILE`);
// the caller may save `bytes` back afterwards. The simulator never touches
// the host file system: the CLI reads and writes files.
//
// The pattern: the 32-bit little-endian word at byte offset 4*i of sector s
// is patternWord(s, i) = (s * 0x9E3779B1 + i * 0x85EBCA77 + 0x5A17) mod 2^32.

export const SECTOR_SIZE = 512;
/** Largest image the simulator accepts (the whole image is held in memory). */
export const MAX_DISK_BYTES = 1024 * 1024 * 1024;

export type DiskFill = 'zero' | 'pattern';

/** The generated pattern's word `i` (0..127) of sector `sector`. */
export function patternWord(sector: number, i: number): number {
  return (Math.imul(sector >>> 0, 0x9e3779b1) + Math.imul(i, 0x85ebca77) + 0x5a17) >>> 0;
}

export class DiskImage {
  readonly bytes: Uint8Array;
  /** Sectors written by the device (OUT requests) since the image was made. */
  sectorsWritten = 0;

  constructor(bytes: Uint8Array) {
    if (bytes.length === 0 || bytes.length % SECTOR_SIZE !== 0) throw new RangeError(`disk image: size ${bytes.length} bytes is not a positive multiple of ${SECTOR_SIZE}`);
    if (bytes.length > MAX_DISK_BYTES) throw new RangeError(`disk image: size ${bytes.length} bytes is above the limit of ${MAX_DISK_BYTES}`);
    this.bytes = bytes;
  }

  /** Capacity in 512-byte sectors. */
  get sectors(): number {
    return this.bytes.length / SECTOR_SIZE;
  }

  /** Copies sectors [lba, lba + n) out. */
  read(lba: number, n: number): Uint8Array {
    return this.bytes.slice(lba * SECTOR_SIZE, (lba + n) * SECTOR_SIZE);
  }

  /** Writes `data` (a whole number of sectors) at `lba`. */
  write(lba: number, data: Uint8Array): void {
    this.bytes.set(data, lba * SECTOR_SIZE);
    this.sectorsWritten += data.length / SECTOR_SIZE;
  }

  /** A copy (for comparing before and after a run). */
  clone(): DiskImage {
    return new DiskImage(this.bytes.slice());
  }
}

/** A new image of `sizeBytes` (a multiple of 512) filled with zeroes or the pattern. */
export function createDisk(sizeBytes: number, fill: DiskFill = 'zero'): DiskImage {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % SECTOR_SIZE !== 0) throw new RangeError(`disk image: size must be a positive multiple of ${SECTOR_SIZE} bytes, got ${sizeBytes}`);
  if (sizeBytes > MAX_DISK_BYTES) throw new RangeError(`disk image: size ${sizeBytes} bytes is above the limit of ${MAX_DISK_BYTES}`);
  if (fill === 'zero') return new DiskImage(new Uint8Array(sizeBytes));
  // The pattern is a pure function of the size: generate it once, copy it for every image.
  let pristine = patternCache.get(sizeBytes);
  if (pristine === undefined) {
    pristine = new Uint8Array(sizeBytes);
    const words = new Uint32Array(pristine.buffer);
    const perSector = SECTOR_SIZE / 4;
    for (let s = 0; s < sizeBytes / SECTOR_SIZE; s++) for (let i = 0; i < perSector; i++) words[s * perSector + i] = patternWord(s, i);
    // Uint32Array uses the host's byte order; the image is little-endian.
    if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) for (let w = 0; w < words.length; w++) words[w] = swap32(words[w]);
    if (patternCache.size >= 4) patternCache.clear();
    patternCache.set(sizeBytes, pristine);
  }
  return new DiskImage(pristine.slice());
}

/** Pristine pattern images by size (contents depend only on the size, so sharing them carries no state between runs). */
const patternCache = new Map<number, Uint8Array>();

function swap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}

/** An image over bytes loaded from a file; `source` names the file in error messages. */
export function diskFromBytes(bytes: Uint8Array, source: string): DiskImage {
  if (bytes.length === 0) throw new RangeError(`disk image ${source}: the file is empty`);
  if (bytes.length % SECTOR_SIZE !== 0) throw new RangeError(`disk image ${source}: size ${bytes.length} bytes is not a multiple of ${SECTOR_SIZE} (sectors)`);
  if (bytes.length > MAX_DISK_BYTES) throw new RangeError(`disk image ${source}: size ${bytes.length} bytes is above the limit of ${MAX_DISK_BYTES}`);
  return new DiskImage(bytes);
}

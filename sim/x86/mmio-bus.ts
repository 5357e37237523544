// Memory-mapped I/O bus: physical address ranges claimed by devices (LAPIC,
// IOAPIC, PCI BARs). Registration refuses overlapping regions (as v86 does);
// a physical access outside RAM and outside every region is open bus: reads
// give all ones, writes are dropped, both counted.

/** A device with an MMIO region; `offset` is relative to the region base. */
export interface MmioDevice {
  readonly name: string;
  mmioRead(offset: number, size: number, cpuIndex: number): number;
  mmioWrite(offset: number, size: number, value: number, cpuIndex: number): void;
}

interface Region {
  base: number;
  size: number;
  dev: MmioDevice;
}

export class MmioBus {
  private regions: Region[] = [];
  openBusReads = 0;
  openBusWrites = 0;

  /** Maps `dev` at physical [base, base+size); throws if it overlaps a region already mapped. */
  map(base: number, size: number, dev: MmioDevice): void {
    if (size <= 0 || base < 0) throw new Error(`${dev.name}: bad MMIO region 0x${base.toString(16)}+0x${size.toString(16)}`);
    for (const r of this.regions) {
      if (base < r.base + r.size && r.base < base + size) {
        throw new Error(`${dev.name}: MMIO region 0x${base.toString(16)}+0x${size.toString(16)} overlaps ${r.dev.name} at 0x${r.base.toString(16)}+0x${r.size.toString(16)}`);
      }
    }
    this.regions.push({ base, size, dev });
    this.regions.sort((a, b) => a.base - b.base);
  }

  /** Removes the region of `dev` at `base` (a BAR being moved). */
  unmap(base: number, dev: MmioDevice): void {
    this.regions = this.regions.filter((r) => !(r.base === base && r.dev === dev));
  }

  private find(pa: number): Region | undefined {
    for (const r of this.regions) if (pa >= r.base && pa < r.base + r.size) return r;
    return undefined;
  }

  read(pa: number, size: number, cpuIndex: number): number {
    const r = this.find(pa);
    if (r === undefined) {
      this.openBusReads++;
      return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
    }
    return r.dev.mmioRead(pa - r.base, size, cpuIndex);
  }

  write(pa: number, size: number, value: number, cpuIndex: number): void {
    const r = this.find(pa);
    if (r === undefined) {
      this.openBusWrites++;
      return;
    }
    r.dev.mmioWrite(pa - r.base, size, value, cpuIndex);
  }
}

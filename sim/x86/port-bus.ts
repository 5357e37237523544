// I/O port bus (Intel SDM vol. 1 §19: the 64 KiB I/O address space). As in
// v86, a port no device claims reads as all ones and ignores writes; such
// accesses are counted so that a driver probing the wrong port shows up.

/** A device on the port bus. `port` is absolute; `size` is 1, 2 or 4. */
export interface PortDevice {
  readonly name: string;
  portIn(port: number, size: number, cpuIndex: number): number;
  portOut(port: number, size: number, value: number, cpuIndex: number): void;
}

export class PortBus {
  private readonly table = new Map<number, PortDevice>();
  unclaimedReads = 0;
  unclaimedWrites = 0;

  /** Claims ports [first, first+count) for `dev`; refuses overlaps with a clear message. */
  claim(first: number, count: number, dev: PortDevice): void {
    if (first < 0 || count <= 0 || first + count > 65536) throw new Error(`${dev.name}: port range 0x${first.toString(16)}+${count} is outside 0..0xffff`);
    for (let p = first; p < first + count; p++) {
      const old = this.table.get(p);
      if (old !== undefined) throw new Error(`${dev.name}: port 0x${p.toString(16)} already claimed by ${old.name}`);
    }
    for (let p = first; p < first + count; p++) this.table.set(p, dev);
  }

  read(port: number, size: number, cpuIndex: number): number {
    const dev = this.table.get(port & 0xffff);
    if (dev === undefined) {
      this.unclaimedReads++;
      return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
    }
    return dev.portIn(port & 0xffff, size, cpuIndex);
  }

  write(port: number, size: number, value: number, cpuIndex: number): void {
    const dev = this.table.get(port & 0xffff);
    if (dev === undefined) {
      this.unclaimedWrites++;
      return;
    }
    dev.portOut(port & 0xffff, size, value, cpuIndex);
  }
}

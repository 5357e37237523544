// I/O port bus (Intel SDM vol. 1 §19: the 64 KiB I/O address space). As in
// v86, a port no device claims reads as all ones and ignores writes; such
// accesses are counted so that a driver probing the wrong port shows up.
// Small claims go in a map; large windows (a PCI I/O window) are kept as
// ranges, so building a machine stays cheap.

/** A device on the port bus. `port` is absolute; `size` is 1, 2 or 4. */
export interface PortDevice {
  readonly name: string;
  portIn(port: number, size: number, cpuIndex: number): number;
  portOut(port: number, size: number, value: number, cpuIndex: number): void;
}

interface Range {
  first: number;
  end: number;
  dev: PortDevice;
}

const RANGE_THRESHOLD = 32;

export class PortBus {
  private readonly table = new Map<number, PortDevice>();
  private readonly ranges: Range[] = [];
  unclaimedReads = 0;
  unclaimedWrites = 0;
  /** The one port whose OUT costs nothing and asks no decision: the paravirtual trace port (trace-port.ts), or -1. */
  freePort = -1;

  private owner(p: number): PortDevice | undefined {
    const d = this.table.get(p);
    if (d !== undefined) return d;
    for (const r of this.ranges) if (p >= r.first && p < r.end) return r.dev;
    return undefined;
  }

  /** Claims ports [first, first+count) for `dev`; refuses overlaps with a clear message. */
  claim(first: number, count: number, dev: PortDevice): void {
    if (first < 0 || count <= 0 || first + count > 65536) throw new Error(`${dev.name}: port range 0x${first.toString(16)}+${count} is outside 0..0xffff`);
    const end = first + count;
    for (const r of this.ranges) {
      if (first < r.end && r.first < end) throw new Error(`${dev.name}: port 0x${Math.max(first, r.first).toString(16)} already claimed by ${r.dev.name}`);
    }
    for (const [p, d] of this.table) {
      if (p >= first && p < end) throw new Error(`${dev.name}: port 0x${p.toString(16)} already claimed by ${d.name}`);
    }
    if (count > RANGE_THRESHOLD) this.ranges.push({ first, end, dev });
    else for (let p = first; p < end; p++) this.table.set(p, dev);
  }

  /** The device at freePort (called directly: the CPU's OUTs to it are frequent). */
  private freeDev: PortDevice | null = null;

  /** Claims a paravirtual port whose OUT is free (instrumentation; see trace-port.ts). */
  claimFree(port: number, count: number, dev: PortDevice): void {
    this.claim(port, count, dev);
    this.freePort = port;
    this.freeDev = dev;
  }

  /** An OUT to freePort (the same as write(freePort, ...), without looking up the owner). */
  writeFree(size: number, value: number, cpuIndex: number): void {
    const dev = this.freeDev;
    if (dev !== null) dev.portOut(this.freePort, size, value, cpuIndex);
    else this.write(this.freePort, size, value, cpuIndex); // no free port claimed (freePort -1): an unclaimed write
  }

  read(port: number, size: number, cpuIndex: number): number {
    const dev = this.owner(port & 0xffff);
    if (dev === undefined) {
      this.unclaimedReads++;
      return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
    }
    return dev.portIn(port & 0xffff, size, cpuIndex);
  }

  write(port: number, size: number, value: number, cpuIndex: number): void {
    const dev = this.owner(port & 0xffff);
    if (dev === undefined) {
      this.unclaimedWrites++;
      return;
    }
    dev.portOut(port & 0xffff, size, value, cpuIndex);
  }
}

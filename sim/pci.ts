// PCI bus 0: configuration space through configuration mechanism #1 (ports
// 0xCF8 CONFIG_ADDRESS and 0xCFC-0xCFF CONFIG_DATA), and the windows where
// functions' Base Address Registers decode I/O ports and memory.
// Spec: PCI Local Bus Specification 3.0 §3.2.2.3.2 (configuration mechanism
// #1: CONFIG_ADDRESS bit 31 enable, 23:16 bus, 15:11 device, 10:8 function,
// 7:2 register), §6.1 (a read of a function that does not exist returns all
// ones: Vendor ID 0xFFFF), §6.2 (type 0 header: Vendor ID 0x00, Device ID
// 0x02, Command 0x04, Status 0x06, Revision ID 0x08, Class Code 0x09,
// Header Type 0x0E, BARs 0x10-0x24, Subsystem Vendor ID 0x2C, Subsystem ID
// 0x2E, Capabilities Pointer 0x34, Interrupt Line 0x3C, Interrupt Pin 0x3D),
// §6.2.2 (Command: I/O Space 0, Memory Space 1, Bus Master 2, Interrupt
// Disable 10; Status: Interrupt Status 3, Capabilities List 4), §6.2.5.1
// (BAR sizing: write all ones, read back; bit 0 = I/O, bits 2:1 = 10b for a
// 64-bit memory BAR, bit 3 prefetchable), §6.7 (capability list), §2.2.6
// (INTA#-INTD#, level-sensitive, shared, active low).
//
// What the machine does in place of firmware (SeaBIOS on QEMU): BARs are
// assigned before boot inside the windows below, I/O and memory decoding are
// enabled, Bus Master is left clear for the driver to set, and Interrupt Line
// holds the IOAPIC input the function's INTx# pin is wired to. There is no
// ACPI _PRT: the Interrupt Line register is the routing (QEMU q35 would use
// GSI 16-23 through PIRQ links).
// Not modelled: buses other than 0, bridges, multi-function devices,
// expansion ROMs, MSI/MSI-X, power management, extended (PCIe) config space,
// 32-bit and byte accesses to CONFIG_ADDRESS other than a dword at 0xCF8
// (0xCF9 reset control), BARs moved outside the windows (they do not decode).
import type { PortBus, PortDevice } from './x86/port-bus.ts';
import type { MmioBus, MmioDevice } from './x86/mmio-bus.ts';

export const PCI_CONFIG_ADDRESS = 0xcf8;
export const PCI_CONFIG_DATA = 0xcfc;
/** I/O window for I/O BARs (the PC's ports above the ISA range; SeaBIOS starts at 0xC000). */
export const PCI_IO_WINDOW_BASE = 0xc000;
export const PCI_IO_WINDOW_SIZE = 0x1000;
/** Memory window for memory BARs, just below the IOAPIC (the PC's 32-bit PCI hole). */
export const PCI_MMIO_WINDOW_BASE = 0xfe000000;
export const PCI_MMIO_WINDOW_SIZE = 0xc00000;

/** Type 0 configuration header offsets (PCI 3.0 §6.2). */
export const PCI_VENDOR_ID = 0x00;
export const PCI_DEVICE_ID = 0x02;
export const PCI_COMMAND = 0x04;
export const PCI_STATUS = 0x06;
export const PCI_REVISION_ID = 0x08;
export const PCI_CLASS_PROG = 0x09;
export const PCI_HEADER_TYPE = 0x0e;
export const PCI_BAR0 = 0x10;
export const PCI_SUBSYSTEM_VENDOR_ID = 0x2c;
export const PCI_SUBSYSTEM_ID = 0x2e;
export const PCI_CAPABILITY_LIST = 0x34;
export const PCI_INTERRUPT_LINE = 0x3c;
export const PCI_INTERRUPT_PIN = 0x3d;

export const PCI_COMMAND_IO = 1 << 0;
export const PCI_COMMAND_MEMORY = 1 << 1;
export const PCI_COMMAND_MASTER = 1 << 2;
export const PCI_COMMAND_INTX_DISABLE = 1 << 10;
export const PCI_STATUS_INTERRUPT = 1 << 3;
export const PCI_STATUS_CAP_LIST = 1 << 4;
export const PCI_BAR_IO = 0x1;
export const PCI_BAR_MEM_TYPE_64 = 0x4;
export const PCI_BAR_MEM_PREFETCH = 0x8;
/** Capability ID of a vendor-specific capability (virtio's). */
export const PCI_CAP_ID_VNDR = 0x09;

export interface BarSpec {
  readonly kind: 'io' | 'mem32' | 'mem64';
  /** Size in bytes: a power of two (I/O BARs at least 4, memory BARs at least 16). */
  readonly size: number;
  readonly prefetchable?: boolean;
}

/** Where a function's BAR decodes an access. */
export interface BarHandler {
  barRead(bar: number, offset: number, size: number, cpuIndex: number): number;
  barWrite(bar: number, offset: number, size: number, value: number, cpuIndex: number): void;
}

/**
 * One function's 256-byte configuration space with a write mask: bits not
 * in the mask are read-only, so BAR sizing works as in hardware (the low
 * address bits of a BAR are read-only zero).
 */
export class PciConfigSpace {
  readonly bytes = new Uint8Array(256);
  private readonly wmask = new Uint8Array(256);
  /** BAR index -> its spec (BAR n+1 of a 64-bit BAR n is its upper half). */
  readonly bars: (BarSpec | null)[] = [null, null, null, null, null, null];

  constructor(vendorId: number, deviceId: number, classCode: number, revision: number) {
    this.set16(PCI_VENDOR_ID, vendorId);
    this.set16(PCI_DEVICE_ID, deviceId);
    this.set8(PCI_REVISION_ID, revision);
    this.set8(PCI_CLASS_PROG, classCode & 0xff);
    this.set8(PCI_CLASS_PROG + 1, (classCode >>> 8) & 0xff);
    this.set8(PCI_CLASS_PROG + 2, (classCode >>> 16) & 0xff);
    this.setMask(PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
    this.setMask(PCI_INTERRUPT_LINE, 1, 0xff);
  }

  set8(off: number, v: number): void {
    this.bytes[off] = v & 0xff;
  }
  set16(off: number, v: number): void {
    this.bytes[off] = v & 0xff;
    this.bytes[off + 1] = (v >>> 8) & 0xff;
  }
  set32(off: number, v: number): void {
    for (let i = 0; i < 4; i++) this.bytes[off + i] = (v >>> (8 * i)) & 0xff;
  }
  get8(off: number): number {
    return this.bytes[off];
  }
  get16(off: number): number {
    return this.bytes[off] | (this.bytes[off + 1] << 8);
  }
  get32(off: number): number {
    return (this.bytes[off] | (this.bytes[off + 1] << 8) | (this.bytes[off + 2] << 16) | (this.bytes[off + 3] << 24)) >>> 0;
  }
  /** Makes the bits of `mask` (little-endian, `len` bytes at `off`) writable. */
  setMask(off: number, len: number, mask: number): void {
    for (let i = 0; i < len; i++) this.wmask[off + i] = (mask >>> (8 * i)) & 0xff;
  }

  /** Declares BAR `n` (and n+1 for a 64-bit BAR) and sets its initial address. */
  defineBar(n: number, spec: BarSpec, address: number): void {
    if (!(spec.size > 0 && (spec.size & (spec.size - 1)) === 0)) throw new Error(`pci: BAR${n} size ${spec.size} is not a power of two`);
    if (address % spec.size !== 0) throw new Error(`pci: BAR${n} address 0x${address.toString(16)} is not aligned to its size`);
    this.bars[n] = spec;
    const off = PCI_BAR0 + 4 * n;
    if (spec.kind === 'io') {
      this.set32(off, (address & 0xfffffffc) | PCI_BAR_IO);
      this.setMask(off, 4, (~(spec.size - 1) & 0xfffffffc) >>> 0);
    } else {
      const type = (spec.kind === 'mem64' ? PCI_BAR_MEM_TYPE_64 : 0) | (spec.prefetchable ? PCI_BAR_MEM_PREFETCH : 0);
      this.set32(off, ((address & 0xfffffff0) | type) >>> 0);
      this.setMask(off, 4, (~(spec.size - 1) & 0xfffffff0) >>> 0);
      if (spec.kind === 'mem64') {
        this.set32(off + 4, Math.floor(address / 2 ** 32));
        this.setMask(off + 4, 4, 0xffffffff);
      }
    }
  }

  /** The address BAR `n` decodes at (I/O port or physical address). */
  barAddress(n: number): number {
    const spec = this.bars[n];
    if (spec === null) return -1;
    const lo = this.get32(PCI_BAR0 + 4 * n);
    if (spec.kind === 'io') return lo & 0xfffffffc;
    const base = (lo & 0xfffffff0) >>> 0;
    return spec.kind === 'mem64' ? base + this.get32(PCI_BAR0 + 4 * n + 4) * 2 ** 32 : base;
  }

  read(off: number, size: number): number {
    if (size === 1) return this.get8(off);
    if (size === 2) return this.get16(off);
    return this.get32(off);
  }

  /** A masked write; returns nothing. Hooks (command, capabilities) are the owner's business. */
  write(off: number, size: number, value: number): void {
    for (let i = 0; i < size; i++) {
      const m = this.wmask[off + i];
      const b = (value >>> (8 * i)) & 0xff;
      this.bytes[off + i] = (this.bytes[off + i] & ~m) | (b & m);
    }
  }
}

/** A function on the bus: its configuration space and what its BARs decode. */
export interface PciFunction {
  readonly name: string;
  readonly config: PciConfigSpace;
  readonly bars: BarHandler | null;
  /** Called after the driver wrote config register bytes [off, off+size) (capability windows, command). */
  configWritten?(off: number, size: number, value: number): void;
  /** Called before a config read (capability windows that forward to BARs). */
  configRead?(off: number, size: number): number | undefined;
}

export class PciBus implements PortDevice, MmioDevice {
  readonly name = 'pci';
  private address = 0;
  private readonly slots: (PciFunction | null)[] = new Array(32).fill(null);
  /** Current level of each slot's INTx# output. */
  private readonly intx = new Uint8Array(32);
  /** IOAPIC input each slot's INTA# is wired to. */
  private readonly wiring = new Int16Array(32).fill(-1);
  configReads = 0;
  configWrites = 0;
  private mmioWindow = false;

  constructor(private readonly setIrqLine: (ioapicPin: number, level: boolean) => void) {}

  /** Claims CONFIG_ADDRESS/CONFIG_DATA and the I/O window; maps the memory window when RAM ends below it. */
  install(ports: PortBus, mmio: MmioBus, ramBytes: number): void {
    ports.claim(PCI_CONFIG_ADDRESS, 8, this);
    ports.claim(PCI_IO_WINDOW_BASE, PCI_IO_WINDOW_SIZE, this);
    if (ramBytes <= PCI_MMIO_WINDOW_BASE) {
      mmio.map(PCI_MMIO_WINDOW_BASE, PCI_MMIO_WINDOW_SIZE, this);
      this.mmioWindow = true;
    }
  }

  /** Whether memory BARs can decode (RAM does not cover the window). */
  get hasMmioWindow(): boolean {
    return this.mmioWindow;
  }

  /** Plugs `fn` into slot `slot`; its INTA# drives IOAPIC input `ioapicPin` (-1: no interrupt pin). */
  attach(slot: number, fn: PciFunction, ioapicPin = -1): void {
    if (slot < 0 || slot > 31) throw new Error(`pci: slot ${slot} out of range 0..31`);
    if (this.slots[slot] !== null) throw new Error(`pci: slot ${slot} already holds ${this.slots[slot]!.name}`);
    this.slots[slot] = fn;
    this.wiring[slot] = ioapicPin;
    if (ioapicPin >= 0) {
      fn.config.set8(PCI_INTERRUPT_LINE, ioapicPin);
      fn.config.set8(PCI_INTERRUPT_PIN, 1); // INTA#
    }
  }

  /** Drives slot `slot`'s INTA# (true = asserted); lines of slots wired to one input are ORed (shared, level-sensitive). */
  setIntx(fn: PciFunction, level: boolean): void {
    const slot = this.slots.indexOf(fn);
    if (slot < 0) throw new Error(`pci: ${fn.name} is not on the bus`);
    const cmd = fn.config.get16(PCI_COMMAND);
    const st = fn.config.get16(PCI_STATUS);
    fn.config.set16(PCI_STATUS, level ? st | PCI_STATUS_INTERRUPT : st & ~PCI_STATUS_INTERRUPT);
    const out = level && (cmd & PCI_COMMAND_INTX_DISABLE) === 0;
    this.intx[slot] = out ? 1 : 0;
    const pin = this.wiring[slot];
    if (pin < 0) return;
    let any = false;
    for (let s = 0; s < 32; s++) if (this.wiring[s] === pin && this.intx[s] !== 0) any = true;
    this.setIrqLine(pin, any);
  }

  /** The function at `slot`, if any. */
  functionAt(slot: number): PciFunction | null {
    return this.slots[slot] ?? null;
  }

  // ---- configuration mechanism #1 ---------------------------------------------

  private target(): { fn: PciFunction; reg: number } | null {
    const a = this.address;
    if ((a & 0x80000000) === 0) return null;
    const bus = (a >>> 16) & 0xff;
    const dev = (a >>> 11) & 0x1f;
    const func = (a >>> 8) & 0x7;
    if (bus !== 0 || func !== 0) return null;
    const fn = this.slots[dev];
    return fn === null ? null : { fn, reg: a & 0xfc };
  }

  portIn(port: number, size: number, cpuIndex: number): number {
    if (port >= PCI_IO_WINDOW_BASE) return this.ioBar(port, size, cpuIndex, null);
    if (port === PCI_CONFIG_ADDRESS && size === 4) return this.address >>> 0;
    if (port < PCI_CONFIG_DATA) return ones(size);
    this.configReads++;
    const t = this.target();
    if (t === null) return ones(size);
    const off = t.reg + (port - PCI_CONFIG_DATA);
    if (off + size > 256) return ones(size);
    const hooked = t.fn.configRead?.(off, size);
    return hooked !== undefined ? hooked : t.fn.config.read(off, size);
  }

  portOut(port: number, size: number, value: number, cpuIndex: number): void {
    if (port >= PCI_IO_WINDOW_BASE) {
      this.ioBar(port, size, cpuIndex, value);
      return;
    }
    if (port === PCI_CONFIG_ADDRESS && size === 4) {
      this.address = value >>> 0;
      return;
    }
    if (port < PCI_CONFIG_DATA) return;
    this.configWrites++;
    const t = this.target();
    if (t === null) return;
    const off = t.reg + (port - PCI_CONFIG_DATA);
    if (off + size > 256) return;
    const before = t.fn.config.get16(PCI_COMMAND);
    t.fn.config.write(off, size, value);
    t.fn.configWritten?.(off, size, value);
    if (off <= PCI_COMMAND + 1 && off + size > PCI_COMMAND) {
      const after = t.fn.config.get16(PCI_COMMAND);
      // Interrupt Disable gates the INTx# output (§6.2.2): re-evaluate the line.
      if (((before ^ after) & PCI_COMMAND_INTX_DISABLE) !== 0) this.setIntx(t.fn, (t.fn.config.get16(PCI_STATUS) & PCI_STATUS_INTERRUPT) !== 0);
    }
  }

  /** Finds the function and BAR decoding port or address `a` (I/O or memory, with decoding enabled). */
  private decode(a: number, io: boolean): { fn: PciFunction; bar: number; offset: number } | null {
    for (const fn of this.slots) {
      if (fn === null || fn.bars === null) continue;
      const cmd = fn.config.get16(PCI_COMMAND);
      if ((cmd & (io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY)) === 0) continue;
      for (let n = 0; n < 6; n++) {
        const spec = fn.config.bars[n];
        if (spec === null || (spec.kind === 'io') !== io) continue;
        const base = fn.config.barAddress(n);
        if (a >= base && a < base + spec.size) return { fn, bar: n, offset: a - base };
      }
    }
    return null;
  }

  private ioBar(port: number, size: number, cpuIndex: number, value: number | null): number {
    const d = this.decode(port, true);
    if (d === null) return ones(size);
    if (value === null) return d.fn.bars!.barRead(d.bar, d.offset, size, cpuIndex);
    d.fn.bars!.barWrite(d.bar, d.offset, size, value, cpuIndex);
    return 0;
  }

  mmioRead(offset: number, size: number, cpuIndex: number): number {
    const d = this.decode(PCI_MMIO_WINDOW_BASE + offset, false);
    if (d === null) return ones(size);
    return d.fn.bars!.barRead(d.bar, d.offset, size, cpuIndex);
  }

  mmioWrite(offset: number, size: number, value: number, cpuIndex: number): void {
    const d = this.decode(PCI_MMIO_WINDOW_BASE + offset, false);
    if (d === null) return;
    d.fn.bars!.barWrite(d.bar, d.offset, size, value, cpuIndex);
  }
}

function ones(size: number): number {
  return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
}

/** The host bridge at 00:00.0 (QEMU q35's MCH, 8086:29C0): configuration space only. */
export function hostBridge(): PciFunction {
  const config = new PciConfigSpace(0x8086, 0x29c0, 0x060000, 0);
  return { name: 'host-bridge', config, bars: null };
}

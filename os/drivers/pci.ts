// PCI configuration access and bus-0 enumeration for the kernel's drivers.
// PCI Local Bus Specification 3.0: configuration mechanism #1 (§3.2.2.3.2:
// CONFIG_ADDRESS 0xCF8 = enable bit 31 | bus << 16 | device << 11 |
// function << 8 | register; data at 0xCFC + (offset & 3)), the type 0
// header (§6.2), BARs (§6.2.5.1) and the capability list (§6.7). The
// kernel's own definitions: a guest does not share headers with the machine.
import { inb, inl, inw, outb, outl, outw, type Code } from '../../sim/ops.ts';

const CONFIG_ADDRESS = 0xcf8;
const CONFIG_DATA = 0xcfc;
export const PCI_VENDOR_ID = 0x00;
export const PCI_DEVICE_ID = 0x02;
export const PCI_COMMAND = 0x04;
export const PCI_STATUS = 0x06;
export const PCI_REVISION_ID = 0x08;
export const PCI_HEADER_TYPE = 0x0e;
export const PCI_BAR0 = 0x10;
export const PCI_SUBSYSTEM_ID = 0x2e;
export const PCI_CAPABILITY_LIST = 0x34;
export const PCI_INTERRUPT_LINE = 0x3c;
export const PCI_INTERRUPT_PIN = 0x3d;
export const PCI_COMMAND_IO = 1 << 0;
export const PCI_COMMAND_MEMORY = 1 << 1;
export const PCI_COMMAND_MASTER = 1 << 2;
export const PCI_COMMAND_INTX_DISABLE = 1 << 10;
export const PCI_STATUS_CAP_LIST = 1 << 4;

/** A function found on bus 0. */
export interface PciDev {
  readonly slot: number;
  readonly vendor: number;
  readonly device: number;
  readonly revision: number;
  readonly subsystem: number;
  readonly irqLine: number;
  readonly irqPin: number;
}

function address(slot: number, off: number): number {
  return (0x80000000 | (slot << 11) | (off & 0xfc)) >>> 0;
}

export function* pciRead32(slot: number, off: number): Code<number> {
  yield outl(CONFIG_ADDRESS, address(slot, off));
  return (yield inl(CONFIG_DATA)) as number;
}

export function* pciRead16(slot: number, off: number): Code<number> {
  yield outl(CONFIG_ADDRESS, address(slot, off));
  return (yield inw(CONFIG_DATA + (off & 2))) as number;
}

export function* pciRead8(slot: number, off: number): Code<number> {
  yield outl(CONFIG_ADDRESS, address(slot, off));
  return (yield inb(CONFIG_DATA + (off & 3))) as number;
}

export function* pciWrite32(slot: number, off: number, v: number): Code<void> {
  yield outl(CONFIG_ADDRESS, address(slot, off));
  yield outl(CONFIG_DATA, v >>> 0);
}

export function* pciWrite16(slot: number, off: number, v: number): Code<void> {
  yield outl(CONFIG_ADDRESS, address(slot, off));
  yield outw(CONFIG_DATA + (off & 2), v & 0xffff);
}

export function* pciWrite8(slot: number, off: number, v: number): Code<void> {
  yield outl(CONFIG_ADDRESS, address(slot, off));
  yield outb(CONFIG_DATA + (off & 3), v & 0xff);
}

/** Functions on bus 0 (function 0 of each slot), in slot order. */
export function* pciScan(): Code<PciDev[]> {
  const found: PciDev[] = [];
  for (let slot = 0; slot < 32; slot++) {
    const id: number = yield pciRead32(slot, PCI_VENDOR_ID);
    if ((id & 0xffff) === 0xffff) continue; // no function (§6.1: reads return all ones)
    const rev: number = yield pciRead8(slot, PCI_REVISION_ID);
    const sub: number = yield pciRead16(slot, PCI_SUBSYSTEM_ID);
    const line: number = yield pciRead8(slot, PCI_INTERRUPT_LINE);
    const pin: number = yield pciRead8(slot, PCI_INTERRUPT_PIN);
    found.push({ slot, vendor: id & 0xffff, device: id >>> 16, revision: rev, subsystem: sub, irqLine: line, irqPin: pin });
  }
  return found;
}

/** BAR `n`: its kind and address (a 64-bit memory BAR spans n and n+1). */
export function* pciBar(slot: number, n: number): Code<{ io: boolean; addr: number }> {
  const lo: number = yield pciRead32(slot, PCI_BAR0 + 4 * n);
  if ((lo & 1) !== 0) return { io: true, addr: lo & 0xfffc };
  let addr = (lo & 0xfffffff0) >>> 0;
  if ((lo & 0x6) === 0x4) addr += ((yield pciRead32(slot, PCI_BAR0 + 4 * n + 4)) as number) * 2 ** 32;
  return { io: false, addr };
}

/** Capabilities as [offset, id] pairs, following the list from the Capabilities Pointer (bounded: at most 48). */
export function* pciCapabilities(slot: number): Code<[number, number][]> {
  const status: number = yield pciRead16(slot, PCI_STATUS);
  if ((status & PCI_STATUS_CAP_LIST) === 0) return [];
  const caps: [number, number][] = [];
  let p: number = (yield pciRead8(slot, PCI_CAPABILITY_LIST)) & 0xfc;
  for (let i = 0; i < 48 && p >= 0x40; i++) {
    const id: number = yield pciRead8(slot, p);
    caps.push([p, id]);
    p = ((yield pciRead8(slot, p + 1)) as number) & 0xfc;
  }
  return caps;
}

/** Sets bits in the Command register. */
export function* pciEnable(slot: number, bits: number): Code<void> {
  const cmd: number = yield pciRead16(slot, PCI_COMMAND);
  yield pciWrite16(slot, PCI_COMMAND, cmd | bits);
}

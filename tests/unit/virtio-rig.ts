// A bench for the virtio-blk device without a CPU: the PCI bus, the device
// and guest memory, with a small event queue for the device's completions,
// and a test driver written as plain TypeScript that pokes the registers
// and the rings directly (either interface). Used by tests/unit/virtio*.
import { EventQueue } from '../../sim/event-queue.ts';
import { PortBus } from '../../sim/x86/port-bus.ts';
import { MmioBus } from '../../sim/x86/mmio-bus.ts';
import { PhysicalMemory } from '../../sim/memory.ts';
import { PciBus, hostBridge, PCI_CONFIG_ADDRESS, PCI_CONFIG_DATA, PCI_COMMAND, PCI_COMMAND_MASTER, PCI_COMMAND_IO, PCI_COMMAND_MEMORY } from '../../sim/pci.ts';
import { attachVirtioBlk, VirtioBlk, VIRTIO_BLK_IO_BASE, VIRTIO_BLK_MMIO_BASE, VIRTIO_BLK_SLOT, type BlkDeviceConfig, type BlkHost } from '../../sim/virtio/blk.ts';
import { createDisk } from '../../sim/virtio/disk.ts';
import { PCI_MMIO_WINDOW_BASE } from '../../sim/pci.ts';
import {
  COMMON_CFG,
  MODERN_LAYOUT,
  VIRTIO_PCI_GUEST_FEATURES,
  VIRTIO_PCI_HOST_FEATURES,
  VIRTIO_PCI_ISR,
  VIRTIO_PCI_QUEUE_NOTIFY,
  VIRTIO_PCI_QUEUE_NUM,
  VIRTIO_PCI_QUEUE_PFN,
  VIRTIO_PCI_QUEUE_SEL,
  VIRTIO_PCI_STATUS,
  VIRTIO_PCI_CONFIG_OFF,
  VIRTIO_STATUS_ACKNOWLEDGE,
  VIRTIO_STATUS_DRIVER,
  VIRTIO_STATUS_DRIVER_OK,
  VIRTIO_STATUS_FEATURES_OK,
} from '../../sim/virtio/pci-transport.ts';
import { legacyVirtqLayout, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE, AVAIL, USED } from '../../sim/virtio/virtqueue.ts';

export const MEM_BYTES = 4 * 1024 * 1024;

export class Rig implements BlkHost {
  readonly mem = new PhysicalMemory(MEM_BYTES);
  readonly queue = new EventQueue();
  nowCycles = 0;
  /** Answers decisions (default: nominal). */
  chooser: (site: number, n: number) => number = () => 0;
  readonly asked: number[] = [];
  powerLost: string | null = null;
  readonly stops: string[] = [];
  readonly lines = new Map<number, boolean>();
  readonly hashes: [number, number][] = [];
  readonly bus: PciBus;
  readonly blk: VirtioBlk;

  constructor(cfg: Partial<BlkDeviceConfig> = {}) {
    this.bus = new PciBus((pin, level) => this.lines.set(pin, level));
    this.bus.install(new PortBus(), new MmioBus(), MEM_BYTES); // opens the memory window for BAR 4
    this.bus.attach(0, hostBridge());
    this.blk = attachVirtioBlk(this.bus, { image: createDisk(64 * 512, 'pattern'), strict: false, ...cfg }, this);
  }

  now(): number {
    return this.nowCycles;
  }
  at(t: number, action: (now: number) => void): number {
    return this.queue.push(Math.max(t, this.nowCycles), action);
  }
  hashDevice(code: number, a: number): void {
    this.hashes.push([code, a]);
  }
  decide(site: number, n: number): number {
    if (n <= 1) return 0;
    this.asked.push(site);
    return this.chooser(site, n);
  }
  powerLoss(message: string): void {
    this.powerLost = message;
  }
  stopForViolation(message: string): void {
    this.stops.push(message);
  }

  /** Runs every pending device event (bounded). */
  run(limit = 10_000): void {
    for (let i = 0; i < limit && this.queue.size > 0; i++) {
      const t = this.queue.peekCycles();
      this.nowCycles = t;
      this.queue.pop()(t);
    }
  }

  // Configuration mechanism #1.
  cfgRead(slot: number, off: number, size: 1 | 2 | 4): number {
    this.bus.portOut(PCI_CONFIG_ADDRESS, 4, (0x80000000 | (slot << 11) | (off & 0xfc)) >>> 0, 0);
    return this.bus.portIn(PCI_CONFIG_DATA + (off & 3), size, 0);
  }
  cfgWrite(slot: number, off: number, size: 1 | 2 | 4, v: number): void {
    this.bus.portOut(PCI_CONFIG_ADDRESS, 4, (0x80000000 | (slot << 11) | (off & 0xfc)) >>> 0, 0);
    this.bus.portOut(PCI_CONFIG_DATA + (off & 3), size, v, 0);
  }
  setCommand(bits: number): void {
    const c = this.cfgRead(VIRTIO_BLK_SLOT, PCI_COMMAND, 2);
    this.cfgWrite(VIRTIO_BLK_SLOT, PCI_COMMAND, 2, c | bits);
  }

  // Legacy I/O BAR 0 and modern BAR 4.
  lin(off: number, size: 1 | 2 | 4): number {
    return this.bus.portIn(VIRTIO_BLK_IO_BASE + off, size, 0);
  }
  lout(off: number, size: 1 | 2 | 4, v: number): void {
    this.bus.portOut(VIRTIO_BLK_IO_BASE + off, size, v, 0);
  }
  min(off: number, size: 1 | 2 | 4): number {
    return this.bus.mmioRead(VIRTIO_BLK_MMIO_BASE - PCI_MMIO_WINDOW_BASE + off, size, 0);
  }
  mout(off: number, size: 1 | 2 | 4, v: number): void {
    this.bus.mmioWrite(VIRTIO_BLK_MMIO_BASE - PCI_MMIO_WINDOW_BASE + off, size, v, 0);
  }
}

/** Guest-physical areas the test driver uses. */
export const AREA = { queue: 0x10000, headers: 0x40000, data: 0x50000 } as const;

/**
 * A straight-line driver in plain TypeScript over either interface: the
 * §3.1.1 sequence, one queue in the legacy layout at AREA.queue, and
 * 3-descriptor requests (header, data, status) with slot i using
 * descriptors 3i..3i+2, header AREA.headers + 32i, data AREA.data + 4096i.
 */
export class TestDriver {
  qsz = 0;
  availIdx = 0;
  lastUsed = 0;
  constructor(
    readonly rig: Rig,
    readonly iface: 'legacy' | 'modern',
  ) {}

  status(): number {
    return this.iface === 'legacy' ? this.rig.lin(VIRTIO_PCI_STATUS, 1) : this.rig.min(MODERN_LAYOUT.common + COMMON_CFG.device_status, 1);
  }
  setStatus(v: number): void {
    if (this.iface === 'legacy') this.rig.lout(VIRTIO_PCI_STATUS, 1, v);
    else this.rig.mout(MODERN_LAYOUT.common + COMMON_CFG.device_status, 1, v);
  }
  isr(): number {
    return this.iface === 'legacy' ? this.rig.lin(VIRTIO_PCI_ISR, 1) : this.rig.min(MODERN_LAYOUT.isr, 1);
  }
  deviceFeatures(): [number, number] {
    if (this.iface === 'legacy') return [this.rig.lin(VIRTIO_PCI_HOST_FEATURES, 4), 0];
    const c = MODERN_LAYOUT.common;
    this.rig.mout(c + COMMON_CFG.device_feature_select, 4, 0);
    const lo = this.rig.min(c + COMMON_CFG.device_feature, 4);
    this.rig.mout(c + COMMON_CFG.device_feature_select, 4, 1);
    return [lo, this.rig.min(c + COMMON_CFG.device_feature, 4)];
  }
  /** Device configuration dword at `off`. */
  config32(off: number): number {
    return this.iface === 'legacy' ? this.rig.lin(VIRTIO_PCI_CONFIG_OFF + off, 4) : this.rig.min(MODERN_LAYOUT.device + off, 4);
  }

  /** The whole sequence; returns the final status. `lo` = driver features bits 0-31. */
  init(lo = 0, busMaster = true): number {
    const r = this.rig;
    if (busMaster) r.setCommand(PCI_COMMAND_MASTER | (this.iface === 'legacy' ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY));
    this.setStatus(0);
    this.setStatus(VIRTIO_STATUS_ACKNOWLEDGE);
    this.setStatus(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    let st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
    if (this.iface === 'legacy') {
      r.lout(VIRTIO_PCI_GUEST_FEATURES, 4, lo);
      r.lout(VIRTIO_PCI_QUEUE_SEL, 2, 0);
      this.qsz = r.lin(VIRTIO_PCI_QUEUE_NUM, 2);
      r.mem.fill(0, AREA.queue, legacyVirtqLayout(this.qsz).size);
      r.lout(VIRTIO_PCI_QUEUE_PFN, 4, AREA.queue / 4096);
    } else {
      const c = MODERN_LAYOUT.common;
      r.mout(c + COMMON_CFG.driver_feature_select, 4, 0);
      r.mout(c + COMMON_CFG.driver_feature, 4, lo);
      r.mout(c + COMMON_CFG.driver_feature_select, 4, 1);
      r.mout(c + COMMON_CFG.driver_feature, 4, 1); // VIRTIO_F_VERSION_1
      st |= VIRTIO_STATUS_FEATURES_OK;
      this.setStatus(st);
      if ((this.status() & VIRTIO_STATUS_FEATURES_OK) === 0) return this.status();
      r.mout(c + COMMON_CFG.queue_select, 2, 0);
      this.qsz = r.min(c + COMMON_CFG.queue_size, 2);
      const lay = legacyVirtqLayout(this.qsz);
      r.mem.fill(0, AREA.queue, lay.size);
      r.mout(c + COMMON_CFG.queue_desc, 4, AREA.queue + lay.desc);
      r.mout(c + COMMON_CFG.queue_desc + 4, 4, 0);
      r.mout(c + COMMON_CFG.queue_driver, 4, AREA.queue + lay.avail);
      r.mout(c + COMMON_CFG.queue_driver + 4, 4, 0);
      r.mout(c + COMMON_CFG.queue_device, 4, AREA.queue + lay.used);
      r.mout(c + COMMON_CFG.queue_device + 4, 4, 0);
      r.mout(c + COMMON_CFG.queue_enable, 2, 1);
    }
    st |= VIRTIO_STATUS_DRIVER_OK;
    this.setStatus(st);
    return this.status();
  }

  get lay(): { desc: number; avail: number; used: number } {
    const l = legacyVirtqLayout(this.qsz);
    return { desc: AREA.queue + l.desc, avail: AREA.queue + l.avail, used: AREA.queue + l.used };
  }

  writeDesc(i: number, addr: number, len: number, flags: number, next: number): void {
    const d = this.lay.desc + 16 * i;
    this.rig.mem.write32(d, addr);
    this.rig.mem.write32(d + 4, 0);
    this.rig.mem.write32(d + 8, len);
    this.rig.mem.write16(d + 12, flags);
    this.rig.mem.write16(d + 14, next);
  }

  /** Makes head `head` available and notifies. */
  post(head: number, notify = true): void {
    const m = this.rig.mem;
    const a = this.lay.avail;
    m.write16(a + AVAIL.ring + 2 * (this.availIdx % this.qsz), head);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    m.write16(a + AVAIL.idx, this.availIdx);
    if (notify) this.notify();
  }
  notify(q = 0): void {
    if (this.iface === 'legacy') this.rig.lout(VIRTIO_PCI_QUEUE_NOTIFY, 2, q);
    else this.rig.mout(MODERN_LAYOUT.notify + q * MODERN_LAYOUT.notifyOffMultiplier, 2, q);
  }

  /** A 3-descriptor request in slot `slot`: returns its head. */
  request(slot: number, type: number, sector: number, len: number, notify = true): number {
    const m = this.rig.mem;
    const h = AREA.headers + 32 * slot;
    m.write32(h, type);
    m.write32(h + 4, 0);
    m.write32(h + 8, sector);
    m.write32(h + 12, 0);
    m.write8(h + 16, 0xff);
    const d0 = 3 * slot;
    const isIn = type === 0 || type === 8;
    if (len > 0) {
      this.writeDesc(d0, h, 16, VIRTQ_DESC_F_NEXT, d0 + 1);
      this.writeDesc(d0 + 1, AREA.data + 4096 * slot, len, VIRTQ_DESC_F_NEXT | (isIn ? VIRTQ_DESC_F_WRITE : 0), d0 + 2);
      this.writeDesc(d0 + 2, h + 16, 1, VIRTQ_DESC_F_WRITE, 0);
    } else {
      this.writeDesc(d0, h, 16, VIRTQ_DESC_F_NEXT, d0 + 2);
      this.writeDesc(d0 + 2, h + 16, 1, VIRTQ_DESC_F_WRITE, 0);
    }
    this.post(d0, notify);
    return d0;
  }

  statusByte(slot: number): number {
    return this.rig.mem.read8(AREA.headers + 32 * slot + 16);
  }
  data(slot: number): number {
    return AREA.data + 4096 * slot;
  }

  /** New used elements since the last call. */
  used(): { id: number; len: number }[] {
    const m = this.rig.mem;
    const u = this.lay.used;
    const out: { id: number; len: number }[] = [];
    const idx = m.read16(u + USED.idx);
    while (this.lastUsed !== idx) {
      const e = u + USED.ring + 8 * (this.lastUsed % this.qsz);
      out.push({ id: m.read32(e), len: m.read32(e + 4) });
      this.lastUsed = (this.lastUsed + 1) & 0xffff;
    }
    return out;
  }
}

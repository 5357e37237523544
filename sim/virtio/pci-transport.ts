// Virtio over PCI: one PCI function that exposes a virtio device through
// the modern capability layout and, for a transitional device, also through
// the legacy I/O BAR that the original Rugo used (1AF4:1001, disable-modern).
// Spec: VIRTIO 1.2 §2.1 (device status field: ACKNOWLEDGE 1, DRIVER 2,
// DRIVER_OK 4, FEATURES_OK 8, DEVICE_NEEDS_RESET 64, FAILED 128), §2.2
// (feature bits), §2.4 (device reset), §3.1 (device initialization: the
// straight-line status sequence), §4.1.2 (PCI device discovery: vendor
// 0x1AF4, device 0x1040 + type, transitional 0x1000-0x103F with Revision ID
// 0 and Subsystem Device ID = virtio device ID), §4.1.4 (virtio structure
// PCI capabilities: struct virtio_pci_cap with cfg_type
// VIRTIO_PCI_CAP_COMMON_CFG 1, _NOTIFY_CFG 2, _ISR_CFG 3, _DEVICE_CFG 4,
// _PCI_CFG 5), §4.1.4.3 (struct virtio_pci_common_cfg), §4.1.4.4 (notify:
// queue_notify_off * notify_off_multiplier), §4.1.4.5 (ISR status: bit 0
// queue interrupt, bit 1 device configuration interrupt; reading clears it
// and de-asserts INTx), §4.1.4.8 (legacy interface: a note on PCI device
// layout: the register block of I/O BAR 0), §4.1.4.9 (the PCI configuration
// access capability), §4.1.5.1.3 (legacy interface: virtqueue configuration:
// Queue Address in 4096-byte page frames, VIRTIO_PCI_QUEUE_ADDR_SHIFT 12).
// PCI Local Bus Specification 3.0 §6 for the configuration header.
//
// Interrupts are INTx (level) through the PCI bus to the IOAPIC. Not
// modelled: MSI-X (no capability, no table BAR: config_msix_vector and
// queue_msix_vector read VIRTIO_MSI_NO_VECTOR), VIRTIO_F_NOTIFICATION_DATA,
// VIRTIO_F_RING_RESET (queue_reset reads 0), shared memory regions,
// packed virtqueues, big-endian guests (the legacy interface is guest-native,
// which is little-endian on x86).
import {
  PciConfigSpace,
  PCI_COMMAND,
  PCI_COMMAND_IO,
  PCI_COMMAND_MASTER,
  PCI_COMMAND_MEMORY,
  PCI_STATUS,
  PCI_STATUS_CAP_LIST,
  PCI_CAPABILITY_LIST,
  PCI_CAP_ID_VNDR,
  PCI_SUBSYSTEM_ID,
  PCI_SUBSYSTEM_VENDOR_ID,
  type BarHandler,
  type PciFunction,
} from '../pci.ts';
import type { PhysicalMemory } from '../memory.ts';
import { DeviceVirtqueue, VirtioChecker, checkQueuePlacement, legacyVirtqLayout, VIRTQ_MAX_SIZE, type ViolationName } from './virtqueue.ts';

export const VIRTIO_PCI_VENDOR_ID = 0x1af4;

export const VIRTIO_STATUS_ACKNOWLEDGE = 1;
export const VIRTIO_STATUS_DRIVER = 2;
export const VIRTIO_STATUS_DRIVER_OK = 4;
export const VIRTIO_STATUS_FEATURES_OK = 8;
export const VIRTIO_STATUS_DEVICE_NEEDS_RESET = 64;
export const VIRTIO_STATUS_FAILED = 128;

/** Reserved feature bits (§6). */
export const VIRTIO_F_INDIRECT_DESC = 28;
export const VIRTIO_F_EVENT_IDX = 29;
export const VIRTIO_F_VERSION_1 = 32;

export const VIRTIO_PCI_CAP_COMMON_CFG = 1;
export const VIRTIO_PCI_CAP_NOTIFY_CFG = 2;
export const VIRTIO_PCI_CAP_ISR_CFG = 3;
export const VIRTIO_PCI_CAP_DEVICE_CFG = 4;
export const VIRTIO_PCI_CAP_PCI_CFG = 5;

/** ISR status bits (§4.1.4.5). */
export const VIRTIO_PCI_ISR_QUEUE = 1;
export const VIRTIO_PCI_ISR_CONFIG = 2;
export const VIRTIO_MSI_NO_VECTOR = 0xffff;

/** Legacy register block in I/O BAR 0 (§4.1.4.8; Linux virtio_pci_legacy names). */
export const VIRTIO_PCI_HOST_FEATURES = 0x00;
export const VIRTIO_PCI_GUEST_FEATURES = 0x04;
export const VIRTIO_PCI_QUEUE_PFN = 0x08;
export const VIRTIO_PCI_QUEUE_NUM = 0x0c;
export const VIRTIO_PCI_QUEUE_SEL = 0x0e;
export const VIRTIO_PCI_QUEUE_NOTIFY = 0x10;
export const VIRTIO_PCI_STATUS = 0x12;
export const VIRTIO_PCI_ISR = 0x13;
/** Device-specific configuration without MSI-X (VIRTIO_PCI_CONFIG_OFF(false)). */
export const VIRTIO_PCI_CONFIG_OFF = 0x14;
export const VIRTIO_PCI_QUEUE_ADDR_SHIFT = 12;

/** struct virtio_pci_common_cfg field offsets (§4.1.4.3). */
export const COMMON_CFG = {
  device_feature_select: 0x00,
  device_feature: 0x04,
  driver_feature_select: 0x08,
  driver_feature: 0x0c,
  config_msix_vector: 0x10,
  num_queues: 0x12,
  device_status: 0x14,
  config_generation: 0x15,
  queue_select: 0x16,
  queue_size: 0x18,
  queue_msix_vector: 0x1a,
  queue_enable: 0x1c,
  queue_notify_off: 0x1e,
  queue_desc: 0x20,
  queue_driver: 0x28,
  queue_device: 0x30,
  queue_notify_data: 0x38,
  queue_reset: 0x3a,
} as const;
export const COMMON_CFG_SIZE = 0x3c;

/** Where the modern structures sit in BAR 4 (QEMU's layout: one 4 KiB page each). */
export const MODERN_BAR = 4;
export const LEGACY_BAR = 0;
export const MODERN_LAYOUT = { common: 0x0000, isr: 0x1000, device: 0x2000, notify: 0x3000, size: 0x4000, notifyOffMultiplier: 4 } as const;
export const LEGACY_BAR_SIZE = 0x80;
/** Configuration-space offsets of the capabilities this transport builds. */
export const CAP_OFFSETS = { common: 0x40, notify: 0x50, isr: 0x64, device: 0x74, pciCfg: 0x84 } as const;

/** What a device type (blk, net) implements behind the transport. */
export interface VirtioBackend {
  readonly name: string;
  /** Virtio device ID (§5: 2 = block device). */
  readonly deviceType: number;
  /** PCI class code (24 bits). */
  readonly pciClass: number;
  readonly numQueues: number;
  readonly maxQueueSize: number;
  /** Offered feature bits as [bits 0-31, bits 32-63]. */
  features(): readonly [number, number];
  /** The device configuration structure, little-endian. */
  config(): Uint8Array;
  /** Drop every request in flight: the driver reset the device, or the device needs a reset. */
  reset(): void;
  /** An available buffer notification for queue `q` (DRIVER_OK set, queue live, bus mastering on). */
  notify(q: number): void;
  /** May refuse FEATURES_OK (a broken device); returns true to accept. */
  acceptFeatures?(lo: number, hi: number): boolean;
  /** The driver set DRIVER_OK. */
  driverOk?(): void;
}

export interface TransportHost {
  readonly mem: PhysicalMemory;
  now(): number;
  hashDevice(code: number, a: number): void;
}

export type TransportKind = 'transitional' | 'modern' | 'legacy';

export interface TransportOptions {
  kind: TransportKind;
  ioBase: number;
  mmioBase: number | null;
  /** Code base for trace-hash events of this device. */
  hashBase: number;
}

interface QueueState {
  size: number;
  desc: number;
  driver: number;
  device: number;
  enabled: boolean;
  pfn: number;
  vq: DeviceVirtqueue | null;
}

/** Hash codes (offsets from hashBase). */
export const HASH = { status: 0, notify: 1, isrRead: 2, interrupt: 3, violation: 4, needsReset: 5, queueEnable: 6 } as const;

export class VirtioPciTransport implements PciFunction, BarHandler {
  readonly name: string;
  readonly config: PciConfigSpace;
  readonly bars: BarHandler = this;
  readonly checker: VirtioChecker;
  /** Drives INTx# (set by whoever plugs the function into a bus). */
  intx: (level: boolean) => void = () => {};
  status = 0;
  isr = 0;
  configGeneration = 0;
  private deviceFeatureSelect = 0;
  private driverFeatureSelect = 0;
  private driverFeatures: [number, number] = [0, 0];
  private queueSelect = 0;
  private queues: QueueState[] = [];
  /** Which interface the driver uses since the last reset. */
  mode: 'legacy' | 'modern' | null = null;
  /** Counters for audits and reports. */
  readonly stats = { interrupts: 0, isrReads: 0, notifies: 0, resets: 0, needsReset: 0 };

  constructor(
    private readonly host: TransportHost,
    readonly backend: VirtioBackend,
    readonly opts: TransportOptions,
  ) {
    this.name = `virtio-${backend.name}`;
    this.checker = new VirtioChecker(this.name, () => host.now());
    const modern = opts.kind !== 'legacy' && opts.mmioBase !== null;
    const legacy = opts.kind !== 'modern';
    const deviceId = opts.kind === 'modern' ? 0x1040 + backend.deviceType : 0x1000 + transitionalOffset(backend.deviceType);
    this.config = new PciConfigSpace(VIRTIO_PCI_VENDOR_ID, deviceId, backend.pciClass, opts.kind === 'modern' ? 1 : 0);
    const c = this.config;
    c.set16(PCI_SUBSYSTEM_VENDOR_ID, VIRTIO_PCI_VENDOR_ID);
    c.set16(PCI_SUBSYSTEM_ID, backend.deviceType);
    let cmd = 0;
    if (legacy) {
      c.defineBar(LEGACY_BAR, { kind: 'io', size: LEGACY_BAR_SIZE }, opts.ioBase);
      cmd |= PCI_COMMAND_IO;
    }
    if (modern) {
      c.defineBar(MODERN_BAR, { kind: 'mem64', size: MODERN_LAYOUT.size, prefetchable: true }, opts.mmioBase!);
      cmd |= PCI_COMMAND_MEMORY;
      this.buildCaps();
    }
    c.set16(PCI_COMMAND, cmd); // firmware enabled decoding; Bus Master is the driver's to set
    this.resetState();
  }

  private buildCaps(): void {
    const c = this.config;
    c.set16(PCI_STATUS, c.get16(PCI_STATUS) | PCI_STATUS_CAP_LIST);
    c.set8(PCI_CAPABILITY_LIST, CAP_OFFSETS.common);
    const cap = (at: number, next: number, len: number, type: number, offset: number, length: number): void => {
      c.set8(at, PCI_CAP_ID_VNDR);
      c.set8(at + 1, next);
      c.set8(at + 2, len);
      c.set8(at + 3, type);
      c.set8(at + 4, MODERN_BAR);
      c.set8(at + 5, 0); // id
      c.set32(at + 8, offset);
      c.set32(at + 12, length);
    };
    cap(CAP_OFFSETS.common, CAP_OFFSETS.notify, 16, VIRTIO_PCI_CAP_COMMON_CFG, MODERN_LAYOUT.common, COMMON_CFG_SIZE);
    cap(CAP_OFFSETS.notify, CAP_OFFSETS.isr, 20, VIRTIO_PCI_CAP_NOTIFY_CFG, MODERN_LAYOUT.notify, 0x1000);
    c.set32(CAP_OFFSETS.notify + 16, MODERN_LAYOUT.notifyOffMultiplier);
    cap(CAP_OFFSETS.isr, CAP_OFFSETS.device, 16, VIRTIO_PCI_CAP_ISR_CFG, MODERN_LAYOUT.isr, 0x1000);
    cap(CAP_OFFSETS.device, CAP_OFFSETS.pciCfg, 16, VIRTIO_PCI_CAP_DEVICE_CFG, MODERN_LAYOUT.device, 0x1000);
    cap(CAP_OFFSETS.pciCfg, 0, 20, VIRTIO_PCI_CAP_PCI_CFG, 0, 0);
    // struct virtio_pci_cfg_cap: cap.bar, cap.offset, cap.length and pci_cfg_data are the driver's (§4.1.4.9).
    c.set8(CAP_OFFSETS.pciCfg + 4, 0);
    c.setMask(CAP_OFFSETS.pciCfg + 4, 1, 0xff);
    c.setMask(CAP_OFFSETS.pciCfg + 8, 4, 0xffffffff);
    c.setMask(CAP_OFFSETS.pciCfg + 12, 4, 0xffffffff);
  }

  private resetState(): void {
    this.status = 0;
    this.deviceFeatureSelect = 0;
    this.driverFeatureSelect = 0;
    this.driverFeatures = [0, 0];
    this.queueSelect = 0;
    this.queues = [];
    for (let q = 0; q < this.backend.numQueues; q++) this.queues.push({ size: this.backend.maxQueueSize, desc: 0, driver: 0, device: 0, enabled: false, pfn: 0, vq: null });
    this.mode = null;
    this.setIsr(0);
  }

  // ---- what the backend uses -----------------------------------------------------

  /** The live virtqueue `q`, or null. */
  queue(q: number): DeviceVirtqueue | null {
    return this.queues[q]?.vq ?? null;
  }

  /** Whether feature `bit` was negotiated. */
  negotiated(bit: number): boolean {
    const w = bit < 32 ? this.driverFeatures[0] : this.driverFeatures[1];
    return ((w >>> bit % 32) & 1) !== 0;
  }

  /** Whether the device may master the bus (PCI Command.Bus Master); reports a violation if not. */
  dmaAllowed(what: string): boolean {
    if ((this.config.get16(PCI_COMMAND) & PCI_COMMAND_MASTER) !== 0) return true;
    this.violation('dma-without-bus-master', what);
    return false;
  }

  /** Whether the device is live: DRIVER_OK and not DEVICE_NEEDS_RESET. */
  get live(): boolean {
    return (this.status & VIRTIO_STATUS_DRIVER_OK) !== 0 && (this.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET) === 0;
  }

  /** A used buffer notification: ISR bit 0 and INTx asserted (§4.1.5.3). */
  raiseQueueInterrupt(): void {
    this.stats.interrupts++;
    this.host.hashDevice(this.opts.hashBase + HASH.interrupt, VIRTIO_PCI_ISR_QUEUE);
    this.setIsr(this.isr | VIRTIO_PCI_ISR_QUEUE);
  }

  /** A configuration change notification: ISR bit 1 (§4.1.5.4). */
  raiseConfigInterrupt(): void {
    this.stats.interrupts++;
    this.host.hashDevice(this.opts.hashBase + HASH.interrupt, VIRTIO_PCI_ISR_CONFIG);
    this.setIsr(this.isr | VIRTIO_PCI_ISR_CONFIG);
  }

  /** The device entered an error state: DEVICE_NEEDS_RESET, requests in flight are dropped, a config interrupt tells the driver (§2.1.2). */
  needsReset(why: string): void {
    if ((this.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET) !== 0) return;
    this.stats.needsReset++;
    this.host.hashDevice(this.opts.hashBase + HASH.needsReset, 0);
    this.lastNeedsResetReason = why;
    this.status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
    this.backend.reset();
    if ((this.status & VIRTIO_STATUS_DRIVER_OK) !== 0) this.raiseConfigInterrupt();
  }
  lastNeedsResetReason = '';

  violation(name: ViolationName, detail: string): void {
    this.host.hashDevice(this.opts.hashBase + HASH.violation, 0);
    this.checker.report(name, detail);
  }

  private setIsr(v: number): void {
    this.isr = v;
    this.intx(v !== 0);
  }

  private readIsr(): number {
    const v = this.isr;
    this.stats.isrReads++;
    this.host.hashDevice(this.opts.hashBase + HASH.isrRead, v);
    this.setIsr(0);
    return v;
  }

  // ---- status, features, queues (both interfaces) ------------------------------

  private use(mode: 'legacy' | 'modern'): void {
    if (this.mode === null) this.mode = mode;
    else if (this.mode !== mode) this.violation('mixed-interfaces', `the driver used the ${mode} interface after the ${this.mode} one without a reset`);
  }

  private writeStatus(v: number): void {
    v &= 0xff;
    this.host.hashDevice(this.opts.hashBase + HASH.status, v);
    if (v === 0) {
      this.stats.resets++;
      this.backend.reset();
      this.resetState();
      return;
    }
    const old = this.status;
    const deviceOwned = VIRTIO_STATUS_DEVICE_NEEDS_RESET;
    const cleared = old & ~v & ~deviceOwned;
    if (cleared !== 0) this.violation('status-bit-cleared', `status 0x${old.toString(16)} -> 0x${v.toString(16)}`);
    const added = v & ~old;
    const has = (b: number): boolean => (v & b) !== 0;
    if ((added & VIRTIO_STATUS_DRIVER) !== 0 && !has(VIRTIO_STATUS_ACKNOWLEDGE)) this.violation('status-out-of-order', 'DRIVER set without ACKNOWLEDGE');
    let next = (v & ~deviceOwned) | (old & deviceOwned);
    if ((added & VIRTIO_STATUS_FEATURES_OK) !== 0) {
      if (this.mode === 'legacy') next &= ~VIRTIO_STATUS_FEATURES_OK; // no such step in the legacy interface
      else {
        if (!has(VIRTIO_STATUS_DRIVER)) this.violation('status-out-of-order', 'FEATURES_OK set without DRIVER');
        if (!this.featuresAcceptable(true)) next &= ~VIRTIO_STATUS_FEATURES_OK; // the driver reads it back (§3.1.1 step 6)
      }
    }
    if ((added & VIRTIO_STATUS_DRIVER_OK) !== 0) {
      if (!has(VIRTIO_STATUS_DRIVER)) this.violation('status-out-of-order', 'DRIVER_OK set without DRIVER');
      if (this.mode === 'modern' && (next & VIRTIO_STATUS_FEATURES_OK) === 0) this.violation('status-out-of-order', 'DRIVER_OK set without FEATURES_OK (modern interface)');
      if (this.mode === 'legacy') this.featuresAcceptable(false);
    }
    this.status = next;
    if ((added & VIRTIO_STATUS_DRIVER_OK) !== 0) this.backend.driverOk?.();
  }

  /** Checks the driver's features against the offer; with `modern`, VIRTIO_F_VERSION_1 is required. */
  private featuresAcceptable(modern: boolean): boolean {
    const [lo, hi] = this.backend.features();
    const [dlo, dhi] = this.driverFeatures;
    const extraLo = (dlo & ~lo) >>> 0;
    const extraHi = (dhi & ~hi) >>> 0;
    if (extraLo !== 0 || extraHi !== 0) {
      this.violation('feature-not-offered', `driver features 0x${dhi.toString(16)}_${dlo.toString(16).padStart(8, '0')}, offered 0x${hi.toString(16)}_${lo.toString(16).padStart(8, '0')}`);
      return false;
    }
    if (modern && !this.negotiated(VIRTIO_F_VERSION_1)) return false;
    return this.backend.acceptFeatures?.(dlo, dhi) ?? true;
  }

  private writeDriverFeatures(word: number, v: number): void {
    if ((this.status & (VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK)) !== 0) {
      this.violation('features-after-features-ok', `driver_feature[${word}] = 0x${(v >>> 0).toString(16)} written with status 0x${this.status.toString(16)}`);
      return;
    }
    if (word <= 1) this.driverFeatures[word] = v >>> 0;
  }

  private queueConfigWritable(what: string): QueueState | null {
    const q = this.queues[this.queueSelect];
    if (q === undefined) return null;
    if ((this.status & VIRTIO_STATUS_DRIVER_OK) !== 0) {
      this.violation('queue-config-after-driver-ok', `${what} for queue ${this.queueSelect}`);
      return null;
    }
    return q;
  }

  private enableQueue(index: number, q: QueueState, desc: number, avail: number, used: number): boolean {
    const size = q.size;
    if (size === 0 || (size & (size - 1)) !== 0 || size > this.backend.maxQueueSize || size > VIRTQ_MAX_SIZE) {
      this.violation('queue-size-invalid', `queue ${index}: size ${size} (maximum ${this.backend.maxQueueSize})`);
      return false;
    }
    const cfg = { size, descPa: desc, availPa: avail, usedPa: used, eventIdx: this.negotiated(VIRTIO_F_EVENT_IDX), indirect: this.negotiated(VIRTIO_F_INDIRECT_DESC) };
    const bad = checkQueuePlacement(this.host.mem, cfg);
    if (bad !== null) {
      this.violation(bad.name, `queue ${index}: ${bad.detail}`);
      return false;
    }
    q.vq = new DeviceVirtqueue(this.host.mem, cfg);
    q.enabled = true;
    this.host.hashDevice(this.opts.hashBase + HASH.queueEnable, index);
    return true;
  }

  private notify(qi: number): void {
    this.stats.notifies++;
    this.host.hashDevice(this.opts.hashBase + HASH.notify, qi);
    if ((this.status & VIRTIO_STATUS_DRIVER_OK) === 0) {
      this.violation('notify-before-driver-ok', `notification for queue ${qi} with status 0x${this.status.toString(16)}`);
      return;
    }
    if ((this.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET) !== 0) return; // the device is in its error state
    const q = this.queues[qi];
    if (q === undefined || q.vq === null) {
      this.violation('notify-disabled-queue', `queue ${qi}`);
      return;
    }
    if (!this.dmaAllowed(`notification for queue ${qi}`)) return;
    this.backend.notify(qi);
  }

  // ---- BAR accesses -------------------------------------------------------------------

  barRead(bar: number, offset: number, size: number): number {
    if (bar === LEGACY_BAR) return this.legacyRead(offset, size);
    if (bar === MODERN_BAR) return this.modernRead(offset, size);
    return ones(size);
  }

  barWrite(bar: number, offset: number, size: number, value: number): void {
    if (bar === LEGACY_BAR) this.legacyWrite(offset, size, value);
    else if (bar === MODERN_BAR) this.modernWrite(offset, size, value);
  }

  // Legacy register block (§4.1.4.8).
  private legacyRead(off: number, size: number): number {
    if (off >= VIRTIO_PCI_CONFIG_OFF) return readLe(this.backend.config(), off - VIRTIO_PCI_CONFIG_OFF, size);
    if (off === VIRTIO_PCI_ISR && size === 1) return this.readIsr();
    const q = this.queues[this.queueSelect];
    const regs = new Uint8Array(VIRTIO_PCI_CONFIG_OFF);
    const dv = new DataView(regs.buffer);
    dv.setUint32(VIRTIO_PCI_HOST_FEATURES, this.backend.features()[0], true);
    dv.setUint32(VIRTIO_PCI_GUEST_FEATURES, this.driverFeatures[0], true);
    dv.setUint32(VIRTIO_PCI_QUEUE_PFN, q?.pfn ?? 0, true);
    dv.setUint16(VIRTIO_PCI_QUEUE_NUM, q === undefined ? 0 : this.backend.maxQueueSize, true);
    dv.setUint16(VIRTIO_PCI_QUEUE_SEL, this.queueSelect, true);
    regs[VIRTIO_PCI_STATUS] = this.status;
    regs[VIRTIO_PCI_ISR] = this.isr; // a wider read that covers ISR does not clear it
    return readLe(regs, off, size);
  }

  private legacyWrite(off: number, size: number, v: number): void {
    if (off === VIRTIO_PCI_GUEST_FEATURES && size === 4) {
      this.use('legacy');
      this.writeDriverFeatures(0, v);
    } else if (off === VIRTIO_PCI_QUEUE_SEL && size === 2) {
      this.queueSelect = v & 0xffff;
    } else if (off === VIRTIO_PCI_QUEUE_PFN && size === 4) {
      this.use('legacy');
      const q = this.queueConfigWritable('Queue Address');
      if (q === null) return;
      q.pfn = v >>> 0;
      q.vq = null;
      q.enabled = false;
      if (q.pfn === 0) return; // 0 disables the queue
      q.size = this.backend.maxQueueSize;
      const base = q.pfn * 2 ** VIRTIO_PCI_QUEUE_ADDR_SHIFT;
      const lay = legacyVirtqLayout(q.size);
      this.enableQueue(this.queueSelect, q, base + lay.desc, base + lay.avail, base + lay.used);
    } else if (off === VIRTIO_PCI_QUEUE_NOTIFY && size === 2) {
      this.use('legacy');
      this.notify(v & 0xffff);
    } else if (off === VIRTIO_PCI_STATUS && size === 1) {
      if (v !== 0) this.use('legacy');
      this.writeStatus(v);
    }
  }

  // Modern structures in BAR 4 (§4.1.4.3-§4.1.4.7).
  private modernRead(off: number, size: number): number {
    const L = MODERN_LAYOUT;
    if (off >= L.isr && off < L.isr + 0x1000) return off === L.isr ? this.readIsr() : 0;
    if (off >= L.device && off < L.device + 0x1000) return readLe(this.backend.config(), off - L.device, size);
    if (off >= L.notify) return 0;
    if (off >= COMMON_CFG_SIZE) return 0;
    const regs = new Uint8Array(COMMON_CFG_SIZE);
    const dv = new DataView(regs.buffer);
    const F = COMMON_CFG;
    const feats = this.backend.features();
    dv.setUint32(F.device_feature_select, this.deviceFeatureSelect, true);
    dv.setUint32(F.device_feature, this.deviceFeatureSelect <= 1 ? feats[this.deviceFeatureSelect] : 0, true);
    dv.setUint32(F.driver_feature_select, this.driverFeatureSelect, true);
    dv.setUint32(F.driver_feature, this.driverFeatureSelect <= 1 ? this.driverFeatures[this.driverFeatureSelect] : 0, true);
    dv.setUint16(F.config_msix_vector, VIRTIO_MSI_NO_VECTOR, true);
    dv.setUint16(F.num_queues, this.backend.numQueues, true);
    regs[F.device_status] = this.status;
    regs[F.config_generation] = this.configGeneration & 0xff;
    dv.setUint16(F.queue_select, this.queueSelect, true);
    const q = this.queues[this.queueSelect];
    if (q !== undefined) {
      // A queue that does not exist reads queue_size 0 (§4.1.4.3.1).
      dv.setUint16(F.queue_size, q.size, true);
      dv.setUint16(F.queue_msix_vector, VIRTIO_MSI_NO_VECTOR, true);
      dv.setUint16(F.queue_enable, q.enabled ? 1 : 0, true);
      dv.setUint16(F.queue_notify_off, this.queueSelect, true);
      dv.setUint32(F.queue_desc, q.desc % 2 ** 32, true);
      dv.setUint32(F.queue_desc + 4, Math.floor(q.desc / 2 ** 32), true);
      dv.setUint32(F.queue_driver, q.driver % 2 ** 32, true);
      dv.setUint32(F.queue_driver + 4, Math.floor(q.driver / 2 ** 32), true);
      dv.setUint32(F.queue_device, q.device % 2 ** 32, true);
      dv.setUint32(F.queue_device + 4, Math.floor(q.device / 2 ** 32), true);
    }
    return readLe(regs, off, size);
  }

  private modernWrite(off: number, size: number, v: number): void {
    const L = MODERN_LAYOUT;
    if (off >= L.notify && off < L.notify + 0x1000) {
      if ((off - L.notify) % L.notifyOffMultiplier === 0) {
        this.use('modern');
        this.notify(v & 0xffff);
      }
      return;
    }
    if (off >= COMMON_CFG_SIZE) return; // ISR and device configuration are read-only here
    const F = COMMON_CFG;
    const v32 = v >>> 0;
    switch (off) {
      case F.device_feature_select:
        this.deviceFeatureSelect = v32;
        return;
      case F.driver_feature_select:
        this.driverFeatureSelect = v32;
        return;
      case F.driver_feature:
        this.use('modern');
        this.writeDriverFeatures(this.driverFeatureSelect, v32);
        return;
      case F.device_status:
        if (size !== 1) return;
        if (v !== 0) this.use('modern');
        this.writeStatus(v);
        return;
      case F.queue_select:
        this.queueSelect = v & 0xffff;
        return;
      case F.queue_size: {
        this.use('modern');
        const q = this.queueConfigWritable('queue_size');
        if (q !== null) q.size = v & 0xffff;
        return;
      }
      case F.queue_enable: {
        this.use('modern');
        const q = this.queueConfigWritable('queue_enable');
        if (q === null) return;
        if ((v & 0xffff) === 0) {
          this.violation('queue-enable-zero', `queue ${this.queueSelect}`);
          return;
        }
        if (!q.enabled) this.enableQueue(this.queueSelect, q, q.desc, q.driver, q.device);
        return;
      }
      case F.queue_desc:
      case F.queue_desc + 4:
      case F.queue_driver:
      case F.queue_driver + 4:
      case F.queue_device:
      case F.queue_device + 4: {
        this.use('modern');
        const q = this.queueConfigWritable('queue address');
        if (q === null) return;
        const field = off < F.queue_driver ? 'desc' : off < F.queue_device ? 'driver' : 'device';
        const high = (off & 4) !== 0;
        const cur = q[field];
        q[field] = high ? (cur % 2 ** 32) + v32 * 2 ** 32 : Math.floor(cur / 2 ** 32) * 2 ** 32 + v32;
        return;
      }
      default:
        return; // msix vectors, notify data, queue_reset: not modelled
    }
  }

  // ---- the PCI configuration access capability (§4.1.4.9) -------------------------

  configRead(off: number, size: number): number | undefined {
    const data = CAP_OFFSETS.pciCfg + 16;
    if (this.opts.kind === 'legacy' || off !== data) return undefined;
    const c = this.config;
    const bar = c.get8(CAP_OFFSETS.pciCfg + 4);
    const boff = c.get32(CAP_OFFSETS.pciCfg + 8);
    const len = c.get32(CAP_OFFSETS.pciCfg + 12);
    if (len !== 1 && len !== 2 && len !== 4) return ones(size);
    return this.barRead(bar, boff, len) & (size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff);
  }

  configWritten(off: number, size: number, value: number): void {
    const data = CAP_OFFSETS.pciCfg + 16;
    if (this.opts.kind === 'legacy' || off !== data) return;
    const c = this.config;
    const bar = c.get8(CAP_OFFSETS.pciCfg + 4);
    const boff = c.get32(CAP_OFFSETS.pciCfg + 8);
    const len = c.get32(CAP_OFFSETS.pciCfg + 12);
    if (len === 1 || len === 2 || len === 4) this.barWrite(bar, boff, len, value);
    void size;
  }

  /** Whether I/O or memory decoding is on (for tests). */
  decoding(): { io: boolean; mem: boolean } {
    const cmd = this.config.get16(PCI_COMMAND);
    return { io: (cmd & PCI_COMMAND_IO) !== 0, mem: (cmd & PCI_COMMAND_MEMORY) !== 0 };
  }
}

/** Transitional PCI Device IDs (§4.1.2.1): 0x1000 net, 0x1001 block, 0x1002 balloon, 0x1003 console, ... */
function transitionalOffset(deviceType: number): number {
  const table: Record<number, number> = { 1: 0, 2: 1, 5: 2, 3: 3, 8: 4, 4: 5, 9: 9 };
  const o = table[deviceType];
  if (o === undefined) throw new Error(`virtio: device type ${deviceType} has no transitional PCI device ID`);
  return o;
}

function ones(size: number): number {
  return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
}

/** Little-endian read of `size` bytes at `off` (bytes past the end read as 0). */
function readLe(b: Uint8Array, off: number, size: number): number {
  let v = 0;
  for (let i = size - 1; i >= 0; i--) v = v * 256 + (off + i < b.length && off + i >= 0 ? b[off + i] : 0);
  return v >>> 0;
}

// Split virtqueues, device side: the descriptor table, the available ring
// and the used ring live in guest physical memory in their real byte
// layouts; the device reads and writes them by DMA (PhysicalMemory).
// Spec: VIRTIO 1.2 §2.7 (Split Virtqueues): the size/alignment table
// (descriptor table 16 * qsz, align 16; available ring 6 + 2 * qsz, align 2;
// used ring 6 + 8 * qsz, align 4), §2.7.2 (legacy layout: descriptor table
// and available ring, padding to Queue Align, then the used ring), §2.7.4
// (message framing: device-writable elements after device-readable ones),
// §2.7.5 (struct virtq_desc; VIRTQ_DESC_F_NEXT/WRITE/INDIRECT; no loops),
// §2.7.5.3 (indirect descriptors), §2.7.6 (struct virtq_avail,
// VIRTQ_AVAIL_F_NO_INTERRUPT; the driver never decrements idx), §2.7.7 and
// §2.7.10 (notification suppression with VIRTIO_F_EVENT_IDX: used_event,
// avail_event, vring_need_event), §2.7.8 (struct virtq_used, the used ring
// is written only by the device).
//
// Every structure the driver controls is validated before use: a bad driver
// never crashes the simulator. A broken rule is reported to the
// VirtioChecker under a name from the spec, and the caller decides between
// failing the request (VIRTIO_BLK_S_IOERR) and DEVICE_NEEDS_RESET.
import type { PhysicalMemory } from '../memory.ts';

export const VIRTQ_DESC_F_NEXT = 1;
export const VIRTQ_DESC_F_WRITE = 2;
export const VIRTQ_DESC_F_INDIRECT = 4;
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
export const VIRTQ_USED_F_NO_NOTIFY = 1;
/** sizeof(struct virtq_desc). */
export const VIRTQ_DESC_SIZE = 16;
/** sizeof(struct virtq_used_elem). */
export const VIRTQ_USED_ELEM_SIZE = 8;
/** Largest Queue Size (§2.7: a power of 2 up to 32768). */
export const VIRTQ_MAX_SIZE = 32768;
/** Queue Align of the legacy PCI interface (§2.7.2; VIRTIO_PCI_VRING_ALIGN). */
export const VIRTIO_LEGACY_QUEUE_ALIGN = 4096;

/** Alignment of each part (§2.7 table). */
export const VIRTQ_ALIGN = { desc: 16, avail: 2, used: 4 } as const;

/** Bytes of the descriptor table: 16 * Queue Size. */
export function virtqDescBytes(qsz: number): number {
  return VIRTQ_DESC_SIZE * qsz;
}
/** Bytes of the available ring: flags, idx, ring[qsz], used_event = 6 + 2 * Queue Size. */
export function virtqAvailBytes(qsz: number): number {
  return 6 + 2 * qsz;
}
/** Bytes of the used ring: flags, idx, ring[qsz], avail_event = 6 + 8 * Queue Size. */
export function virtqUsedBytes(qsz: number): number {
  return 6 + VIRTQ_USED_ELEM_SIZE * qsz;
}

function alignUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

/** The legacy layout (§2.7.2): offsets of the three parts and virtq_size(qsz). */
export function legacyVirtqLayout(qsz: number, align = VIRTIO_LEGACY_QUEUE_ALIGN): { desc: number; avail: number; used: number; size: number } {
  const avail = virtqDescBytes(qsz);
  // ALIGN(sizeof(struct virtq_desc)*qsz + sizeof(u16)*(3 + qsz)): the used_event slot is counted.
  const used = alignUp(virtqDescBytes(qsz) + 2 * (3 + qsz), align);
  const size = used + alignUp(2 * 3 + VIRTQ_USED_ELEM_SIZE * qsz, align);
  return { desc: 0, avail, used, size };
}

/** Offsets inside struct virtq_avail and struct virtq_used. */
export const AVAIL = { flags: 0, idx: 2, ring: 4, usedEvent: (qsz: number) => 4 + 2 * qsz } as const;
export const USED = { flags: 0, idx: 2, ring: 4, availEvent: (qsz: number) => 4 + 8 * qsz } as const;

/** vring_need_event (§2.7.10 / virtio_ring.h): whether moving idx from old to new crosses event_idx. */
export function vringNeedEvent(eventIdx: number, newIdx: number, oldIdx: number): boolean {
  return ((newIdx - eventIdx - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
}

// ---- the checker ---------------------------------------------------------------

/** Rules of the driver's side of the contract, by the spec's words. */
export const VIOLATIONS = {
  'chain-too-long': '§2.7.5.3.1: "A driver MUST NOT create a descriptor chain longer than the Queue Size of the device" (or the chain loops: §2.7.5.2 "loops in the descriptor chain are forbidden")',
  'chain-too-many-bytes': '§2.7.5.2: "Drivers MUST NOT add a descriptor chain longer than 2^32 bytes in total"',
  'desc-index-out-of-range': '§2.7.5: a descriptor index (avail ring entry or next) is not below Queue Size',
  'desc-addr-out-of-range': '§2.7.5: addr/len of a descriptor lies outside guest RAM',
  'writable-before-readable': '§2.7.4.2: "The driver MUST place any device-writable descriptor elements after any device-readable descriptor elements"',
  'indirect-not-negotiated': '§2.7.5.3.1: "The driver MUST NOT set the VIRTQ_DESC_F_INDIRECT flag unless the VIRTIO_F_INDIRECT_DESC feature was negotiated"',
  'indirect-in-indirect': '§2.7.5.3.1: "The driver MUST NOT set the VIRTQ_DESC_F_INDIRECT flag within an indirect descriptor"',
  'indirect-with-next': '§2.7.5.3.1: "A driver MUST NOT set both VIRTQ_DESC_F_INDIRECT and VIRTQ_DESC_F_NEXT in flags"',
  'indirect-bad-len': '§2.7.5.3: an indirect table holds len / 16 descriptors (len must be a non-zero multiple of 16)',
  'avail-idx-decremented': '§2.7.6.1: "A driver MUST NOT decrement the available idx" (or it moved by more than Queue Size)',
  'desc-in-use': '§2.7.13.1: a descriptor was made available again while its chain is still in use by the device',
  'used-ring-written-by-driver': '§2.7.8: the used ring "is only written to by the device" (used idx changed under the device)',
  'avail-flags-with-event-idx': '§2.7.7.1: with VIRTIO_F_EVENT_IDX "The driver MUST set flags to 0"',
  'ring-misaligned': '§2.7.1: "The driver MUST ensure that the physical address of the first byte of each virtqueue part is a multiple of the specified alignment value"',
  'ring-out-of-range': '§2.7: a virtqueue part lies outside guest RAM',
  'queue-size-invalid': '§4.1.4.3.2: queue_size must be a power of 2 not above the device maximum',
  'notify-before-driver-ok': '§3.1.1: "The driver MUST NOT send any buffer available notifications to the device before setting DRIVER_OK"',
  'notify-disabled-queue': '§4.1.4.3: notification for a queue that is not enabled',
  'status-bit-cleared': '§2.1.1: "The driver MUST NOT clear a device status bit"',
  'status-out-of-order': '§3.1.1: the driver MUST follow the initialization sequence (ACKNOWLEDGE, DRIVER, features, FEATURES_OK, queues, DRIVER_OK)',
  'feature-not-offered': '§2.2.1: "The driver MUST NOT accept a feature which the device did not offer"',
  'features-after-features-ok': '§3.1.1: features are written before FEATURES_OK is set',
  'queue-config-after-driver-ok': '§4.1.4.3.2: queue fields are configured before DRIVER_OK (and before queue_enable)',
  'queue-enable-zero': '§4.1.4.3.2: "The driver MUST NOT write a 0 to queue_enable"',
  'mixed-interfaces': '§4.1.4.8: a transitional driver uses either the legacy or the modern interface, not both',
  'dma-without-bus-master': 'PCI 3.0 §6.2.2: the device cannot master the bus (DMA) while Command.Bus Master is clear',
  'blk-data-not-sector-multiple': '§5.2.6.1: "The length of data MUST be a multiple of 512 bytes for VIRTIO_BLK_T_IN and VIRTIO_BLK_T_OUT requests"',
  'blk-beyond-capacity': '§5.2.6.1: "A driver MUST NOT submit a request which would cause a read or write beyond capacity"',
  'blk-flush-sector-nonzero': '§5.2.6.1: "A driver MUST set sector to 0 for a VIRTIO_BLK_T_FLUSH request"',
  'blk-get-id-len': '§5.2.6.1: "The length of data MUST be 20 bytes for VIRTIO_BLK_T_GET_ID requests"',
  'blk-bad-request-framing': '§5.2.6: a request is a 16-byte device-readable header, data, and a device-writable status byte',
} as const;

export type ViolationName = keyof typeof VIOLATIONS;

export interface Violation {
  readonly name: ViolationName;
  readonly detail: string;
  readonly cycle: number;
}

/** Collects the driver's contract violations a device saw (one checker per device). */
export class VirtioChecker {
  readonly violations: Violation[] = [];
  /** Called on each violation (the machine stops the run when strict). */
  onViolation: ((v: Violation) => void) | null = null;

  constructor(
    readonly deviceName: string,
    private readonly now: () => number,
  ) {}

  report(name: ViolationName, detail: string): void {
    const v = { name, detail, cycle: this.now() };
    if (this.violations.length < 64) this.violations.push(v);
    this.onViolation?.(v);
  }

  /** One line per violation: `<device>: <name>: <detail> (<spec rule>)`. */
  describe(v: Violation): string {
    return `${this.deviceName}: ${v.name}: ${v.detail} (${VIOLATIONS[v.name]})`;
  }
}

// ---- the device's view of one split virtqueue -------------------------------------

/** A buffer element of a descriptor chain. */
export interface Segment {
  readonly addr: number;
  readonly len: number;
  readonly write: boolean;
}

export type ChainResult =
  | { readonly ok: true; readonly segs: Segment[]; readonly descs: number[]; readonly readable: number; readonly writable: number }
  | { readonly ok: false; readonly violation: ViolationName; readonly detail: string };

export interface VirtqueueConfig {
  readonly size: number;
  readonly descPa: number;
  readonly availPa: number;
  readonly usedPa: number;
  readonly eventIdx: boolean;
  readonly indirect: boolean;
}

/** Checks a queue's placement: alignment and RAM bounds of each part; returns a violation or null. */
export function checkQueuePlacement(mem: PhysicalMemory, c: VirtqueueConfig): { name: ViolationName; detail: string } | null {
  const parts: [string, number, number, number][] = [
    ['descriptor table', c.descPa, virtqDescBytes(c.size), VIRTQ_ALIGN.desc],
    ['available ring', c.availPa, virtqAvailBytes(c.size), VIRTQ_ALIGN.avail],
    ['used ring', c.usedPa, virtqUsedBytes(c.size), VIRTQ_ALIGN.used],
  ];
  for (const [what, pa, len, align] of parts) {
    if (pa % align !== 0) return { name: 'ring-misaligned', detail: `${what} at 0x${pa.toString(16)} is not ${align}-byte aligned` };
    if (!mem.contains(pa, len)) return { name: 'ring-out-of-range', detail: `${what} 0x${pa.toString(16)}+${len} is outside guest RAM (${mem.size} bytes)` };
  }
  return null;
}

export class DeviceVirtqueue {
  /** Next available-ring slot the device will read (free-running 16-bit). */
  lastAvailIdx = 0;
  /** The used idx the device last wrote (free-running 16-bit). */
  usedIdx = 0;
  /** Descriptor indices of chains the device holds (made available, not yet used). */
  private readonly inUse: Uint8Array;

  constructor(
    private readonly mem: PhysicalMemory,
    readonly cfg: VirtqueueConfig,
  ) {
    this.inUse = new Uint8Array(cfg.size);
  }

  get size(): number {
    return this.cfg.size;
  }

  /** The driver's avail idx. */
  availIdx(): number {
    return this.mem.read16(this.cfg.availPa + AVAIL.idx);
  }

  /** Chains made available and not yet taken; null if avail idx moved backwards or by more than Queue Size. */
  pending(): number | null {
    const n = (this.availIdx() - this.lastAvailIdx) & 0xffff;
    return n > this.cfg.size ? null : n;
  }

  /** Takes the next head index from the available ring (the caller checked pending() > 0). */
  takeHead(): number {
    const head = this.mem.read16(this.cfg.availPa + AVAIL.ring + 2 * (this.lastAvailIdx % this.cfg.size));
    this.lastAvailIdx = (this.lastAvailIdx + 1) & 0xffff;
    return head;
  }

  /**
   * Walks the chain starting at `head`, bounded by Queue Size (plus the
   * entries of one indirect table): every index, flag combination, address
   * and length is checked. On success the chain's descriptors are marked
   * in use until `release`.
   */
  walkChain(head: number): ChainResult {
    const mem = this.mem;
    const qsz = this.cfg.size;
    let table = this.cfg.descPa;
    let tableSize = qsz;
    let idx = head;
    let inIndirect = false;
    let budget = qsz;
    let total = 0;
    let seenWrite = false;
    let readable = 0;
    let writable = 0;
    const segs: Segment[] = [];
    const descs: number[] = [];
    for (;;) {
      if (budget-- <= 0) return { ok: false, violation: 'chain-too-long', detail: `chain from head ${head} has more than ${inIndirect ? 'its indirect table holds' : `Queue Size (${qsz})`} descriptors` };
      if (idx >= tableSize) return { ok: false, violation: 'desc-index-out-of-range', detail: `descriptor index ${idx} in chain from head ${head} (table of ${tableSize})` };
      if (!inIndirect) {
        if (this.inUse[idx] !== 0) return { ok: false, violation: 'desc-in-use', detail: `descriptor ${idx} (chain from head ${head}) belongs to a chain the device still holds` };
        descs.push(idx);
      }
      const d = table + VIRTQ_DESC_SIZE * idx;
      const addr = mem.read32(d) + mem.read32(d + 4) * 2 ** 32;
      const len = mem.read32(d + 8);
      const flags = mem.read16(d + 12);
      const next = mem.read16(d + 14);
      if ((flags & VIRTQ_DESC_F_INDIRECT) !== 0) {
        if (!this.cfg.indirect) return { ok: false, violation: 'indirect-not-negotiated', detail: `descriptor ${idx} of chain ${head}` };
        if (inIndirect) return { ok: false, violation: 'indirect-in-indirect', detail: `entry ${idx} of the indirect table of chain ${head}` };
        if ((flags & VIRTQ_DESC_F_NEXT) !== 0) return { ok: false, violation: 'indirect-with-next', detail: `descriptor ${idx} of chain ${head}` };
        if (len === 0 || len % VIRTQ_DESC_SIZE !== 0) return { ok: false, violation: 'indirect-bad-len', detail: `indirect table of ${len} bytes (descriptor ${idx} of chain ${head})` };
        if (addr % VIRTQ_ALIGN.desc !== 0 || !mem.contains(addr, len)) return { ok: false, violation: 'desc-addr-out-of-range', detail: `indirect table 0x${addr.toString(16)}+${len} (descriptor ${idx} of chain ${head})` };
        table = addr;
        tableSize = len / VIRTQ_DESC_SIZE;
        budget = tableSize;
        inIndirect = true;
        idx = 0;
        continue;
      }
      if (!mem.contains(addr, len)) return { ok: false, violation: 'desc-addr-out-of-range', detail: `descriptor ${idx} of chain ${head}: 0x${addr.toString(16)}+${len} (RAM is ${mem.size} bytes)` };
      const write = (flags & VIRTQ_DESC_F_WRITE) !== 0;
      if (!write && seenWrite) return { ok: false, violation: 'writable-before-readable', detail: `device-readable descriptor ${idx} follows a device-writable one in chain ${head}` };
      seenWrite ||= write;
      total += len;
      if (total > 0xffffffff) return { ok: false, violation: 'chain-too-many-bytes', detail: `chain ${head} totals more than 2^32 bytes` };
      if (write) writable += len;
      else readable += len;
      segs.push({ addr, len, write });
      if ((flags & VIRTQ_DESC_F_NEXT) === 0) break;
      idx = next;
    }
    for (const i of descs) this.inUse[i] = 1;
    return { ok: true, segs, descs, readable, writable };
  }

  /** Returns a chain's descriptors to the driver (before its used entry is written). */
  release(descs: readonly number[]): void {
    for (const i of descs) this.inUse[i] = 0;
  }

  /** Whether any chain is held. */
  holdsAny(): boolean {
    return this.inUse.some((b) => b !== 0);
  }

  /**
   * Writes a used element {id, len} and then increments used idx (§2.7.8.2:
   * len before idx). Returns a violation when the used idx in memory is not
   * the one the device wrote last (the driver wrote the used ring).
   */
  pushUsed(id: number, len: number): { name: ViolationName; detail: string } | null {
    const mem = this.mem;
    const idxPa = this.cfg.usedPa + USED.idx;
    const inMem = mem.read16(idxPa);
    const problem = inMem !== this.usedIdx ? { name: 'used-ring-written-by-driver' as const, detail: `used idx is ${inMem} in memory, the device wrote ${this.usedIdx}` } : null;
    const e = this.cfg.usedPa + USED.ring + VIRTQ_USED_ELEM_SIZE * (this.usedIdx % this.cfg.size);
    mem.write32(e, id);
    mem.write32(e + 4, len);
    const next = (this.usedIdx + 1) & 0xffff;
    // The used idx only ever moves forward by one per element (monotonic mod 2^16).
    if (((next - this.usedIdx) & 0xffff) !== 1) throw new Error('virtqueue: used idx not monotonic');
    this.usedIdx = next;
    mem.write16(idxPa, next);
    return problem;
  }

  /** Whether a used buffer notification is due after used idx moved from `oldIdx` to `usedIdx` (§2.7.7.2). */
  needsInterrupt(oldIdx: number): boolean {
    if (this.cfg.eventIdx) {
      const usedEvent = this.mem.read16(this.cfg.availPa + AVAIL.usedEvent(this.cfg.size));
      return vringNeedEvent(usedEvent, this.usedIdx, oldIdx);
    }
    return (this.mem.read16(this.cfg.availPa + AVAIL.flags) & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
  }

  /** avail flags the driver set (checked against EVENT_IDX). */
  availFlags(): number {
    return this.mem.read16(this.cfg.availPa + AVAIL.flags);
  }

  /** With EVENT_IDX: asks to be notified when the driver makes `idx` available (§2.7.10). */
  setAvailEvent(idx: number): void {
    if (this.cfg.eventIdx) this.mem.write16(this.cfg.usedPa + USED.availEvent(this.cfg.size), idx & 0xffff);
  }

  /** The driver's used_event (EVENT_IDX), for audits. */
  usedEvent(): number {
    return this.mem.read16(this.cfg.availPa + AVAIL.usedEvent(this.cfg.size));
  }
}

// ---- scatter/gather helpers ---------------------------------------------------------

/** Reads `len` device-readable bytes starting `offset` bytes into the chain's readable part. */
export function gatherReadable(mem: PhysicalMemory, segs: readonly Segment[], offset: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  let skip = offset;
  let o = 0;
  for (const s of segs) {
    if (s.write || o >= len) continue;
    if (skip >= s.len) {
      skip -= s.len;
      continue;
    }
    const n = Math.min(s.len - skip, len - o);
    out.set(mem.bytes.subarray(s.addr + skip, s.addr + skip + n), o);
    o += n;
    skip = 0;
  }
  return out;
}

/** Writes `data` into the chain's device-writable part, starting `offset` bytes in; returns bytes written. */
export function scatterWritable(mem: PhysicalMemory, segs: readonly Segment[], offset: number, data: Uint8Array): number {
  let skip = offset;
  let o = 0;
  for (const s of segs) {
    if (!s.write || o >= data.length) continue;
    if (skip >= s.len) {
      skip -= s.len;
      continue;
    }
    const n = Math.min(s.len - skip, data.length - o);
    mem.set(data.subarray(o, o + n), s.addr + skip);
    o += n;
    skip = 0;
  }
  return o;
}

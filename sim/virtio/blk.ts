// The virtio block device: one request queue served from an in-memory disk
// image, with a latency model and injected faults, all asked of decisions.
// Spec: VIRTIO 1.2 §5.2 (Block Device): device ID 2 (§5.2.1), requestq 0
// (§5.2.2), feature bits VIRTIO_BLK_F_SEG_MAX, _RO, _BLK_SIZE, _FLUSH
// (§5.2.3), struct virtio_blk_config with capacity in 512-byte sectors
// (§5.2.4), §5.2.6 device operation: struct virtio_blk_req {le32 type; le32
// reserved; le64 sector; u8 data[]; u8 status;}, VIRTIO_BLK_T_IN 0,
// VIRTIO_BLK_T_OUT 1, VIRTIO_BLK_T_FLUSH 4, VIRTIO_BLK_T_GET_ID 8 (20 bytes,
// VIRTIO_BLK_ID_BYTES), statuses VIRTIO_BLK_S_OK 0, VIRTIO_BLK_S_IOERR 1,
// VIRTIO_BLK_S_UNSUPP 2; §5.2.6.1 driver requirements (checked here and
// reported with their names); §5.2.6.2 device requirements (a read-only
// device fails OUT with IOERR). §2.7 split virtqueues (virtqueue.ts) and
// §4.1 PCI transport (pci-transport.ts).
//
// Timing (an assumption, documented in docs/formats.md): a request spends
// its media latency (nominal 50,000 cycles = 50 us at 1 GHz, chosen per
// request by Site.DeviceLatency), then its data moves over one of `lanes`
// internal channels at `bytesPerCycle` per channel (nominal 4 channels of
// 1 byte/cycle = 4 GB/s in all); completions can come out of order.
// Writes are write-through: the data reaches the image when the request
// completes, so VIRTIO_BLK_T_FLUSH has nothing to wait for.
//
// Faults (a FaultPlan selects which are asked; 0 is always "no fault"):
// Site.BlkIoError fails a request with VIRTIO_BLK_S_IOERR (no data moved),
// Site.BlkLatencySpike adds `spikeCycles`, Site.BlkReset puts the device in
// DEVICE_NEEDS_RESET (requests in flight are dropped, a configuration
// interrupt tells the driver), and a planned power loss at the Nth write
// (System/161's doom counter) stops the machine as that write reaches the
// media, optionally tearing it (all sectors but its last written, and the
// first Site.BlkTornWrite-chosen bytes of the last).
// Not modelled: VIRTIO_BLK_F_MQ, DISCARD, WRITE_ZEROES, SECURE_ERASE,
// GET_LIFETIME, zoned devices, CONFIG_WCE (a writeback cache).
import { Site } from '../decisions.ts';
import type { PhysicalMemory } from '../memory.ts';
import { PciBus } from '../pci.ts';
import { DiskImage, SECTOR_SIZE } from './disk.ts';
import { VirtioPciTransport, VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, type TransportKind, type VirtioBackend } from './pci-transport.ts';
import { gatherReadable, scatterWritable, type Segment, type Violation } from './virtqueue.ts';

export const VIRTIO_ID_BLOCK = 2;
export const VIRTIO_BLK_F_SIZE_MAX = 1;
export const VIRTIO_BLK_F_SEG_MAX = 2;
export const VIRTIO_BLK_F_GEOMETRY = 4;
export const VIRTIO_BLK_F_RO = 5;
export const VIRTIO_BLK_F_BLK_SIZE = 6;
export const VIRTIO_BLK_F_FLUSH = 9;

export const VIRTIO_BLK_T_IN = 0;
export const VIRTIO_BLK_T_OUT = 1;
export const VIRTIO_BLK_T_FLUSH = 4;
export const VIRTIO_BLK_T_GET_ID = 8;

export const VIRTIO_BLK_S_OK = 0;
export const VIRTIO_BLK_S_IOERR = 1;
export const VIRTIO_BLK_S_UNSUPP = 2;

export const VIRTIO_BLK_ID_BYTES = 20;
/** sizeof(le32 type, le32 reserved, le64 sector). */
export const VIRTIO_BLK_REQ_HEADER_BYTES = 16;
/** Bytes of struct virtio_blk_config exposed (capacity .. unused1). */
export const VIRTIO_BLK_CONFIG_BYTES = 60;

/** PCI placement on the machine's bus 0 (what firmware would assign). */
export const VIRTIO_BLK_SLOT = 4;
/** IOAPIC input of the slot's INTA# (and the value firmware writes to Interrupt Line). */
export const VIRTIO_BLK_IRQ = 11;
export const VIRTIO_BLK_IO_BASE = 0xc000;
export const VIRTIO_BLK_MMIO_BASE = 0xfe000000;
/** Trace-hash code base of this device's events. */
export const VIRTIO_BLK_HASH = 0x2000;

export interface BlkTiming {
  /** Media latency per request by Site.DeviceLatency choice; index 0 is nominal. */
  readonly latencyChoicesCycles: readonly number[];
  /** Extra latency of an injected spike. */
  readonly spikeCycles: number;
  /** Internal channels that move data in parallel. */
  readonly lanes: number;
  /** Data rate of one channel. */
  readonly bytesPerCycle: number;
}

export const DEFAULT_BLK_TIMING: BlkTiming = {
  // 50 us nominal (a flash page read); device cache hits (no media
  // access: only the data transfer, or a few hundred cycles more); faster
  // and slower media paths (queueing inside the device).
  latencyChoicesCycles: [50_000, 0, 250, 1_000, 5_000, 20_000, 100_000, 200_000],
  spikeCycles: 5_000_000, // 5 ms: a flash translation layer's garbage collection pause (assumption)
  lanes: 4,
  bytesPerCycle: 8,
};

/** Bytes of the torn last sector that reach the media, by Site.BlkTornWrite choice (index 0 = nominal, half a sector). */
export const TORN_WRITE_BYTES: readonly number[] = [256, 8, 64, 128, 192, 320, 448, 504];

export interface FaultPlan {
  /** Ask Site.BlkIoError for each request: fail it with VIRTIO_BLK_S_IOERR. */
  readonly ioError: boolean;
  /** Ask Site.BlkLatencySpike for each request. */
  readonly latencySpike: boolean;
  /** Ask Site.BlkReset for each request: the device needs a reset. */
  readonly reset: boolean;
  /** Power loss as the Nth write (OUT request) reaches the media; 0 = never. */
  readonly powerLossAtWrite: number;
  /** With power loss: tear the Nth write (all but its last sector written, the last one partly). */
  readonly tornWrite: boolean;
}

export const NO_FAULTS: FaultPlan = { ioError: false, latencySpike: false, reset: false, powerLossAtWrite: 0, tornWrite: false };

const FAULT_KEYS = ['ioError', 'latencySpike', 'reset', 'powerLossAtWrite', 'tornWrite'] as const;

/**
 * Builds a fault plan from a partial spec (a scenario's machine.disk.faults
 * or code): unknown keys and bad values are refused with a RangeError that
 * names `where`.
 */
export function faultPlan(spec: unknown = {}, where = 'faults'): FaultPlan {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw new RangeError(`${where} must be an object with keys ${FAULT_KEYS.join(', ')}`);
  const s = spec as Record<string, unknown>;
  for (const k of Object.keys(s)) if (!(FAULT_KEYS as readonly string[]).includes(k)) throw new RangeError(`${where}.${k} is not a fault (known: ${FAULT_KEYS.join(', ')})`);
  const bool = (k: string): boolean => {
    const v = s[k];
    if (v === undefined) return false;
    if (typeof v !== 'boolean') throw new RangeError(`${where}.${k} must be true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  const n = s.powerLossAtWrite ?? 0;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || n > 1_000_000_000) throw new RangeError(`${where}.powerLossAtWrite must be an integer in 0..1000000000 (0 = never), got ${JSON.stringify(n)}`);
  const plan = { ioError: bool('ioError'), latencySpike: bool('latencySpike'), reset: bool('reset'), powerLossAtWrite: n, tornWrite: bool('tornWrite') };
  if (plan.tornWrite && plan.powerLossAtWrite === 0) throw new RangeError(`${where}.tornWrite needs powerLossAtWrite (the write that is torn)`);
  return plan;
}

/** How a deliberately broken device fails initialization (for blk-init-failed). */
export type BrokenKind = 'queue-size-zero' | 'refuse-features' | 'needs-reset';
export const BROKEN_KINDS: readonly BrokenKind[] = ['queue-size-zero', 'refuse-features', 'needs-reset'];

export interface BlkDeviceConfig {
  readonly image: DiskImage;
  readonly faults?: FaultPlan;
  /** 'transitional' (default: legacy I/O BAR and modern capabilities), 'modern' (1AF4:1042) or 'legacy' (no capabilities). */
  readonly transport?: TransportKind;
  /** Queue Size offered (power of 2, 4..1024); default 128. */
  readonly queueSize?: number;
  readonly readOnly?: boolean;
  /** Offer VIRTIO_F_EVENT_IDX (default true); without it the driver uses the avail/used flags. */
  readonly eventIdx?: boolean;
  readonly broken?: BrokenKind;
  /** Stop the run at the first contract violation (default true); otherwise only record it. */
  readonly strict?: boolean;
  readonly timing?: BlkTiming;
  /** GET_ID string (at most 20 bytes). */
  readonly serial?: string;
  /** Keep a log of the writes that reached the media (for power-loss tests). */
  readonly recordWrites?: boolean;
}

/** What the device needs from the machine. */
export interface BlkHost {
  readonly mem: PhysicalMemory;
  now(): number;
  at(atCycles: number, action: (nowCycles: number) => void): number;
  hashDevice(code: number, a: number): void;
  decide(site: number, n: number): number;
  /** The power fails: the machine stops (stop reason power-loss). */
  powerLoss(message: string): void;
  /** A contract violation in strict mode: the machine stops (stop reason checker). */
  stopForViolation(message: string): void;
}

interface Request {
  readonly head: number;
  readonly descs: number[];
  readonly segs: Segment[];
  readonly type: number;
  readonly sector: number;
  readonly dataLen: number;
  readonly writable: number;
  status: number;
  readonly gen: number;
  readonly fetchedAt: number;
  injected: boolean;
}

export interface BlkStats {
  requests: number;
  completed: number;
  reads: number;
  writes: number;
  flushes: number;
  getIds: number;
  unsupported: number;
  ioErrorsInjected: number;
  spikes: number;
  resetsInjected: number;
  /** Requests taken from the ring and never completed (a reset, a power loss). */
  dropped: number;
  bytesRead: number;
  bytesWritten: number;
  latencySumCycles: number;
  latencyMaxCycles: number;
}

export class VirtioBlk implements VirtioBackend {
  readonly name = 'blk';
  readonly deviceType = VIRTIO_ID_BLOCK;
  readonly pciClass = 0x010000; // mass storage, SCSI (QEMU's class for virtio-blk)
  readonly numQueues = 1;
  readonly transport: VirtioPciTransport;
  readonly image: DiskImage;
  readonly plan: FaultPlan;
  readonly timing: BlkTiming;
  private readonly queueSize: number;
  /** Requests fetched and not yet completed (by head). */
  private readonly inflight = new Map<number, Request>();
  /** Bumped on every reset: completions of an older generation are dropped. */
  private gen = 0;
  private readonly laneFree: number[];
  /** OUT requests that reached the media (the doom counter counts these). */
  writesPerformed = 0;
  poweredOff = false;
  readonly stats: BlkStats = { requests: 0, completed: 0, reads: 0, writes: 0, flushes: 0, getIds: 0, unsupported: 0, ioErrorsInjected: 0, spikes: 0, resetsInjected: 0, dropped: 0, bytesRead: 0, bytesWritten: 0, latencySumCycles: 0, latencyMaxCycles: 0 };
  /** Completion latencies (fetch to used), capped at 200,000 entries. */
  readonly latencies: number[] = [];
  /** Writes that reached the media, in order (with recordWrites). */
  readonly writeLog: { lba: number; data: Uint8Array }[] = [];

  constructor(
    private readonly host: BlkHost,
    readonly cfg: BlkDeviceConfig,
    mmioBase: number | null,
  ) {
    this.image = cfg.image;
    this.plan = cfg.faults ?? NO_FAULTS;
    this.timing = cfg.timing ?? DEFAULT_BLK_TIMING;
    this.queueSize = cfg.queueSize ?? 128;
    if (!(this.queueSize >= 4 && this.queueSize <= 1024 && (this.queueSize & (this.queueSize - 1)) === 0)) throw new RangeError(`virtio-blk: queueSize must be a power of 2 in 4..1024, got ${this.queueSize}`);
    if (this.timing.latencyChoicesCycles.length < 1 || this.timing.lanes < 1 || !(this.timing.bytesPerCycle > 0)) throw new RangeError('virtio-blk: bad timing');
    this.laneFree = new Array(this.timing.lanes).fill(0);
    const kind = cfg.transport ?? 'transitional';
    this.transport = new VirtioPciTransport(host, this, { kind, ioBase: VIRTIO_BLK_IO_BASE, mmioBase, hashBase: VIRTIO_BLK_HASH });
    if (cfg.strict ?? true) this.transport.checker.onViolation = (v: Violation) => host.stopForViolation(`VIRTIO: ${this.transport.checker.describe(v)}`);
  }

  get maxQueueSize(): number {
    return this.cfg.broken === 'queue-size-zero' ? 0 : this.queueSize;
  }

  features(): readonly [number, number] {
    let lo = (1 << VIRTIO_BLK_F_SEG_MAX) | (1 << VIRTIO_BLK_F_BLK_SIZE) | (1 << VIRTIO_BLK_F_FLUSH) | (1 << VIRTIO_F_INDIRECT_DESC);
    if (this.cfg.eventIdx ?? true) lo |= 1 << VIRTIO_F_EVENT_IDX;
    if (this.cfg.readOnly) lo |= 1 << VIRTIO_BLK_F_RO;
    const hi = this.transport?.opts.kind === 'legacy' ? 0 : 1; // VIRTIO_F_VERSION_1 (bit 32)
    return [lo >>> 0, hi];
  }

  acceptFeatures(): boolean {
    return this.cfg.broken !== 'refuse-features';
  }

  driverOk(): void {
    if (this.cfg.broken === 'needs-reset') this.transport.needsReset('broken device: fails as soon as the driver is ready');
  }

  /** struct virtio_blk_config (§5.2.4), little-endian. */
  config(): Uint8Array {
    const b = new Uint8Array(VIRTIO_BLK_CONFIG_BYTES);
    const dv = new DataView(b.buffer);
    const cap = this.image.sectors;
    dv.setUint32(0, cap % 2 ** 32, true); // capacity
    dv.setUint32(4, Math.floor(cap / 2 ** 32), true);
    dv.setUint32(8, 0, true); // size_max (not offered)
    dv.setUint32(12, Math.max(1, this.queueSize - 2), true); // seg_max
    dv.setUint32(20, SECTOR_SIZE, true); // blk_size
    return b;
  }

  reset(): void {
    this.gen++;
    this.stats.dropped += this.inflight.size;
    this.inflight.clear();
  }

  /** Requests fetched and not completed. */
  get inFlight(): number {
    return this.inflight.size;
  }

  notify(q: number): void {
    const t = this.transport;
    if (q !== 0) {
      t.violation('notify-disabled-queue', `queue ${q} (the block device has one request queue)`);
      return;
    }
    const vq = t.queue(0)!;
    // Bounded: at most Queue Size chains can be pending.
    for (let guard = 0; guard <= vq.size; guard++) {
      const n = vq.pending();
      if (n === null) {
        t.violation('avail-idx-decremented', `avail idx ${vq.availIdx()}, device at ${vq.lastAvailIdx}`);
        t.needsReset('avail idx');
        return;
      }
      if (n === 0) break;
      if (vq.cfg.eventIdx && vq.availFlags() !== 0) t.violation('avail-flags-with-event-idx', `avail flags ${vq.availFlags()}`);
      const head = vq.takeHead();
      if (head >= vq.size) {
        t.violation('desc-index-out-of-range', `avail ring entry ${head} (Queue Size ${vq.size})`);
        t.needsReset('bad head');
        return;
      }
      const chain = vq.walkChain(head);
      if (!chain.ok) {
        t.violation(chain.violation, chain.detail);
        t.needsReset(chain.violation);
        return;
      }
      this.start(head, chain.descs, chain.segs, chain.readable, chain.writable);
      if (!t.live) return; // an injected reset
    }
    vq.setAvailEvent(vq.lastAvailIdx);
  }

  private start(head: number, descs: number[], segs: Segment[], readable: number, writable: number): void {
    const t = this.transport;
    const mem = this.host.mem;
    this.stats.requests++;
    if (writable < 1) {
      t.violation('blk-bad-request-framing', `chain ${head} has no device-writable status byte`);
      t.needsReset('no status byte');
      this.stats.dropped++; // taken and never completed
      return;
    }
    let status = VIRTIO_BLK_S_OK;
    let type = -1;
    let sector = 0;
    if (readable < VIRTIO_BLK_REQ_HEADER_BYTES) {
      t.violation('blk-bad-request-framing', `chain ${head} has ${readable} device-readable bytes, the header needs ${VIRTIO_BLK_REQ_HEADER_BYTES}`);
      status = VIRTIO_BLK_S_IOERR;
    } else {
      const h = gatherReadable(mem, segs, 0, VIRTIO_BLK_REQ_HEADER_BYTES);
      const dv = new DataView(h.buffer);
      type = dv.getUint32(0, true);
      sector = dv.getUint32(8, true) + dv.getUint32(12, true) * 2 ** 32;
    }
    let dataLen = 0;
    const cap = this.image.sectors;
    if (status === VIRTIO_BLK_S_OK) {
      switch (type) {
        case VIRTIO_BLK_T_IN:
        case VIRTIO_BLK_T_OUT: {
          dataLen = type === VIRTIO_BLK_T_IN ? writable - 1 : readable - VIRTIO_BLK_REQ_HEADER_BYTES;
          if (dataLen % SECTOR_SIZE !== 0) {
            t.violation('blk-data-not-sector-multiple', `${type === VIRTIO_BLK_T_IN ? 'IN' : 'OUT'} request ${head} with ${dataLen} data bytes`);
            status = VIRTIO_BLK_S_IOERR;
          } else if (sector + dataLen / SECTOR_SIZE > cap) {
            t.violation('blk-beyond-capacity', `sector ${sector} + ${dataLen / SECTOR_SIZE} > capacity ${cap}`);
            status = VIRTIO_BLK_S_IOERR;
          } else if (type === VIRTIO_BLK_T_OUT && this.cfg.readOnly) status = VIRTIO_BLK_S_IOERR; // §5.2.6.2
          if (type === VIRTIO_BLK_T_IN) this.stats.reads++;
          else this.stats.writes++;
          break;
        }
        case VIRTIO_BLK_T_FLUSH:
          this.stats.flushes++;
          if (sector !== 0) t.violation('blk-flush-sector-nonzero', `FLUSH request ${head} with sector ${sector}`);
          break;
        case VIRTIO_BLK_T_GET_ID:
          this.stats.getIds++;
          dataLen = writable - 1;
          if (dataLen !== VIRTIO_BLK_ID_BYTES) t.violation('blk-get-id-len', `GET_ID request ${head} with ${dataLen} data bytes`);
          break;
        default:
          this.stats.unsupported++;
          status = VIRTIO_BLK_S_UNSUPP;
      }
    }
    const data = type === VIRTIO_BLK_T_IN || type === VIRTIO_BLK_T_OUT || type === VIRTIO_BLK_T_FLUSH;
    if (status === VIRTIO_BLK_S_OK && data) {
      if (this.plan.reset && this.host.decide(Site.BlkReset, 2) !== 0) {
        this.stats.resetsInjected++;
        t.needsReset('injected device failure');
        this.stats.dropped++; // this request too: taken and never completed
        return;
      }
      if (this.plan.ioError && this.host.decide(Site.BlkIoError, 2) !== 0) {
        this.stats.ioErrorsInjected++;
        status = VIRTIO_BLK_S_IOERR;
      }
    }
    const req: Request = { head, descs, segs, type, sector, dataLen, writable, status, gen: this.gen, fetchedAt: this.host.now(), injected: status !== VIRTIO_BLK_S_OK };
    this.inflight.set(head, req);
    const when = this.completionTime(status === VIRTIO_BLK_S_OK ? dataLen : 0);
    this.host.hashDevice(VIRTIO_BLK_HASH + 0x10, head | (type << 16));
    this.host.at(when, () => this.complete(req));
  }

  /** When a request fetched now completes: media latency (a decision), a spike (a fault), then its data on the earliest free channel. */
  private completionTime(bytes: number): number {
    const tm = this.timing;
    const now = this.host.now();
    let latency = tm.latencyChoicesCycles[this.host.decide(Site.DeviceLatency, tm.latencyChoicesCycles.length)];
    if (this.plan.latencySpike && this.host.decide(Site.BlkLatencySpike, 2) !== 0) {
      this.stats.spikes++;
      latency += tm.spikeCycles;
    }
    let lane = 0;
    for (let i = 1; i < this.laneFree.length; i++) if (this.laneFree[i] < this.laneFree[lane]) lane = i;
    const start = Math.max(now + latency, this.laneFree[lane]);
    const done = start + Math.ceil(bytes / tm.bytesPerCycle);
    this.laneFree[lane] = done;
    return done;
  }

  private complete(req: Request): void {
    if (req.gen !== this.gen || this.poweredOff) return; // reset or powered off meanwhile
    const t = this.transport;
    const vq = t.queue(0);
    if (vq === null || !t.live) return;
    if (!t.dmaAllowed(`completion of request ${req.head}`)) return;
    const mem = this.host.mem;
    const status = req.status;
    if (status === VIRTIO_BLK_S_OK) {
      const n = req.dataLen / SECTOR_SIZE;
      if (req.type === VIRTIO_BLK_T_IN) {
        scatterWritable(mem, req.segs, 0, this.image.read(req.sector, n));
        this.stats.bytesRead += req.dataLen;
      } else if (req.type === VIRTIO_BLK_T_OUT) {
        const data = gatherReadable(mem, req.segs, VIRTIO_BLK_REQ_HEADER_BYTES, req.dataLen);
        this.writesPerformed++;
        if (this.plan.powerLossAtWrite > 0 && this.writesPerformed === this.plan.powerLossAtWrite) {
          this.powerFail(req, data);
          return;
        }
        this.image.write(req.sector, data);
        if (this.cfg.recordWrites) this.writeLog.push({ lba: req.sector, data });
        this.stats.bytesWritten += req.dataLen;
      } else if (req.type === VIRTIO_BLK_T_GET_ID) {
        const id = new Uint8Array(Math.min(VIRTIO_BLK_ID_BYTES, req.dataLen));
        const s = this.cfg.serial ?? 'rugo-virtio-blk';
        for (let i = 0; i < id.length && i < s.length; i++) id[i] = s.charCodeAt(i) & 0xff;
        scatterWritable(mem, req.segs, 0, id);
      }
    }
    scatterWritable(mem, req.segs, req.writable - 1, Uint8Array.of(status));
    this.inflight.delete(req.head);
    vq.release(req.descs);
    const old = vq.usedIdx;
    const problem = vq.pushUsed(req.head, req.writable);
    if (problem !== null) t.violation(problem.name, problem.detail);
    this.stats.completed++;
    const lat = this.host.now() - req.fetchedAt;
    this.stats.latencySumCycles += lat;
    if (lat > this.stats.latencyMaxCycles) this.stats.latencyMaxCycles = lat;
    if (this.latencies.length < 200_000) this.latencies.push(lat);
    this.host.hashDevice(VIRTIO_BLK_HASH + 0x11, req.head | (status << 16));
    if (vq.needsInterrupt(old)) t.raiseQueueInterrupt();
  }

  /** The doom counter reached zero: persist what a torn write leaves, then cut the power. */
  private powerFail(req: Request, data: Uint8Array): void {
    const n = req.dataLen / SECTOR_SIZE;
    let persisted = 0;
    let tornBytes = 0;
    if (this.plan.tornWrite) {
      persisted = n - 1;
      tornBytes = TORN_WRITE_BYTES[this.host.decide(Site.BlkTornWrite, TORN_WRITE_BYTES.length)];
      if (persisted > 0) this.image.write(req.sector, data.subarray(0, persisted * SECTOR_SIZE));
      const last = req.sector + persisted;
      const sectorBytes = this.image.read(last, 1);
      sectorBytes.set(data.subarray(persisted * SECTOR_SIZE, persisted * SECTOR_SIZE + tornBytes), 0);
      this.image.write(last, sectorBytes);
    }
    this.poweredOff = true;
    this.host.hashDevice(VIRTIO_BLK_HASH + 0x12, this.writesPerformed);
    this.host.powerLoss(`power lost at write ${this.writesPerformed} (sector ${req.sector}, ${n} sector(s)${this.plan.tornWrite ? `, torn: ${persisted} whole sector(s) and ${tornBytes} bytes of the last` : ', not written'})`);
  }

  /**
   * End-of-run audit (no completion and no interrupt lost): problems found,
   * or an empty list. Meaningful when the run ended normally (not at a
   * power loss).
   */
  audit(): string[] {
    const out: string[] = [];
    const t = this.transport;
    if (this.poweredOff) return out;
    if (t.live && this.inflight.size > 0) out.push(`${this.inflight.size} request(s) fetched and never completed`);
    if (t.isr !== 0) out.push(`ISR status 0x${t.isr.toString(16)} raised and never read (an interrupt nobody took)`);
    const vq = t.queue(0);
    if (vq !== null && t.live) {
      if (vq.pending() !== 0) out.push(`${vq.pending()} chain(s) made available and never fetched (a missed notification)`);
      if (vq.cfg.eventIdx && vq.usedEvent() !== vq.usedIdx) out.push(`used_event ${vq.usedEvent()} behind used idx ${vq.usedIdx}: completions the driver did not consume`);
    }
    for (const v of t.checker.violations) out.push(t.checker.describe(v));
    return out;
  }
}

/** Builds the device and plugs it into slot VIRTIO_BLK_SLOT of `bus` (INTA# to IOAPIC input VIRTIO_BLK_IRQ). */
export function attachVirtioBlk(bus: PciBus, cfg: BlkDeviceConfig, host: BlkHost): VirtioBlk {
  const blk = new VirtioBlk(host, cfg, bus.hasMmioWindow ? VIRTIO_BLK_MMIO_BASE : null);
  const fn = blk.transport;
  fn.intx = (level) => bus.setIntx(fn, level);
  bus.attach(VIRTIO_BLK_SLOT, fn, VIRTIO_BLK_IRQ);
  return blk;
}

// virtio-blk driver: PCI discovery, the straight-line initialization
// sequence, one split virtqueue, several requests in flight, completion by
// interrupt (INTx through the IOAPIC, level-triggered, acknowledged by
// reading the ISR status register), and the blk_read/blk_write syscalls.
// VIRTIO 1.2 §3.1.1 (initialization: reset, ACKNOWLEDGE, DRIVER, features,
// FEATURES_OK and re-read it, queues, DRIVER_OK; FAILED when a step fails),
// §2.7 (split virtqueues; used-buffer processing with used_event re-armed
// and idx re-checked, §2.7.14), §4.1.4 / §4.1.4.8 (modern capabilities or the
// legacy I/O BAR), §4.1.5.1.3 (legacy queue address in 4 KiB frames),
// §5.2.6 (struct virtio_blk_req: 3-descriptor chains header / data / status).
// The original Rugo polled the used ring; its authors knew of a
// missed-interrupt race. This driver sleeps on a per-request channel and
// checks `done` under the device lock (planted bug blk-missed-irq: it checks
// without the lock and then sleeps, so a completion in between is lost).
//
// Lock rules: dev.lock (an irqsave spinlock; the interrupt handler takes it)
// guards the virtqueue memory, the free-descriptor list, every request
// slot's busy/done/status/head, dev.dead and k.ioInFlight's blk share. Lock
// order: dev.lock before schedLock (sleep and wakeup) and before the
// console lock.
import { compute, load16, load32, load8, repStos, store16, store32, store8, inb, inl, inw, outb, outl, outw, type Code } from '../../sim/ops.ts';
import type { TrapFrame } from '../../sim/x86/cpu.ts';
import { PTE } from '../../sim/x86/mmu.ts';
import type { Kernel, Thread } from '../kstate.ts';
import { acquire, newSpinlock, release, type Spinlock } from '../sync/spinlock.ts';
import { sleep, wakeup } from '../sched/sched.ts';
import { kprint } from '../console.ts';
import { kassert } from '../kassert.ts';
import { mapPage } from '../mm/paging.ts';
import { ioapicRoute, IRQ_BASE } from '../arch/ioapic.ts';
import { lapicEoi } from '../arch/lapic.ts';
import { copyIn, copyOut, userRange } from '../proc/uaccess.ts';
import { ERR, SYS } from '../syscall/abi.ts';
import { writeU64 } from '../lib/mem.ts';
import { pciBar, pciCapabilities, pciEnable, pciRead32, pciRead8, pciScan, PCI_COMMAND_IO, PCI_COMMAND_MASTER, PCI_COMMAND_MEMORY, type PciDev } from './pci.ts';

// ---- the kernel's virtio definitions (VIRTIO 1.2) ----------------------------------

const VIRTIO_VENDOR = 0x1af4;
const VIRTIO_DEV_BLK_TRANSITIONAL = 0x1001;
const VIRTIO_DEV_BLK_MODERN = 0x1042;
const VIRTIO_ID_BLOCK = 2;

const VIRTIO_STATUS_ACKNOWLEDGE = 1;
const VIRTIO_STATUS_DRIVER = 2;
const VIRTIO_STATUS_DRIVER_OK = 4;
const VIRTIO_STATUS_FEATURES_OK = 8;
const VIRTIO_STATUS_DEVICE_NEEDS_RESET = 64;
const VIRTIO_STATUS_FAILED = 128;

const VIRTIO_BLK_F_RO = 5;
const VIRTIO_BLK_F_BLK_SIZE = 6;
const VIRTIO_F_EVENT_IDX = 29;
const VIRTIO_F_VERSION_1 = 32;

const VIRTIO_PCI_CAP_COMMON_CFG = 1;
const VIRTIO_PCI_CAP_NOTIFY_CFG = 2;
const VIRTIO_PCI_CAP_ISR_CFG = 3;
const VIRTIO_PCI_CAP_DEVICE_CFG = 4;
const PCI_CAP_ID_VNDR = 0x09;
const VIRTIO_PCI_ISR_QUEUE = 1;
const VIRTIO_PCI_ISR_CONFIG = 2;

// Legacy register block (I/O BAR 0).
const VIRTIO_PCI_HOST_FEATURES = 0x00;
const VIRTIO_PCI_GUEST_FEATURES = 0x04;
const VIRTIO_PCI_QUEUE_PFN = 0x08;
const VIRTIO_PCI_QUEUE_NUM = 0x0c;
const VIRTIO_PCI_QUEUE_SEL = 0x0e;
const VIRTIO_PCI_QUEUE_NOTIFY = 0x10;
const VIRTIO_PCI_STATUS = 0x12;
const VIRTIO_PCI_ISR = 0x13;
const VIRTIO_PCI_CONFIG_OFF = 0x14;
const VIRTIO_PCI_QUEUE_ADDR_SHIFT = 12;

// struct virtio_pci_common_cfg.
const CC = {
  device_feature_select: 0x00,
  device_feature: 0x04,
  driver_feature_select: 0x08,
  driver_feature: 0x0c,
  device_status: 0x14,
  queue_select: 0x16,
  queue_size: 0x18,
  queue_enable: 0x1c,
  queue_notify_off: 0x1e,
  queue_desc: 0x20,
  queue_driver: 0x28,
  queue_device: 0x30,
} as const;

const VIRTQ_DESC_F_NEXT = 1;
const VIRTQ_DESC_F_WRITE = 2;
const VIRTQ_USED_F_NO_NOTIFY = 1;
const QUEUE_ALIGN = 4096;

export const VIRTIO_BLK_T_IN = 0;
export const VIRTIO_BLK_T_OUT = 1;
export const VIRTIO_BLK_S_OK = 0;
export const VIRTIO_BLK_S_IOERR = 1;
const SECTOR = 512;

/** Largest transfer of one blk_read/blk_write (one bounce page). */
export const BLK_MAX_BYTES = 4096;
/** Requests in flight at once (each holds 3 descriptors and a bounce page). */
const MAX_SLOTS = 32;
/** Queue Size the driver asks for on the modern interface (legacy: the device's). */
const DRIVER_QUEUE_SIZE = 128;
const MAX_LEGACY_QUEUE_SIZE = 1024;

/** One request slot: its header + status bytes and its bounce page (DMA-able kernel memory). */
class BlkReq {
  busy = false;
  done = false;
  status = 0;
  head = -1;
  descs: number[] = [];
  readonly name: string;
  constructor(
    readonly index: number,
    readonly hdrPa: number,
    readonly bufPa: number,
  ) {
    this.name = `blk request ${index}`;
  }

  /** For the deadlock checker: a thread asleep on a completed request missed its wakeup. */
  lostWakeup(): string | null {
    return this.done && this.busy ? 'which already completed' : null;
  }
}

/** Driver state for the one virtio-blk device. */
export class BlkDev {
  legacy = false;
  ioBase = 0;
  commonVa = 0;
  isrVa = 0;
  deviceCfgVa = 0;
  /** Notification address of queue 0 (notifyBase + queue_notify_off * notifyMult). */
  notifyVa = 0;
  notifyBase = 0;
  notifyMult = 0;
  slot = 0;
  irq = 0;
  vector = 0;
  capacity = 0;
  readOnly = false;
  eventIdx = false;
  qsz = 0;
  /** Physical base of the queue memory (legacy layout: descriptors, avail ring, padding, used ring). */
  qPa = 0;
  usedOff = 0;
  /** Driver's shadow of avail idx, and the next used idx to consume. */
  availIdx = 0;
  lastUsed = 0;
  freeDescs: number[] = [];
  byHead: (BlkReq | null)[] = [];
  reqs: BlkReq[] = [];
  /** The device failed and could not be brought back: every request fails with EIO. */
  dead = false;
  /** Threads wait here for a free request slot (a free slot with sleepers is a lost wakeup). */
  readonly slotChan = { name: 'blk slots', lostWakeup: (): string | null => (this.reqs.some((r) => !r.busy) ? 'although a slot is free' : null) };
  lock!: Spinlock;
  readonly stats = { submitted: 0, completed: 0, irqs: 0, spurious: 0, resets: 0, failedByReset: 0, notifies: 0 };
  constructor(readonly k: Kernel) {}

  va(pa: number): number {
    return this.k.p2v(pa);
  }
  get descVa(): number {
    return this.va(this.qPa);
  }
  get availVa(): number {
    return this.va(this.qPa + 16 * this.qsz);
  }
  get usedVa(): number {
    return this.va(this.qPa + this.usedOff);
  }
}

// ---- register access (legacy ports or modern MMIO) -------------------------------------

function* getStatus(d: BlkDev): Code<number> {
  return d.legacy ? ((yield inb(d.ioBase + VIRTIO_PCI_STATUS)) as number) : ((yield load8(d.commonVa + CC.device_status)) as number);
}

function* setStatus(d: BlkDev, v: number): Code<void> {
  if (d.legacy) yield outb(d.ioBase + VIRTIO_PCI_STATUS, v);
  else yield store8(d.commonVa + CC.device_status, v);
}

/** Reads the ISR status register: acknowledges the interrupt and de-asserts INTx. */
function* readIsr(d: BlkDev): Code<number> {
  return d.legacy ? ((yield inb(d.ioBase + VIRTIO_PCI_ISR)) as number) : ((yield load8(d.isrVa)) as number);
}

function* notifyQueue(d: BlkDev): Code<void> {
  d.stats.notifies++;
  if (d.legacy) yield outw(d.ioBase + VIRTIO_PCI_QUEUE_NOTIFY, 0);
  else yield store16(d.notifyVa, 0);
}

function* cfgRead32(d: BlkDev, off: number): Code<number> {
  return d.legacy ? ((yield inl(d.ioBase + VIRTIO_PCI_CONFIG_OFF + off)) as number) : ((yield load32(d.deviceCfgVa + off)) as number);
}

// ---- discovery and initialization ---------------------------------------------------------

/** Finds the modern structures through the vendor capabilities; false when there are none. */
function* findModern(k: Kernel, d: BlkDev, pdev: PciDev): Code<boolean> {
  const caps: [number, number][] = yield pciCapabilities(pdev.slot);
  const where: Record<number, number> = {};
  let mult = 0;
  for (const [off, id] of caps) {
    if (id !== PCI_CAP_ID_VNDR) continue;
    const cfgType: number = yield pciRead8(pdev.slot, off + 3);
    if (cfgType < VIRTIO_PCI_CAP_COMMON_CFG || cfgType > VIRTIO_PCI_CAP_DEVICE_CFG || where[cfgType] !== undefined) continue;
    const bar: number = yield pciRead8(pdev.slot, off + 4);
    const offset: number = yield pciRead32(pdev.slot, off + 8);
    if (bar > 5) continue;
    const b: { io: boolean; addr: number } = yield pciBar(pdev.slot, bar);
    if (b.io || b.addr === 0) continue;
    where[cfgType] = b.addr + offset;
    if (cfgType === VIRTIO_PCI_CAP_NOTIFY_CFG) mult = yield pciRead32(pdev.slot, off + 16);
  }
  const common = where[VIRTIO_PCI_CAP_COMMON_CFG];
  const notify = where[VIRTIO_PCI_CAP_NOTIFY_CFG];
  const isr = where[VIRTIO_PCI_CAP_ISR_CFG];
  const dev = where[VIRTIO_PCI_CAP_DEVICE_CFG];
  if (common === undefined || notify === undefined || isr === undefined || dev === undefined) return false;
  // Map every page the structures touch, uncached, in the kernel's tables (the HHDM covers RAM only).
  const pages = new Set<number>();
  for (const pa of [common, notify, isr, dev]) pages.add(pa - (pa % 4096));
  for (const page of pages) {
    const ok: boolean = yield mapPage(k, k.kernelPml4, k.p2v(page), page, PTE.RW | PTE.PCD | PTE.PWT | PTE.G, true);
    if (!ok) return false;
  }
  d.commonVa = k.p2v(common);
  d.isrVa = k.p2v(isr);
  d.deviceCfgVa = k.p2v(dev);
  d.notifyBase = k.p2v(notify); // queue_notify_off * notify_off_multiplier is added in bringUp
  d.notifyMult = mult;
  return true;
}

/** Allocates `n` physically contiguous zeroed frames (legacy queues need them); -1 if the allocator cannot. */
function* allocContiguous(k: Kernel, n: number): Code<number> {
  yield acquire(k, k.pmmLock);
  const got: number[] = [];
  for (let i = 0; i < n; i++) {
    const pa = k.pmm.alloc();
    if (pa < 0) break;
    got.push(pa);
  }
  const ok = got.length === n && got.every((pa, i) => pa === got[0] + i * 4096);
  if (!ok) for (const pa of got) k.pmm.free(pa);
  yield release(k, k.pmmLock);
  if (!ok) return -1;
  yield compute(40 * n);
  yield repStos(k.p2v(got[0]), n * 4096, 0);
  return got[0];
}

function* allocFrameZeroed(k: Kernel): Code<number> {
  return yield allocContiguous(k, 1);
}

/**
 * The straight-line sequence (§3.1.1): reset, ACKNOWLEDGE, DRIVER, features,
 * FEATURES_OK (re-read), queue 0, DRIVER_OK (re-read). On the first call it
 * also allocates the queue memory and the request slots. Returns an error
 * message, or null when the device is live. Runs with dev.lock held on
 * recovery (no sleeping here).
 */
function* bringUp(k: Kernel, d: BlkDev, first: boolean): Code<string | null> {
  yield setStatus(d, 0);
  let st = 0xff;
  for (let i = 0; i < 100 && st !== 0; i++) st = yield getStatus(d);
  if (st !== 0) return 'device did not reset';
  yield setStatus(d, VIRTIO_STATUS_ACKNOWLEDGE);
  yield setStatus(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
  let status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
  // Features: accept only what this driver uses.
  const wantLo = (1 << VIRTIO_BLK_F_RO) | (1 << VIRTIO_BLK_F_BLK_SIZE) | (1 << VIRTIO_F_EVENT_IDX);
  if (d.legacy) {
    const lo: number = yield inl(d.ioBase + VIRTIO_PCI_HOST_FEATURES);
    const acc = (lo & wantLo) >>> 0;
    yield outl(d.ioBase + VIRTIO_PCI_GUEST_FEATURES, acc);
    d.eventIdx = (acc & (1 << VIRTIO_F_EVENT_IDX)) !== 0;
    d.readOnly = (acc & (1 << VIRTIO_BLK_F_RO)) !== 0;
  } else {
    yield store32(d.commonVa + CC.device_feature_select, 0);
    const lo: number = yield load32(d.commonVa + CC.device_feature);
    yield store32(d.commonVa + CC.device_feature_select, 1);
    const hi: number = yield load32(d.commonVa + CC.device_feature);
    if ((hi & (1 << (VIRTIO_F_VERSION_1 - 32))) === 0) return yield fail(d, status, 'device does not offer VIRTIO_F_VERSION_1');
    const acc = (lo & wantLo) >>> 0;
    yield store32(d.commonVa + CC.driver_feature_select, 0);
    yield store32(d.commonVa + CC.driver_feature, acc);
    yield store32(d.commonVa + CC.driver_feature_select, 1);
    yield store32(d.commonVa + CC.driver_feature, 1 << (VIRTIO_F_VERSION_1 - 32));
    d.eventIdx = (acc & (1 << VIRTIO_F_EVENT_IDX)) !== 0;
    d.readOnly = (acc & (1 << VIRTIO_BLK_F_RO)) !== 0;
    status |= VIRTIO_STATUS_FEATURES_OK;
    yield setStatus(d, status);
    const back: number = yield getStatus(d);
    if ((back & VIRTIO_STATUS_FEATURES_OK) === 0) return yield fail(d, status, 'device refused the features (FEATURES_OK did not stick)');
  }
  // Queue 0.
  let qsz: number;
  if (d.legacy) {
    yield outw(d.ioBase + VIRTIO_PCI_QUEUE_SEL, 0);
    qsz = yield inw(d.ioBase + VIRTIO_PCI_QUEUE_NUM);
    if (qsz === 0) return yield fail(d, status, 'queue 0 has size 0');
    if ((qsz & (qsz - 1)) !== 0 || qsz > MAX_LEGACY_QUEUE_SIZE || qsz < 4) return yield fail(d, status, `queue 0 has an unusable size ${qsz}`);
  } else {
    yield store16(d.commonVa + CC.queue_select, 0);
    const max: number = yield load16(d.commonVa + CC.queue_size);
    if (max === 0) return yield fail(d, status, 'queue 0 has size 0');
    qsz = Math.min(max, DRIVER_QUEUE_SIZE);
    if ((qsz & (qsz - 1)) !== 0 || qsz < 4) return yield fail(d, status, `queue 0 has an unusable size ${max}`);
  }
  if (first) {
    const err: string | null = yield allocate(k, d, qsz);
    if (err !== null) return yield fail(d, status, err);
  } else {
    if (qsz !== d.qsz) return yield fail(d, status, `queue size changed from ${d.qsz} to ${qsz}`);
    yield repStos(d.descVa, d.usedOff + alignUp(6 + 8 * qsz, QUEUE_ALIGN), 0);
  }
  d.availIdx = 0;
  d.lastUsed = 0;
  d.freeDescs = [];
  for (let i = qsz - 1; i >= 0; i--) d.freeDescs.push(i);
  d.byHead = new Array(qsz).fill(null);
  if (d.legacy) {
    yield outl(d.ioBase + VIRTIO_PCI_QUEUE_PFN, d.qPa / 2 ** VIRTIO_PCI_QUEUE_ADDR_SHIFT);
  } else {
    yield store16(d.commonVa + CC.queue_size, qsz);
    yield writeU64(d.commonVa + CC.queue_desc, d.qPa);
    yield writeU64(d.commonVa + CC.queue_driver, d.qPa + 16 * qsz);
    yield writeU64(d.commonVa + CC.queue_device, d.qPa + d.usedOff);
    const off: number = yield load16(d.commonVa + CC.queue_notify_off);
    d.notifyVa = d.notifyBase + off * d.notifyMult;
    yield store16(d.commonVa + CC.queue_enable, 1);
  }
  // Capacity (struct virtio_blk_config.capacity, 512-byte sectors).
  const capLo: number = yield cfgRead32(d, 0);
  const capHi: number = yield cfgRead32(d, 4);
  d.capacity = capHi * 2 ** 32 + capLo;
  status |= VIRTIO_STATUS_DRIVER_OK;
  yield setStatus(d, status);
  const back: number = yield getStatus(d);
  if ((back & (VIRTIO_STATUS_DEVICE_NEEDS_RESET | VIRTIO_STATUS_FAILED)) !== 0 || (back & VIRTIO_STATUS_DRIVER_OK) === 0) return yield fail(d, status, `device status 0x${back.toString(16)} after DRIVER_OK`);
  return null;
}

/** Sets FAILED (§3.1.1: "the driver SHOULD set the FAILED status bit") and returns `why`. */
function* fail(d: BlkDev, status: number, why: string): Code<string> {
  yield setStatus(d, status | VIRTIO_STATUS_FAILED);
  return why;
}

function alignUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

/** Queue memory (legacy layout, physically contiguous) and the request slots. */
function* allocate(k: Kernel, d: BlkDev, qsz: number): Code<string | null> {
  d.qsz = qsz;
  d.usedOff = alignUp(16 * qsz + 2 * (3 + qsz), QUEUE_ALIGN);
  const bytes = d.usedOff + alignUp(6 + 8 * qsz, QUEUE_ALIGN);
  const qPa: number = yield allocContiguous(k, bytes / 4096);
  if (qPa < 0) return `no ${bytes / 4096} contiguous frames for the virtqueue`;
  d.qPa = qPa;
  const slots = Math.min(MAX_SLOTS, Math.floor(qsz / 3));
  const hdrs: number = yield allocFrameZeroed(k);
  if (hdrs < 0) return 'out of memory for request headers';
  for (let i = 0; i < slots; i++) {
    const buf: number = yield allocFrameZeroed(k);
    if (buf < 0) return 'out of memory for bounce buffers';
    d.reqs.push(new BlkReq(i, hdrs + 32 * i, buf));
  }
  return null;
}

/** kmain's hook (kernel option blk=auto|legacy|modern): find the device, bring it up, route its interrupt, install the syscalls. */
export function* blkInit(k: Kernel): Code<void> {
  const mode = k.opts.values.get('blk') ?? 'auto';
  const want = mode === 'on' ? 'auto' : mode;
  if (want !== 'auto' && want !== 'legacy' && want !== 'modern') {
    yield kprint(k, `BLK: init failed (unknown blk=${mode}; use auto, legacy or modern)\n`);
    return;
  }
  const devs: PciDev[] = yield pciScan();
  const pdev = devs.find((x) => x.vendor === VIRTIO_VENDOR && ((x.device === VIRTIO_DEV_BLK_TRANSITIONAL && x.subsystem === VIRTIO_ID_BLOCK) || x.device === VIRTIO_DEV_BLK_MODERN));
  if (pdev === undefined) {
    yield kprint(k, 'BLK: init failed (no virtio-blk device on PCI bus 0)\n');
    return;
  }
  yield kprint(k, `BLK: found virtio-blk ${hex4(pdev.vendor)}:${hex4(pdev.device)} at 00:${pdev.slot.toString(16).padStart(2, '0')}.0 irq ${pdev.irqLine}\n`);
  const d = new BlkDev(k);
  d.slot = pdev.slot;
  d.lock = yield newSpinlock(k, 'blk');
  const modern: boolean = want === 'legacy' ? false : yield findModern(k, d, pdev);
  if (!modern) {
    if (want === 'modern') return yield initFailed(k, 'no modern virtio capabilities');
    const bar0: { io: boolean; addr: number } = yield pciBar(pdev.slot, 0);
    if (!bar0.io || bar0.addr === 0) return yield initFailed(k, 'no legacy I/O BAR 0');
    d.legacy = true;
    d.ioBase = bar0.addr;
  }
  yield pciEnable(pdev.slot, PCI_COMMAND_MASTER | (d.legacy ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY));
  if (pdev.irqPin === 0 || pdev.irqLine === 0 || pdev.irqLine >= 16) return yield initFailed(k, `interrupt line ${pdev.irqLine} pin ${pdev.irqPin} is not routable`);
  d.irq = pdev.irqLine;
  d.vector = IRQ_BASE + d.irq;
  // The handler is in place before the device can interrupt.
  k.irqHandlers.set(d.vector, (kk: Kernel, tf: TrapFrame) => blkInterrupt(kk, d, tf));
  yield ioapicRoute(k, d.irq, k.cpus[0].lapicId, false, true);
  const err: string | null = yield bringUp(k, d, true);
  if (err !== null) {
    yield ioapicRoute(k, d.irq, k.cpus[0].lapicId, true, true);
    k.irqHandlers.delete(d.vector);
    return yield initFailed(k, err);
  }
  k.blkSyscall = (kk: Kernel, t: Thread, num: number, a: number, b: number, c: number) => blkSyscall(kk, d, t, num, a, b, c);
  yield kprint(k, `BLK: ready ${d.capacity} sectors, ${d.legacy ? 'legacy' : 'modern'} interface, queue ${d.qsz}, ${d.reqs.length} slots${d.eventIdx ? ', event idx' : ''}${d.readOnly ? ', read-only' : ''}\n`);
}

function* initFailed(k: Kernel, why: string): Code<void> {
  yield kprint(k, `BLK: init failed (${why})\n`);
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}

// ---- requests ---------------------------------------------------------------------------------

/** Takes a free request slot, sleeping while all are busy; null when the device is dead. */
function* getSlot(k: Kernel, d: BlkDev): Code<BlkReq | null> {
  yield acquire(k, d.lock);
  let got: BlkReq | null = null;
  for (;;) {
    if (d.dead) break;
    got = d.reqs.find((r) => !r.busy) ?? null;
    if (got !== null) break;
    yield sleep(k, d.slotChan, d.lock);
  }
  if (got !== null) got.busy = true;
  yield release(k, d.lock);
  return got;
}

function* putSlot(k: Kernel, d: BlkDev, r: BlkReq): Code<void> {
  yield acquire(k, d.lock);
  r.busy = false;
  yield wakeup(k, d.slotChan);
  yield release(k, d.lock);
}

/** Writes descriptor `i`: addr, len, flags, next (struct virtq_desc). */
function* writeDesc(d: BlkDev, i: number, pa: number, len: number, flags: number, next: number): Code<void> {
  const va = d.descVa + 16 * i;
  yield writeU64(va, pa);
  yield store32(va + 8, len);
  yield store16(va + 12, flags);
  yield store16(va + 14, next);
}

/**
 * Submits slot `r` as a 3-descriptor chain (header, data, status), then
 * sleeps until the interrupt handler marks it done; returns the
 * virtio_blk_req status (VIRTIO_BLK_S_IOERR when the device failed).
 */
function* submitAndWait(k: Kernel, d: BlkDev, r: BlkReq, type: number, lba: number, len: number): Code<number> {
  const hdr = d.va(r.hdrPa);
  yield store32(hdr, type);
  yield store32(hdr + 4, 0);
  yield writeU64(hdr + 8, lba);
  yield store8(hdr + 16, 0xff); // status: the device must overwrite it
  yield acquire(k, d.lock);
  if (d.dead) {
    yield release(k, d.lock);
    return VIRTIO_BLK_S_IOERR;
  }
  if (d.freeDescs.length < 3) yield kassert('sched-invariant', `blk: ${d.freeDescs.length} free descriptors for a request slot`);
  const d0 = d.freeDescs.pop()!;
  const d1 = d.freeDescs.pop()!;
  const d2 = d.freeDescs.pop()!;
  yield writeDesc(d, d0, r.hdrPa, 16, VIRTQ_DESC_F_NEXT, d1);
  yield writeDesc(d, d1, r.bufPa, len, VIRTQ_DESC_F_NEXT | (type === VIRTIO_BLK_T_IN ? VIRTQ_DESC_F_WRITE : 0), d2);
  yield writeDesc(d, d2, r.hdrPa + 16, 1, VIRTQ_DESC_F_WRITE, 0);
  r.head = d0;
  r.descs = [d0, d1, d2];
  r.done = false;
  r.status = 0xff;
  d.byHead[d0] = r;
  const old = d.availIdx;
  yield store16(d.availVa + 4 + 2 * (old % d.qsz), d0);
  d.availIdx = (old + 1) & 0xffff;
  yield store16(d.availVa + 2, d.availIdx); // publishes the chain (ops are sequentially consistent: the barrier)
  k.ioInFlight++;
  d.stats.submitted++;
  let kick: boolean;
  if (d.eventIdx) {
    const availEvent: number = yield load16(d.usedVa + 4 + 8 * d.qsz);
    kick = ((d.availIdx - availEvent - 1) & 0xffff) < ((d.availIdx - old) & 0xffff);
  } else kick = (((yield load16(d.usedVa)) as number) & VIRTQ_USED_F_NO_NOTIFY) === 0;
  if (kick) yield notifyQueue(d);
  if (k.bug === 'blk-missed-irq') {
    // PLANTED BUG: check-then-sleep without the lock. A completion that
    // lands between the check and the sleep wakes nobody, and this thread
    // sleeps forever (the original Rugo's missed-interrupt race).
    yield release(k, d.lock);
    while (!r.done) {
      yield compute(20); // account the wait
      yield sleep(k, r, null);
    }
    yield acquire(k, d.lock);
  } else {
    while (!r.done) yield sleep(k, r, d.lock);
  }
  const status = r.status;
  yield release(k, d.lock);
  return status;
}

/** Marks the request whose chain starts at `id` complete (dev.lock held). */
function* completeHead(k: Kernel, d: BlkDev, id: number): Code<void> {
  const r = id < d.byHead.length ? d.byHead[id] : null;
  if (r === null) return yield kassert('data-integrity', `blk: used ring returned chain ${id}, which is not in flight`);
  r.status = yield load8(d.va(r.hdrPa + 16));
  d.byHead[id] = null;
  for (let i = r.descs.length - 1; i >= 0; i--) d.freeDescs.push(r.descs[i]);
  r.descs = [];
  r.head = -1;
  r.done = true;
  k.ioInFlight--;
  d.stats.completed++;
  yield wakeup(k, r);
}

/** Consumes the used ring; with EVENT_IDX re-arms used_event and re-checks idx (§2.7.14). Returns entries consumed. */
function* drainUsed(k: Kernel, d: BlkDev): Code<number> {
  let n = 0;
  for (let round = 0; round < 8; round++) {
    for (let i = 0; i <= d.qsz; i++) {
      const idx: number = yield load16(d.usedVa + 2);
      if (idx === d.lastUsed) break;
      const id: number = yield load32(d.usedVa + 4 + 8 * (d.lastUsed % d.qsz));
      yield completeHead(k, d, id);
      d.lastUsed = (d.lastUsed + 1) & 0xffff;
      n++;
    }
    if (!d.eventIdx) break;
    yield store16(d.availVa + 4 + 2 * d.qsz, d.lastUsed); // used_event
    const again: number = yield load16(d.usedVa + 2);
    if (again === d.lastUsed) break;
  }
  return n;
}

/** The device's interrupt (INTx, level): read ISR (ack), consume completions, recover from DEVICE_NEEDS_RESET, EOI. */
function* blkInterrupt(k: Kernel, d: BlkDev, _tf: TrapFrame): Code<void> {
  const isr: number = yield readIsr(d);
  d.stats.irqs++;
  yield acquire(k, d.lock);
  let n = 0;
  if (!d.dead) n = yield drainUsed(k, d);
  if ((isr & VIRTIO_PCI_ISR_CONFIG) !== 0 && !d.dead) {
    const st: number = yield getStatus(d);
    if ((st & VIRTIO_STATUS_DEVICE_NEEDS_RESET) !== 0) yield recover(k, d);
  }
  if (n === 0 && (isr & (VIRTIO_PCI_ISR_QUEUE | VIRTIO_PCI_ISR_CONFIG)) === 0) d.stats.spurious++;
  yield release(k, d.lock);
  yield lapicEoi(k);
}

/** DEVICE_NEEDS_RESET: fail every request in flight with IOERR, reset and re-initialize (dev.lock held). */
function* recover(k: Kernel, d: BlkDev): Code<void> {
  d.stats.resets++;
  let failed = 0;
  for (const r of d.reqs) {
    if (r.head < 0) continue;
    d.byHead[r.head] = null;
    r.head = -1;
    r.descs = [];
    r.status = VIRTIO_BLK_S_IOERR;
    r.done = true;
    k.ioInFlight--;
    failed++;
    yield wakeup(k, r);
  }
  d.stats.failedByReset += failed;
  const err: string | null = yield bringUp(k, d, false);
  if (err !== null) {
    d.dead = true;
    yield wakeup(k, d.slotChan);
    yield kprint(k, `BLK: device failed (${err}); block I/O now returns EIO\n`);
  } else yield kprint(k, `BLK: device reset, ${failed} request(s) failed with EIO\n`);
}

// ---- the syscalls ---------------------------------------------------------------------------------

/** blk_read(lba, buf, len) and blk_write(lba, buf, len): len a multiple of 512 up to 4096, LBA range within capacity, buf a user pointer. Returns len or a negative ERR. */
function* blkSyscall(k: Kernel, d: BlkDev, _t: Thread, num: number, lba: number, buf: number, len: number): Code<number> {
  if (!Number.isSafeInteger(len) || len <= 0 || len % SECTOR !== 0 || len > BLK_MAX_BYTES) return ERR.EINVAL;
  if (!Number.isSafeInteger(lba) || lba < 0 || lba + len / SECTOR > d.capacity) return ERR.EINVAL;
  if (!userRange(buf, len)) return ERR.EFAULT;
  const write = num === SYS.blk_write;
  if (write && d.readOnly) return ERR.EIO;
  const r: BlkReq | null = yield getSlot(k, d);
  if (r === null) return ERR.EIO;
  let result = len;
  if (write) {
    const e: number = yield copyIn(k, d.va(r.bufPa), buf, len);
    if (e < 0) result = e;
  }
  if (result >= 0) {
    const status: number = yield submitAndWait(k, d, r, write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, lba, len);
    if (status !== VIRTIO_BLK_S_OK) result = ERR.EIO;
    else if (!write) {
      const e: number = yield copyOut(k, buf, d.va(r.bufPa), len);
      if (e < 0) result = e;
    }
  }
  yield putSlot(k, d, r);
  return result;
}

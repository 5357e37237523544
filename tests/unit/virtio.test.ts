// Unit tests of the virtio-blk device side (issue 7): virtqueue layout
// offsets and sizes against VIRTIO 1.2 §2.7's formulas, bounded descriptor
// chain walking, PCI configuration space (mechanism #1, BAR sizing,
// capabilities), the legacy and the modern transport exposing the same
// device, the block request semantics (§5.2.6), the contract checker's
// named violations, the fault plan and the disk image.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PhysicalMemory } from '../../sim/memory.ts';
import {
  AVAIL,
  DeviceVirtqueue,
  USED,
  VIRTQ_ALIGN,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  VIOLATIONS,
  legacyVirtqLayout,
  virtqAvailBytes,
  virtqDescBytes,
  virtqUsedBytes,
  vringNeedEvent,
  checkQueuePlacement,
} from '../../sim/virtio/virtqueue.ts';
import { PCI_BAR0, PCI_CAPABILITY_LIST, PCI_COMMAND, PCI_COMMAND_INTX_DISABLE, PCI_COMMAND_MASTER, PCI_INTERRUPT_LINE, PCI_INTERRUPT_PIN, PCI_STATUS, PCI_STATUS_INTERRUPT } from '../../sim/pci.ts';
import {
  CAP_OFFSETS,
  COMMON_CFG,
  MODERN_LAYOUT,
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_INDIRECT_DESC,
  VIRTIO_PCI_CAP_COMMON_CFG,
  VIRTIO_PCI_CAP_DEVICE_CFG,
  VIRTIO_PCI_CAP_ISR_CFG,
  VIRTIO_PCI_CAP_NOTIFY_CFG,
  VIRTIO_PCI_CAP_PCI_CFG,
  VIRTIO_PCI_ISR_CONFIG,
  VIRTIO_PCI_ISR_QUEUE,
  VIRTIO_PCI_STATUS,
  VIRTIO_STATUS_ACKNOWLEDGE,
  VIRTIO_STATUS_DEVICE_NEEDS_RESET,
  VIRTIO_STATUS_DRIVER,
  VIRTIO_STATUS_DRIVER_OK,
  VIRTIO_STATUS_FEATURES_OK,
} from '../../sim/virtio/pci-transport.ts';
import {
  faultPlan,
  TORN_WRITE_BYTES,
  VIRTIO_BLK_IRQ,
  VIRTIO_BLK_S_IOERR,
  VIRTIO_BLK_S_OK,
  VIRTIO_BLK_S_UNSUPP,
  VIRTIO_BLK_SLOT,
  VIRTIO_BLK_T_FLUSH,
  VIRTIO_BLK_T_GET_ID,
  VIRTIO_BLK_T_IN,
  VIRTIO_BLK_T_OUT,
} from '../../sim/virtio/blk.ts';
import { createDisk, diskFromBytes, patternWord, SECTOR_SIZE } from '../../sim/virtio/disk.ts';
import { Site } from '../../sim/decisions.ts';
import { AREA, Rig, TestDriver } from './virtio-rig.ts';
import { parseScenario } from '../../scenarios/scenario.ts';

const EVENT_IDX = 1 << VIRTIO_F_EVENT_IDX;

describe('split virtqueue layout (§2.7)', () => {
  it('sizes follow the spec table: 16*qsz, 6+2*qsz, 6+8*qsz; alignments 16, 2, 4', () => {
    for (let q = 1; q <= 32768; q *= 2) {
      expect(virtqDescBytes(q)).toBe(16 * q);
      expect(virtqAvailBytes(q)).toBe(6 + 2 * q);
      expect(virtqUsedBytes(q)).toBe(6 + 8 * q);
      // used_event is the last u16 of the available ring, avail_event the last of the used ring.
      expect(AVAIL.usedEvent(q) + 2).toBe(virtqAvailBytes(q));
      expect(USED.availEvent(q) + 2).toBe(virtqUsedBytes(q));
    }
    expect(VIRTQ_ALIGN).toEqual({ desc: 16, avail: 2, used: 4 });
    expect([AVAIL.flags, AVAIL.idx, AVAIL.ring, USED.flags, USED.idx, USED.ring]).toEqual([0, 2, 4, 0, 2, 4]);
  });

  it('the legacy layout is virtq_size(qsz) = ALIGN(16*qsz + 2*(3+qsz)) + ALIGN(2*3 + 8*qsz) with Queue Align 4096 (§2.7.2)', () => {
    const align = (x: number): number => Math.ceil(x / 4096) * 4096;
    for (let q = 1; q <= 32768; q *= 2) {
      const l = legacyVirtqLayout(q);
      expect(l.desc).toBe(0);
      expect(l.avail).toBe(16 * q);
      expect(l.used).toBe(align(16 * q + 2 * (3 + q)));
      expect(l.size).toBe(align(16 * q + 2 * (3 + q)) + align(2 * 3 + 8 * q));
      expect(l.used % 4096).toBe(0);
      expect(l.avail + virtqAvailBytes(q)).toBeLessThanOrEqual(l.used);
    }
    // Worked values: QEMU's legacy virtio-blk (256) and this device's default (128).
    expect(legacyVirtqLayout(256)).toEqual({ desc: 0, avail: 4096, used: 8192, size: 12288 });
    expect(legacyVirtqLayout(128)).toEqual({ desc: 0, avail: 2048, used: 4096, size: 8192 });
  });

  it('vring_need_event crosses event_idx exactly once, with 16-bit wraparound', () => {
    expect(vringNeedEvent(0, 1, 0)).toBe(true);
    expect(vringNeedEvent(1, 1, 0)).toBe(false);
    expect(vringNeedEvent(5, 10, 3)).toBe(true);
    expect(vringNeedEvent(10, 10, 3)).toBe(false);
    expect(vringNeedEvent(0xffff, 0, 0xfffe)).toBe(true);
    expect(vringNeedEvent(2, 0, 0xfffe)).toBe(false);
  });

  it('placement is checked: misaligned or outside RAM', () => {
    const mem = new PhysicalMemory(1 << 20);
    const ok = { size: 8, descPa: 0x1000, availPa: 0x1080, usedPa: 0x2000, eventIdx: false, indirect: false };
    expect(checkQueuePlacement(mem, ok)).toBeNull();
    expect(checkQueuePlacement(mem, { ...ok, descPa: 0x1008 })?.name).toBe('ring-misaligned');
    expect(checkQueuePlacement(mem, { ...ok, usedPa: 0x2002 })?.name).toBe('ring-misaligned');
    expect(checkQueuePlacement(mem, { ...ok, usedPa: (1 << 20) - 8 })?.name).toBe('ring-out-of-range');
  });
});

describe('descriptor chain walking is bounded and validated (§2.7.5)', () => {
  const Q = 8;
  function vq(opts: { indirect?: boolean } = {}): { mem: PhysicalMemory; q: DeviceVirtqueue; desc: (i: number, addr: number, len: number, flags: number, next: number, table?: number) => void } {
    const mem = new PhysicalMemory(1 << 20);
    const q = new DeviceVirtqueue(mem, { size: Q, descPa: 0x1000, availPa: 0x2000, usedPa: 0x3000, eventIdx: false, indirect: opts.indirect ?? false });
    const desc = (i: number, addr: number, len: number, flags: number, next: number, table = 0x1000): void => {
      const d = table + 16 * i;
      mem.write32(d, addr);
      mem.write32(d + 4, 0);
      mem.write32(d + 8, len);
      mem.write16(d + 12, flags);
      mem.write16(d + 14, next);
    };
    return { mem, q, desc };
  }

  it('a loop stops after Queue Size descriptors with chain-too-long', () => {
    const { q, desc } = vq();
    desc(0, 0x8000, 16, VIRTQ_DESC_F_NEXT, 1);
    desc(1, 0x8100, 16, VIRTQ_DESC_F_NEXT, 0);
    const r = q.walkChain(0);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.violation).toBe('chain-too-long');
    // A self-loop too.
    desc(3, 0x8000, 16, VIRTQ_DESC_F_NEXT, 3);
    const s = q.walkChain(3);
    expect(!s.ok && s.violation).toBe('chain-too-long');
  });

  it('a chain of exactly Queue Size descriptors is fine; its descriptors are held until released', () => {
    const { q, desc } = vq();
    for (let i = 0; i < Q; i++) desc(i, 0x8000 + 0x100 * i, 64, (i < Q - 1 ? VIRTQ_DESC_F_NEXT : 0) | (i >= 4 ? VIRTQ_DESC_F_WRITE : 0), i + 1);
    const r = q.walkChain(0);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.segs).toHaveLength(Q);
      expect(r.readable).toBe(4 * 64);
      expect(r.writable).toBe(4 * 64);
      // Reusing any of its descriptors while held is reported.
      const again = q.walkChain(5);
      expect(!again.ok && again.violation).toBe('desc-in-use');
      q.release(r.descs);
      expect(q.walkChain(5).ok).toBe(true);
    }
  });

  it('bad indices, addresses and orders are named violations', () => {
    const { q, desc } = vq();
    desc(0, 0x8000, 16, VIRTQ_DESC_F_NEXT, 9);
    expect((q.walkChain(0) as { violation: string }).violation).toBe('desc-index-out-of-range');
    expect((q.walkChain(8) as { violation: string }).violation).toBe('desc-index-out-of-range');
    desc(1, (1 << 20) - 8, 16, 0, 0);
    expect((q.walkChain(1) as { violation: string }).violation).toBe('desc-addr-out-of-range');
    desc(2, 0x8000, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 3);
    desc(3, 0x8100, 16, 0, 0);
    expect((q.walkChain(2) as { violation: string }).violation).toBe('writable-before-readable');
  });

  it('indirect tables: only when negotiated, never nested, never with NEXT, len a multiple of 16, and bounded', () => {
    const off = vq({ indirect: false });
    off.desc(0, 0x9000, 32, VIRTQ_DESC_F_INDIRECT, 0);
    expect((off.q.walkChain(0) as { violation: string }).violation).toBe('indirect-not-negotiated');

    const { q, desc } = vq({ indirect: true });
    // A head descriptor, then an indirect table of 3 entries (header, data, status).
    desc(0, 0x8000, 16, VIRTQ_DESC_F_NEXT, 1);
    desc(1, 0x9000, 48, VIRTQ_DESC_F_INDIRECT, 0);
    desc(0, 0xa000, 16, VIRTQ_DESC_F_NEXT, 1, 0x9000);
    desc(1, 0xa100, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2, 0x9000);
    desc(2, 0xa400, 1, VIRTQ_DESC_F_WRITE, 0, 0x9000);
    const r = q.walkChain(0);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.segs.map((s) => s.len)).toEqual([16, 16, 512, 1]);
      expect(r.descs).toEqual([0, 1]); // only the ring's own descriptors are held
      q.release(r.descs);
    }
    // A loop inside the indirect table is bounded by its entry count.
    desc(2, 0xa400, 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0, 0x9000);
    expect((q.walkChain(1) as { violation: string }).violation).toBe('chain-too-long');
    desc(0, 0x9100, 16, VIRTQ_DESC_F_INDIRECT, 0, 0x9000);
    expect((q.walkChain(1) as { violation: string }).violation).toBe('indirect-in-indirect');
    desc(3, 0x9000, 48, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 4);
    expect((q.walkChain(3) as { violation: string }).violation).toBe('indirect-with-next');
    desc(4, 0x9000, 40, VIRTQ_DESC_F_INDIRECT, 0);
    expect((q.walkChain(4) as { violation: string }).violation).toBe('indirect-bad-len');
  });

  it('every violation name has its spec rule', () => {
    for (const [name, rule] of Object.entries(VIOLATIONS)) expect(rule, name).toMatch(/§/);
  });
});

describe('PCI configuration space (PCI 3.0 §6)', () => {
  it('mechanism #1 finds the host bridge and the virtio function; an empty slot reads all ones', () => {
    const r = new Rig();
    expect(r.cfgRead(0, 0, 4)).toBe((0x29c0 << 16) | 0x8086);
    expect(r.cfgRead(VIRTIO_BLK_SLOT, 0, 2)).toBe(0x1af4);
    expect(r.cfgRead(VIRTIO_BLK_SLOT, 2, 2)).toBe(0x1001);
    expect(r.cfgRead(VIRTIO_BLK_SLOT, 0x2e, 2)).toBe(2); // subsystem ID = virtio device type (transitional)
    expect(r.cfgRead(VIRTIO_BLK_SLOT, 8, 1)).toBe(0); // revision 0 (transitional)
    expect(r.cfgRead(VIRTIO_BLK_SLOT, 0x0b, 1)).toBe(0x01); // class: mass storage
    expect(r.cfgRead(7, 0, 4)).toBe(0xffffffff);
    expect(r.cfgRead(VIRTIO_BLK_SLOT, PCI_INTERRUPT_LINE, 1)).toBe(VIRTIO_BLK_IRQ);
    expect(r.cfgRead(VIRTIO_BLK_SLOT, PCI_INTERRUPT_PIN, 1)).toBe(1);
  });

  it('BAR sizing: writing all ones reads back the size mask and the type bits; the address is restored', () => {
    const r = new Rig();
    const bar0 = r.cfgRead(VIRTIO_BLK_SLOT, PCI_BAR0, 4);
    expect(bar0 & 1).toBe(1); // I/O
    r.cfgWrite(VIRTIO_BLK_SLOT, PCI_BAR0, 4, 0xffffffff);
    const mask = r.cfgRead(VIRTIO_BLK_SLOT, PCI_BAR0, 4);
    expect(((~(mask & ~3) >>> 0) & 0xffff) + 1).toBe(0x80);
    r.cfgWrite(VIRTIO_BLK_SLOT, PCI_BAR0, 4, bar0);
    expect(r.cfgRead(VIRTIO_BLK_SLOT, PCI_BAR0, 4)).toBe(bar0);
    const bar4 = r.cfgRead(VIRTIO_BLK_SLOT, PCI_BAR0 + 16, 4);
    expect(bar4 & 0xf).toBe(0xc); // 64-bit, prefetchable memory
    r.cfgWrite(VIRTIO_BLK_SLOT, PCI_BAR0 + 16, 4, 0xffffffff);
    expect(r.cfgRead(VIRTIO_BLK_SLOT, PCI_BAR0 + 16, 4)).toBe((~(MODERN_LAYOUT.size - 1) & 0xfffffff0 | 0xc) >>> 0);
    r.cfgWrite(VIRTIO_BLK_SLOT, PCI_BAR0 + 16, 4, bar4);
  });

  it('the capability list holds the four virtio structures and the PCI configuration access capability (§4.1.4)', () => {
    const r = new Rig();
    expect(r.cfgRead(VIRTIO_BLK_SLOT, PCI_STATUS, 2) & 0x10).toBe(0x10);
    const types: number[] = [];
    let p = r.cfgRead(VIRTIO_BLK_SLOT, PCI_CAPABILITY_LIST, 1);
    for (let i = 0; i < 48 && p !== 0; i++) {
      expect(r.cfgRead(VIRTIO_BLK_SLOT, p, 1)).toBe(0x09);
      types.push(r.cfgRead(VIRTIO_BLK_SLOT, p + 3, 1));
      p = r.cfgRead(VIRTIO_BLK_SLOT, p + 1, 1);
    }
    expect(types).toEqual([VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_CAP_PCI_CFG]);
    expect(r.cfgRead(VIRTIO_BLK_SLOT, CAP_OFFSETS.notify + 16, 4)).toBe(MODERN_LAYOUT.notifyOffMultiplier);
    // The access window reads BAR 4 through configuration space: num_queues = 1.
    r.cfgWrite(VIRTIO_BLK_SLOT, CAP_OFFSETS.pciCfg + 4, 1, 4);
    r.cfgWrite(VIRTIO_BLK_SLOT, CAP_OFFSETS.pciCfg + 8, 4, MODERN_LAYOUT.common + COMMON_CFG.num_queues);
    r.cfgWrite(VIRTIO_BLK_SLOT, CAP_OFFSETS.pciCfg + 12, 4, 2);
    expect(r.cfgRead(VIRTIO_BLK_SLOT, CAP_OFFSETS.pciCfg + 16, 4) & 0xffff).toBe(1);
  });

  it('decoding follows the Command register; Interrupt Disable masks INTx#', () => {
    const r = new Rig();
    const d = new TestDriver(r, 'legacy');
    expect(d.status()).toBe(0);
    r.cfgWrite(VIRTIO_BLK_SLOT, PCI_COMMAND, 2, 0); // no decoding
    expect(r.lin(VIRTIO_PCI_STATUS, 1)).toBe(0xff);
    d.init();
    d.request(0, VIRTIO_BLK_T_IN, 0, 512);
    r.run();
    expect(r.lines.get(VIRTIO_BLK_IRQ)).toBe(true);
    expect(r.cfgRead(VIRTIO_BLK_SLOT, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT).toBe(PCI_STATUS_INTERRUPT);
    r.setCommand(PCI_COMMAND_INTX_DISABLE);
    expect(r.lines.get(VIRTIO_BLK_IRQ)).toBe(false);
    expect(d.isr()).toBe(VIRTIO_PCI_ISR_QUEUE); // reading ISR acknowledges
    expect(d.isr()).toBe(0);
  });
});

/** Runs the same script through one interface; returns what the driver saw. */
function script(iface: 'legacy' | 'modern'): { status: number; features: number; capacity: number; statuses: number[]; used: { id: number; len: number }[]; read: number[]; image: Uint8Array; irqs: number; id: string } {
  const r = new Rig();
  const d = new TestDriver(r, iface);
  const [lo] = d.deviceFeatures();
  const status = d.init(lo & EVENT_IDX);
  const capacity = d.config32(0);
  // OUT one sector at 3 (a known fill), IN 2 sectors at 2, FLUSH, GET_ID, an unsupported type.
  r.mem.fill(0xab, d.data(0), 512);
  d.request(0, VIRTIO_BLK_T_OUT, 3, 512);
  r.run();
  d.request(1, VIRTIO_BLK_T_IN, 2, 1024);
  d.request(2, VIRTIO_BLK_T_FLUSH, 0, 0);
  d.request(3, VIRTIO_BLK_T_GET_ID, 0, 20);
  d.request(4, 99, 0, 0);
  r.run();
  const used = d.used();
  let irqs = 0;
  for (let i = 0; i < 4 && d.isr() !== 0; i++) irqs++;
  const read = [0, 1, 127, 128, 129].map((w) => r.mem.read32(d.data(1) + 4 * w));
  let id = '';
  for (let i = 0; i < 20; i++) {
    const c = r.mem.read8(d.data(3) + i);
    if (c !== 0) id += String.fromCharCode(c);
  }
  return { status, features: lo, capacity, statuses: [0, 1, 2, 3, 4].map((s) => d.statusByte(s)), used, read, image: r.blk.image.bytes.slice(), irqs, id };
}

describe('the legacy and the modern transport expose the same device', () => {
  it('same features (bits 0-31), capacity, request results, used elements and image', () => {
    const legacy = script('legacy');
    const modern = script('modern');
    expect(legacy.status).toBe(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK);
    expect(modern.status).toBe(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
    expect(legacy.features).toBe(modern.features);
    expect(legacy.features & (1 << VIRTIO_F_INDIRECT_DESC)).not.toBe(0);
    expect(legacy.capacity).toBe(64);
    expect(modern.capacity).toBe(legacy.capacity);
    expect(legacy.statuses).toEqual([VIRTIO_BLK_S_OK, VIRTIO_BLK_S_OK, VIRTIO_BLK_S_OK, VIRTIO_BLK_S_OK, VIRTIO_BLK_S_UNSUPP]);
    expect(modern.statuses).toEqual(legacy.statuses);
    expect(modern.used).toEqual(legacy.used);
    // Out of order: with equal media latency, requests with less data leave their channel first.
    expect(legacy.used.map((u) => u.id)).toEqual([0, 6, 12, 9, 3]);
    expect(legacy.used[4].len).toBe(1024 + 1);
    // Sector 2 is the pattern, sector 3 holds the 0xab bytes written first.
    expect(legacy.read).toEqual([patternWord(2, 0), patternWord(2, 1), patternWord(2, 127), 0xabababab, 0xabababab]);
    expect(modern.read).toEqual(legacy.read);
    expect(Buffer.from(modern.image).equals(Buffer.from(legacy.image))).toBe(true);
    expect(legacy.id).toBe('rugo-virtio-blk');
    expect(modern.id).toBe(legacy.id);
    expect(legacy.irqs).toBeGreaterThan(0);
  });

  it('a modern-only device is 1AF4:1042 with revision 1 and no I/O BAR; a legacy-only one has no capabilities', () => {
    const m = new Rig({ transport: 'modern' });
    expect(m.cfgRead(VIRTIO_BLK_SLOT, 2, 2)).toBe(0x1042);
    expect(m.cfgRead(VIRTIO_BLK_SLOT, 8, 1)).toBe(1);
    expect(m.cfgRead(VIRTIO_BLK_SLOT, PCI_BAR0, 4)).toBe(0);
    const l = new Rig({ transport: 'legacy' });
    expect(l.cfgRead(VIRTIO_BLK_SLOT, 2, 2)).toBe(0x1001);
    expect(l.cfgRead(VIRTIO_BLK_SLOT, PCI_STATUS, 2) & 0x10).toBe(0);
    expect(new TestDriver(l, 'legacy').deviceFeatures()[1]).toBe(0);
  });
});

describe('block requests (§5.2.6) and the driver contract checker', () => {
  function live(cfg = {}, iface: 'legacy' | 'modern' = 'modern', features = EVENT_IDX): { r: Rig; d: TestDriver } {
    const r = new Rig(cfg);
    const d = new TestDriver(r, iface);
    d.init(features);
    return { r, d };
  }
  const names = (r: Rig): string[] => r.blk.transport.checker.violations.map((v) => v.name);

  it('a correct driver runs without a violation and the end-of-run audit is clean', () => {
    const { r, d } = live();
    for (let i = 0; i < 40; i++) {
      d.request(i % 8, i % 2 === 0 ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, i % 60, 512 * (1 + (i % 4)));
      if (i % 8 === 7) r.run();
    }
    r.run();
    expect(d.used()).toHaveLength(40);
    r.mem.write16(d.lay.avail + AVAIL.usedEvent(d.qsz), d.lastUsed);
    d.isr();
    expect(r.blk.audit()).toEqual([]);
    expect(names(r)).toEqual([]);
  });

  it('reading or writing beyond capacity, or a length that is not whole sectors, fails with IOERR and is reported', () => {
    const { r, d } = live();
    d.request(0, VIRTIO_BLK_T_IN, 63, 1024);
    d.request(1, VIRTIO_BLK_T_OUT, 0, 500);
    r.run();
    expect([d.statusByte(0), d.statusByte(1)]).toEqual([VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_IOERR]);
    expect(names(r)).toEqual(['blk-beyond-capacity', 'blk-data-not-sector-multiple']);
  });

  it('a read-only device fails OUT with IOERR and writes nothing (§5.2.6.2)', () => {
    const { r, d } = live({ readOnly: true }, 'modern', EVENT_IDX | (1 << 5));
    const before = r.blk.image.bytes.slice(0, 512);
    d.request(0, VIRTIO_BLK_T_OUT, 0, 512);
    r.run();
    expect(d.statusByte(0)).toBe(VIRTIO_BLK_S_IOERR);
    expect(Buffer.from(r.blk.image.bytes.slice(0, 512)).equals(Buffer.from(before))).toBe(true);
  });

  it('protocol violations are named: notify before DRIVER_OK, a feature not offered, a cleared status bit, mixed interfaces, DMA without Bus Master', () => {
    const r = new Rig();
    const d = new TestDriver(r, 'modern');
    d.notify();
    expect(names(r)).toContain('notify-before-driver-ok');
    d.setStatus(0);
    d.setStatus(VIRTIO_STATUS_ACKNOWLEDGE);
    d.setStatus(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    r.mout(MODERN_LAYOUT.common + COMMON_CFG.driver_feature_select, 4, 0);
    r.mout(MODERN_LAYOUT.common + COMMON_CFG.driver_feature, 4, 1 << 31);
    r.mout(MODERN_LAYOUT.common + COMMON_CFG.driver_feature_select, 4, 1);
    r.mout(MODERN_LAYOUT.common + COMMON_CFG.driver_feature, 4, 1);
    d.setStatus(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    expect(names(r)).toContain('feature-not-offered');
    expect(d.status() & VIRTIO_STATUS_FEATURES_OK).toBe(0); // refused: the driver must see it
    d.setStatus(VIRTIO_STATUS_ACKNOWLEDGE);
    expect(names(r)).toContain('status-bit-cleared');
    r.lout(VIRTIO_PCI_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    expect(names(r)).toContain('mixed-interfaces');
    const fresh = new Rig();
    const f = new TestDriver(fresh, 'legacy');
    f.init(0, false); // never set Bus Master
    f.request(0, VIRTIO_BLK_T_IN, 0, 512);
    expect(names(fresh)).toContain('dma-without-bus-master');
    expect(fresh.queue.size).toBe(0); // nothing was processed
  });

  it('a strict device stops the run at the first violation with its name and spec rule', () => {
    const r = new Rig({ strict: true });
    new TestDriver(r, 'legacy').notify();
    expect(r.stops).toHaveLength(1);
    expect(r.stops[0]).toMatch(/^VIRTIO: virtio-blk: notify-before-driver-ok: .*§3\.1\.1/);
  });

  it('a malformed chain puts the device in DEVICE_NEEDS_RESET with a configuration interrupt; a reset recovers it', () => {
    const { r, d } = live();
    d.writeDesc(0, AREA.headers, 16, VIRTQ_DESC_F_NEXT, 0); // loop
    d.post(0);
    expect(names(r)).toContain('chain-too-long');
    expect(d.status() & VIRTIO_STATUS_DEVICE_NEEDS_RESET).toBe(VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    expect(d.isr() & VIRTIO_PCI_ISR_CONFIG).toBe(VIRTIO_PCI_ISR_CONFIG);
    const d2 = new TestDriver(r, 'modern');
    expect(d2.init(EVENT_IDX) & VIRTIO_STATUS_DRIVER_OK).toBe(VIRTIO_STATUS_DRIVER_OK);
    d2.request(0, VIRTIO_BLK_T_IN, 0, 512);
    r.run();
    expect(d2.used()).toHaveLength(1);
    expect(d2.statusByte(0)).toBe(VIRTIO_BLK_S_OK);
  });

  it('the driver writing the used ring is caught; avail idx moving by more than Queue Size is caught', () => {
    const { r, d } = live();
    d.request(0, VIRTIO_BLK_T_IN, 0, 512);
    r.mem.write16(d.lay.used + USED.idx, 7);
    r.run();
    expect(names(r)).toContain('used-ring-written-by-driver');
    const b = live();
    b.r.mem.write16(b.d.lay.avail + AVAIL.idx, 1000);
    b.d.notify();
    expect(names(b.r)).toContain('avail-idx-decremented');
  });

  it('EVENT_IDX: no interrupt until used idx crosses used_event', () => {
    const { r, d } = live();
    r.mem.write16(d.lay.avail + AVAIL.usedEvent(d.qsz), 2); // interrupt when the third completion is written
    d.request(0, VIRTIO_BLK_T_IN, 0, 512);
    r.run();
    expect(r.blk.transport.isr).toBe(0);
    d.request(1, VIRTIO_BLK_T_IN, 1, 512);
    r.run();
    expect(r.blk.transport.isr).toBe(0);
    d.request(2, VIRTIO_BLK_T_IN, 2, 512);
    r.run();
    expect(r.blk.transport.isr).toBe(VIRTIO_PCI_ISR_QUEUE);
    // avail_event tells the driver the device wants a notification for the next one.
    expect(r.mem.read16(d.lay.used + USED.availEvent(d.qsz))).toBe(3);
  });
});

describe('faults and timing', () => {
  function live(cfg = {}): { r: Rig; d: TestDriver } {
    const r = new Rig(cfg);
    const d = new TestDriver(r, 'legacy');
    d.init(0);
    return { r, d };
  }

  it('nominal answers: no fault strikes, the latency is 50,000 cycles plus the transfer; without a plan only the latency is asked', () => {
    const { r, d } = live({ faults: faultPlan({ ioError: true, latencySpike: true, reset: true }) });
    d.request(0, VIRTIO_BLK_T_IN, 0, 4096);
    r.run();
    expect(r.nowCycles).toBe(50_000 + 4096 / 8);
    // A fault plan decides which fault sites are asked; the answers (0 here) decide whether they strike.
    expect(r.asked).toEqual([Site.BlkReset, Site.BlkIoError, Site.DeviceLatency, Site.BlkLatencySpike]);
    const plain = live();
    plain.d.request(0, VIRTIO_BLK_T_IN, 0, 512);
    plain.r.run();
    expect(plain.r.asked).toEqual([Site.DeviceLatency]);
  });

  it('an injected I/O error fails the request without moving data; a spike adds its cycles', () => {
    const { r, d } = live({ faults: faultPlan({ ioError: true, latencySpike: true }) });
    r.chooser = (site) => (site === Site.BlkIoError || site === Site.BlkLatencySpike ? 1 : 0);
    r.mem.fill(0x5a, d.data(0), 512);
    const before = r.blk.image.read(9, 1);
    d.request(0, VIRTIO_BLK_T_OUT, 9, 512);
    r.run();
    expect(d.statusByte(0)).toBe(VIRTIO_BLK_S_IOERR);
    expect(Buffer.from(r.blk.image.read(9, 1)).equals(Buffer.from(before))).toBe(true);
    expect(r.nowCycles).toBe(50_000 + 5_000_000);
    expect(r.blk.stats.ioErrorsInjected).toBe(1);
  });

  it('an injected device failure drops requests in flight and asks for a reset', () => {
    const { r, d } = live({ faults: faultPlan({ reset: true }) });
    d.request(0, VIRTIO_BLK_T_IN, 0, 512);
    r.chooser = (site) => (site === Site.BlkReset ? 1 : 0);
    d.request(1, VIRTIO_BLK_T_IN, 1, 512);
    r.run();
    expect(d.used()).toEqual([]);
    expect(d.status() & VIRTIO_STATUS_DEVICE_NEEDS_RESET).not.toBe(0);
    expect(d.isr()).toBe(VIRTIO_PCI_ISR_CONFIG);
    expect(r.blk.stats.dropped).toBe(2); // the request in flight and the one that met the failure
  });

  it('power loss at the Nth write: the Nth write is lost, or torn with the chosen bytes of its last sector', () => {
    for (const torn of [false, true]) {
      const { r, d } = live({ faults: faultPlan({ powerLossAtWrite: 2, tornWrite: torn }) });
      r.chooser = (site, n) => (site === Site.BlkTornWrite ? n - 1 : 0);
      const pristine = r.blk.image.bytes.slice();
      r.mem.fill(0x11, d.data(0), 512);
      d.request(0, VIRTIO_BLK_T_OUT, 1, 512);
      r.run();
      r.mem.fill(0x22, d.data(1), 1024);
      d.request(1, VIRTIO_BLK_T_OUT, 4, 1024);
      r.run();
      expect(r.powerLost).toMatch(/power lost at write 2/);
      const img = r.blk.image.bytes;
      expect(img[512]).toBe(0x11);
      const tornBytes = TORN_WRITE_BYTES[TORN_WRITE_BYTES.length - 1];
      if (!torn) expect(Buffer.from(img.slice(4 * 512, 6 * 512)).equals(Buffer.from(pristine.slice(4 * 512, 6 * 512)))).toBe(true);
      else {
        expect(img.slice(4 * 512, 5 * 512).every((b) => b === 0x22)).toBe(true);
        expect(img.slice(5 * 512, 5 * 512 + tornBytes).every((b) => b === 0x22)).toBe(true);
        expect(Buffer.from(img.slice(5 * 512 + tornBytes, 6 * 512)).equals(Buffer.from(pristine.slice(5 * 512 + tornBytes, 6 * 512)))).toBe(true);
      }
      expect(d.used()).toHaveLength(1); // the lost write never completes
    }
  });

  it('faultPlan() validates its spec and names the field', () => {
    expect(faultPlan()).toEqual({ ioError: false, latencySpike: false, reset: false, powerLossAtWrite: 0, tornWrite: false });
    expect(() => faultPlan({ ioErr: true })).toThrow(/faults\.ioErr is not a fault/);
    expect(() => faultPlan({ ioError: 1 })).toThrow(/faults\.ioError must be true or false/);
    expect(() => faultPlan({ powerLossAtWrite: -1 })).toThrow(/powerLossAtWrite must be an integer/);
    expect(() => faultPlan({ tornWrite: true })).toThrow(/tornWrite needs powerLossAtWrite/);
  });
});

describe('disk images and the scenario disk field', () => {
  it('images are whole sectors; the pattern is the documented formula, little-endian', () => {
    const d = createDisk(4 * SECTOR_SIZE, 'pattern');
    const dv = new DataView(d.bytes.buffer);
    for (const [s, i] of [[0, 0], [1, 5], [3, 127]]) expect(dv.getUint32(s * 512 + 4 * i, true)).toBe(patternWord(s, i));
    expect(createDisk(512).bytes.every((b) => b === 0)).toBe(true);
    expect(() => createDisk(1000)).toThrow(/multiple of 512/);
    expect(() => diskFromBytes(new Uint8Array(0), 'x.img')).toThrow(/x\.img: the file is empty/);
    expect(() => diskFromBytes(new Uint8Array(513), 'x.img')).toThrow(/x\.img: size 513 bytes is not a multiple of 512/);
    // Two pattern images are equal and independent.
    const a = createDisk(4096, 'pattern');
    const b = createDisk(4096, 'pattern');
    a.bytes[0] ^= 1;
    expect(b.bytes[0]).toBe(patternWord(0, 0) & 0xff);
  });

  it('machine.disk and machine.noDisk are validated with the field name', () => {
    const base = { name: 'x', description: 'd', kernel: { options: [] }, expect: { markers: [] } };
    const sc = parseScenario({ ...base, machine: { disk: { sizeMiB: 2, fill: 'pattern', faults: { ioError: true } } } }, 'f.json');
    expect(sc.machine.disk?.sizeMiB).toBe(2);
    expect(sc.machine.disk?.faults.ioError).toBe(true);
    expect(() => parseScenario({ ...base, machine: { disk: { size: 1 } } }, 'f.json')).toThrow(/scenario f\.json: machine\.disk\.size is not a disk field/);
    expect(() => parseScenario({ ...base, machine: { disk: { fill: 'ones' } } }, 'f.json')).toThrow(/machine\.disk\.fill must be "zero" or "pattern"/);
    expect(() => parseScenario({ ...base, machine: { disk: { queueSize: 100 } } }, 'f.json')).toThrow(/machine\.disk\.queueSize must be a power of 2/);
    expect(() => parseScenario({ ...base, machine: { disk: { faults: { torn: 1 } } } }, 'f.json')).toThrow(/machine\.disk\.faults\.torn is not a fault/);
    expect(() => parseScenario({ ...base, machine: { disk: { broken: 'badly' } } }, 'f.json')).toThrow(/machine\.disk\.broken must be one of/);
    expect(() => parseScenario({ ...base, machine: { disk: {}, noDisk: true } }, 'f.json')).toThrow(/machine\.noDisk cannot be true together with machine\.disk/);
    expect(() => parseScenario({ ...base, machine: { noDisk: 'yes' } }, 'f.json')).toThrow(/machine\.noDisk must be true or false/);
  });
});

describe('status bits used by both sides agree with the spec', () => {
  it('ACKNOWLEDGE 1, DRIVER 2, DRIVER_OK 4, FEATURES_OK 8, DEVICE_NEEDS_RESET 64; ISR queue 1, config 2; Bus Master 4', () => {
    expect([VIRTIO_STATUS_ACKNOWLEDGE, VIRTIO_STATUS_DRIVER, VIRTIO_STATUS_DRIVER_OK, VIRTIO_STATUS_FEATURES_OK, VIRTIO_STATUS_DEVICE_NEEDS_RESET]).toEqual([1, 2, 4, 8, 64]);
    expect([VIRTIO_PCI_ISR_QUEUE, VIRTIO_PCI_ISR_CONFIG, PCI_COMMAND_MASTER]).toEqual([1, 2, 4]);
  });
});

describe('a bad driver never crashes the simulator', () => {
  it('random register writes, garbage rings and notifications: no exception, only named violations', () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant('legacy' as const), off: fc.integer({ min: 0, max: 0x7f }), size: fc.constantFrom(1 as const, 2 as const, 4 as const), v: fc.nat() }),
      fc.record({ k: fc.constant('modern' as const), off: fc.integer({ min: 0, max: 0x3fff }), size: fc.constantFrom(1 as const, 2 as const, 4 as const), v: fc.nat() }),
      fc.record({ k: fc.constant('mem' as const), off: fc.integer({ min: 0, max: 0x3fff }), size: fc.constant(4 as const), v: fc.nat() }),
      fc.record({ k: fc.constant('cfg' as const), off: fc.integer({ min: 0, max: 0xff }), size: fc.constantFrom(1 as const, 2 as const, 4 as const), v: fc.nat() }),
      fc.record({ k: fc.constant('run' as const), off: fc.constant(0), size: fc.constant(1 as const), v: fc.constant(0) }),
    );
    fc.assert(
      fc.property(fc.boolean(), fc.array(op, { maxLength: 120 }), (legacyFirst, ops) => {
        const r = new Rig({ faults: faultPlan({ ioError: true, reset: true, latencySpike: true }) });
        r.chooser = (_s, n) => ops.length % n;
        const d = new TestDriver(r, legacyFirst ? 'legacy' : 'modern');
        d.init(EVENT_IDX | (1 << VIRTIO_F_INDIRECT_DESC));
        for (const o of ops) {
          if (o.k === 'legacy') {
            if (o.v & 1) r.lin(o.off, o.size);
            else r.lout(o.off, o.size, o.v);
          } else if (o.k === 'modern') {
            if (o.v & 1) r.min(o.off, o.size);
            else r.mout(o.off, o.size, o.v);
          } else if (o.k === 'mem') r.mem.write32(AREA.queue + (o.off & ~3), o.v);
          else if (o.k === 'cfg') r.cfgWrite(VIRTIO_BLK_SLOT, o.off & ~(o.size - 1), o.size, o.v);
          else r.run(200);
        }
        r.run(1000);
        for (const v of r.blk.transport.checker.violations) expect(Object.keys(VIOLATIONS)).toContain(v.name);
        r.blk.audit(); // never throws either
      }),
      { seed: 7, numRuns: 150 },
    );
  });
});

// Acceptance for M5 (virtio-blk): every blk scenario on the CPU counts it
// declares, both interfaces of the transitional device (the driver picks
// modern, or legacy with blk=legacy), modern-only and legacy-only devices,
// broken devices (init failed), determinism and replay.
import { describe, expect, it } from 'vitest';
import { resolveScenario, type Scenario } from '../../scenarios/scenario.ts';
import { runScenario, type ScenarioResult } from '../../scenarios/runner.ts';
import { DEFAULT_DISK } from '../../scenarios/disk.ts';
import type { BrokenKind } from '../../sim/virtio/blk.ts';
import type { TransportKind } from '../../sim/virtio/pci-transport.ts';

const SCENARIOS = ['blk-identify', 'blk-rw', 'blk-invariants', 'blk-init-failed', 'blk-badlen', 'blk-badptr', 'stress-blk'];
const MARKERS: Record<string, string> = {
  'blk-identify': 'BLK: found virtio-blk',
  'blk-rw': 'BLK: rw ok',
  'blk-invariants': 'BLK: invariants ok',
  'blk-init-failed': 'BLK: init failed',
  'blk-badlen': 'BLK: badlen ok',
  'blk-badptr': 'BLK: badptr ok',
  'stress-blk': 'STRESS: blk ok',
};

function expectPass(r: ScenarioResult): void {
  expect(r.reasons, `serial:\n${r.run.serial}`).toEqual([]);
  expect(r.verdict).toBe('pass');
  expect(r.run.serial).not.toContain('KASSERT:');
  if (r.blk !== null) expect(r.blk.audit, 'device audit').toEqual([]);
}

/** `sc` with its disk changed. */
function withDisk(sc: Scenario, disk: Partial<typeof DEFAULT_DISK>): Scenario {
  const { noDisk: _n, ...machine } = sc.machine;
  return { ...sc, machine: { ...machine, disk: { ...(sc.machine.disk ?? DEFAULT_DISK), ...disk } } };
}

describe('M5 block device scenarios', () => {
  for (const name of SCENARIOS) {
    const sc = resolveScenario(name);
    for (const cpus of sc.cpuCounts ?? [sc.machine.cpus]) {
      it(`${name} passes on ${cpus} CPU(s) and prints "${MARKERS[name]}"`, () => {
        const r = runScenario(sc, { seed: 1, cpus });
        expectPass(r);
        expect(r.run.serial).toContain(MARKERS[name]);
      });
    }
  }

  it('the scenarios declare their milestone, markers and CPU counts', () => {
    for (const name of SCENARIOS) expect(resolveScenario(name).milestone).toBe('M5');
    expect(resolveScenario('stress-blk').cpuCounts).toEqual([1, 2, 4]);
    expect(resolveScenario('blk-init-failed').machine.noDisk).toBe(true);
    expect(resolveScenario('blk-rw').machine.disk?.fill).toBe('pattern');
  });

  it('blk-identify: 1AF4:1001 at 00:04.0 on IRQ 11, 2048 sectors through the modern interface by default', () => {
    const r = runScenario(resolveScenario('blk-identify'), { seed: 1 });
    expectPass(r);
    expect(r.run.serial).toMatch(/^BLK: found virtio-blk 1af4:1001 at 00:04\.0 irq 11$/m);
    expect(r.run.serial).toMatch(/^BLK: ready 2048 sectors, modern interface, queue 128, 32 slots, event idx$/m);
    expect(r.run.serial).toContain('BLK: identify ok capacity=2048 sectors');
  });

  it('the transitional device also works through its legacy I/O BAR (blk=legacy), as the original Rugo used it', () => {
    for (const name of ['blk-rw', 'blk-invariants', 'stress-blk']) {
      const r = runScenario(resolveScenario(name), { seed: 2, cpus: 2, extraOptions: ['blk=legacy'] });
      expectPass(r);
      expect(r.run.serial).toMatch(/^BLK: ready 2048 sectors, legacy interface, queue 128/m);
    }
  });

  const kinds: [TransportKind, string, RegExp][] = [
    ['modern', 'blk=auto', /^BLK: found virtio-blk 1af4:1042 .*\nBLK: ready 2048 sectors, modern interface/m],
    ['legacy', 'blk=auto', /^BLK: found virtio-blk 1af4:1001 .*\nBLK: ready 2048 sectors, legacy interface/m],
  ];
  for (const [transport, opt, re] of kinds) {
    it(`a ${transport}-only device is found and used (${opt})`, () => {
      const r = runScenario(withDisk(resolveScenario('blk-rw'), { transport }), { seed: 3 });
      expectPass(r);
      expect(r.run.serial).toMatch(re);
    });
  }

  it('without VIRTIO_F_EVENT_IDX the driver suppresses nothing and uses the ring flags; stress passes on both interfaces', () => {
    for (const opt of ['blk=auto', 'blk=legacy']) {
      const r = runScenario(withDisk(resolveScenario('stress-blk'), { eventIdx: false }), { seed: 5, cpus: 2, extraOptions: [opt] });
      expectPass(r);
      expect(r.run.serial).toMatch(/^BLK: ready 2048 sectors, \w+ interface, queue 128, 32 slots$/m);
    }
  });

  it('a 4 MiB disk with a 256-entry queue: capacity and slots follow the device', () => {
    const r = runScenario(withDisk(resolveScenario('blk-identify'), { sizeMiB: 4, queueSize: 256 }), { seed: 1, extraOptions: ['blk=legacy'] });
    expect(r.run.serial).toContain('BLK: ready 8192 sectors, legacy interface, queue 256, 32 slots');
    expect(r.run.serial).toContain('BLK: identify ok capacity=8192 sectors');
  });

  const broken: [BrokenKind, string, RegExp][] = [
    ['queue-size-zero', 'blk=auto', /BLK: init failed \(queue 0 has size 0\)/],
    ['refuse-features', 'blk=auto', /BLK: init failed \(device refused the features \(FEATURES_OK did not stick\)\)/],
    ['needs-reset', 'blk=legacy', /BLK: init failed \(device status 0x4[0-9a-f] after DRIVER_OK\)/],
  ];
  for (const [kind, opt, re] of broken) {
    it(`blk-init-failed with a broken device (${kind}): init failed, the syscalls return ENODEV, the kernel carries on`, () => {
      const base = resolveScenario('blk-init-failed');
      const sc = withDisk({ ...base, kernel: { options: [...base.kernel.options.filter((o) => !o.startsWith('blk=')), opt] }, expect: { ...base.expect, absent: ['KASSERT:', 'RUGO: panic code=', 'BLK: ready'] } }, { broken: kind });
      const r = runScenario(sc, { seed: 1 });
      expect(r.reasons, r.run.serial).toEqual([]);
      expect(r.run.serial).toContain('BLK: found virtio-blk');
      expect(r.run.serial).toMatch(re);
      expect(r.run.serial).toContain('BLK: nodev ok');
    });
  }

  it('without the blk option the kernel does not probe PCI, and a scenario without a disk has no device', () => {
    const r = runScenario(resolveScenario('user-hello'), { seed: 1 });
    expect(r.run.serial).not.toContain('BLK:');
    expect(r.blk).toBeNull();
  });

  it('runs are deterministic: the same seed gives the same trace hash, serial output and disk image', () => {
    const sc = resolveScenario('stress-blk');
    const a = runScenario(sc, { seed: 7, cpus: 2 });
    const b = runScenario(sc, { seed: 7, cpus: 2 });
    expectPass(a);
    expect(b.traceHash).toBe(a.traceHash);
    expect(b.run.serial).toBe(a.run.serial);
    expect(Buffer.from(b.blk!.image.bytes).equals(Buffer.from(a.blk!.image.bytes))).toBe(true);
  });

  it("a random run's recorded decisions replay to the same hash (device latency decisions included)", () => {
    const sc = resolveScenario('stress-blk');
    const a = runScenario(sc, { seed: 11, cpus: 2 });
    expect(a.run.decisions.some((d) => d.site === 3)).toBe(true); // device-latency was varied
    const b = runScenario(sc, { strategy: 'replay', decisions: a.run.decisions, cpus: 2 });
    expect(b.traceHash).toBe(a.traceHash);
    expect(b.run.serial).toBe(a.run.serial);
  });
});

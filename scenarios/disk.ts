// A scenario's disk: the optional `machine.disk` object (a virtio-blk device
// with an in-memory image) and `machine.noDisk` (never a disk, even when
// `--disk FILE` is given). Validation refuses a bad value with the field's
// name; docs/formats.md describes every field.
import { createDisk, type DiskFill, type DiskImage } from '../sim/virtio/disk.ts';
import { BROKEN_KINDS, faultPlan, NO_FAULTS, type BlkDeviceConfig, type BrokenKind, type FaultPlan } from '../sim/virtio/blk.ts';
import type { TransportKind } from '../sim/virtio/pci-transport.ts';

export interface DiskSpec {
  /** Image size in MiB (1..1024) when the scenario creates it. */
  readonly sizeMiB: number;
  /** Initial contents: zeroes, or the generated pattern (docs/formats.md). */
  readonly fill: DiskFill;
  readonly transport: TransportKind;
  readonly queueSize: number;
  readonly readOnly: boolean;
  /** Offer VIRTIO_F_EVENT_IDX (default true). */
  readonly eventIdx: boolean;
  readonly broken?: BrokenKind;
  /** Stop the run at the first virtio contract violation (default true). */
  readonly strict: boolean;
  readonly faults: FaultPlan;
  /** Initial contents given by the caller (`rugo fuzz --disk FILE`): each run starts from a copy. Not a JSON field. */
  readonly initial?: DiskImage;
  /** Keep the device's log of writes that reached the media (tests). Not a JSON field. */
  readonly recordWrites?: boolean;
}

export const DISK_KEYS = ['sizeMiB', 'fill', 'transport', 'queueSize', 'readOnly', 'eventIdx', 'broken', 'strict', 'faults'] as const;
const TRANSPORTS: readonly TransportKind[] = ['transitional', 'modern', 'legacy'];

export const DEFAULT_DISK: DiskSpec = { sizeMiB: 1, fill: 'zero', transport: 'transitional', queueSize: 128, readOnly: false, eventIdx: true, strict: true, faults: NO_FAULTS };

/** A copy of `sc`'s machine with every run starting from `image` (a disk is added with the default spec if it has none). */
export function withInitialDisk<T extends { readonly name: string; readonly machine: { readonly disk?: DiskSpec; readonly noDisk?: boolean } }>(sc: T, image: DiskImage): T {
  if (sc.machine.noDisk === true) throw new RangeError(`scenario ${sc.name} has machine.noDisk: it runs without a disk, so --disk cannot be used with it`);
  return { ...sc, machine: { ...sc.machine, disk: { ...(sc.machine.disk ?? DEFAULT_DISK), initial: image } } };
}

/** Validates a `machine.disk` value; `fail(field, what)` throws the caller's error. */
export function parseDiskSpec(v: unknown, fail: (field: string, what: string) => never): DiskSpec {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail('machine.disk', `must be an object with keys ${DISK_KEYS.join(', ')}`);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!(DISK_KEYS as readonly string[]).includes(k)) fail(`machine.disk.${k}`, `is not a disk field (known: ${DISK_KEYS.join(', ')})`);
  const int = (k: string, dflt: number, lo: number, hi: number): number => {
    const x = o[k] ?? dflt;
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < lo || x > hi) fail(`machine.disk.${k}`, `must be an integer in ${lo}..${hi}, got ${JSON.stringify(o[k])}`);
    return x as number;
  };
  const bool = (k: string, dflt: boolean): boolean => {
    const x = o[k] ?? dflt;
    if (typeof x !== 'boolean') fail(`machine.disk.${k}`, `must be true or false, got ${JSON.stringify(o[k])}`);
    return x as boolean;
  };
  const sizeMiB = int('sizeMiB', DEFAULT_DISK.sizeMiB, 1, 1024);
  const fill = o.fill ?? DEFAULT_DISK.fill;
  if (fill !== 'zero' && fill !== 'pattern') fail('machine.disk.fill', `must be "zero" or "pattern", got ${JSON.stringify(o.fill)}`);
  const transport = o.transport ?? DEFAULT_DISK.transport;
  if (!(TRANSPORTS as readonly unknown[]).includes(transport)) fail('machine.disk.transport', `must be one of ${TRANSPORTS.join(', ')}, got ${JSON.stringify(o.transport)}`);
  const queueSize = int('queueSize', DEFAULT_DISK.queueSize, 4, 1024);
  if ((queueSize & (queueSize - 1)) !== 0) fail('machine.disk.queueSize', `must be a power of 2, got ${queueSize}`);
  let broken: BrokenKind | undefined;
  if (o.broken !== undefined) {
    if (!(BROKEN_KINDS as readonly unknown[]).includes(o.broken)) fail('machine.disk.broken', `must be one of ${BROKEN_KINDS.join(', ')}, got ${JSON.stringify(o.broken)}`);
    broken = o.broken as BrokenKind;
  }
  let faults: FaultPlan;
  try {
    faults = faultPlan(o.faults ?? {}, 'machine.disk.faults');
  } catch (e) {
    const m = /^(\S+) (.*)$/s.exec((e as Error).message);
    return fail(m?.[1] ?? 'machine.disk.faults', m?.[2] ?? (e as Error).message);
  }
  return { sizeMiB, fill: fill as DiskFill, transport: transport as TransportKind, queueSize, readOnly: bool('readOnly', false), eventIdx: bool('eventIdx', true), broken, strict: bool('strict', true), faults };
}

/**
 * The machine's disk for a run: the scenario's spec (or the defaults) with
 * `image` when the caller gave one (`--disk FILE`; the run writes it in
 * place), else a copy of the spec's initial image, else a new image as the
 * spec says; undefined when the scenario has no disk.
 */
export function diskConfigFor(spec: DiskSpec | undefined, noDisk: boolean, image: DiskImage | undefined, scenarioName: string): BlkDeviceConfig | undefined {
  if (noDisk) {
    if (image !== undefined) throw new RangeError(`scenario ${scenarioName} has machine.noDisk: it runs without a disk, so --disk cannot be used with it`);
    return undefined;
  }
  if (spec === undefined && image === undefined) return undefined;
  const s = spec ?? DEFAULT_DISK;
  return {
    image: image ?? s.initial?.clone() ?? createDisk(s.sizeMiB * 1024 * 1024, s.fill),
    transport: s.transport,
    queueSize: s.queueSize,
    readOnly: s.readOnly,
    eventIdx: s.eventIdx,
    broken: s.broken,
    strict: s.strict,
    faults: s.faults,
    recordWrites: s.recordWrites ?? false,
  };
}

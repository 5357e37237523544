// `--disk FILE` and `--save-disk FILE`: a raw disk image (512-byte sectors,
// no header; docs/formats.md) loaded before a run and written after it. A
// missing, unreadable or malformed file is a one-line usage error.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { diskFromBytes, type DiskImage } from '../sim/virtio/disk.ts';
import { UsageError } from './errors.ts';

/** Loads a raw image; refuses a missing file, a directory, an empty file or a size that is not whole sectors. */
export function loadDiskFile(path: string): DiskImage {
  let bytes: Uint8Array;
  try {
    if (statSync(path).isDirectory()) throw new UsageError(`--disk ${path}: is a directory, not a disk image`);
    bytes = new Uint8Array(readFileSync(path));
  } catch (e) {
    if (e instanceof UsageError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`--disk ${path}: ${code === 'ENOENT' ? 'no such file' : `cannot be read (${code ?? (e as Error).message})`}`);
  }
  try {
    return diskFromBytes(bytes, path);
  } catch (e) {
    throw new UsageError(`--disk ${(e as Error).message.replace(/^disk image /, '')}`);
  }
}

/** Writes the image's bytes to `path` (a one-line usage error if it cannot). */
export function saveDiskFile(path: string, image: DiskImage): void {
  try {
    writeFileSync(path, image.bytes);
  } catch (e) {
    throw new UsageError(`--save-disk ${path}: cannot be written (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** Checks up front that `path` can be written (so a long run does not end in an error). */
export function checkWritable(path: string): void {
  try {
    if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`--save-disk ${path}: is a directory`);
  } catch (e) {
    if (e instanceof UsageError) throw e;
  }
}

export interface DiskFlags {
  disk?: string;
  saveDisk?: string;
}

/** Help texts of the two options (shared by run, fuzz and replay). */
export const DISK_HELP = {
  disk: 'use this raw image (512-byte sectors) as the virtio-blk disk instead of the scenario\'s; the file itself is not changed',
  saveDisk: 'write the disk as the run left it to this file',
} as const;

/**
 * Checks the disk flags against scenario `sc` before anything runs and
 * loads `--disk`: a scenario with machine.noDisk takes no image, and
 * `--save-disk` needs a disk (the scenario's or `--disk`).
 */
export function prepareDisk(sc: { name: string; machine: { disk?: unknown; noDisk?: boolean } }, o: DiskFlags): DiskImage | undefined {
  if (o.disk !== undefined && sc.machine.noDisk === true) throw new UsageError(`--disk: scenario ${sc.name} has machine.noDisk (it runs without a disk)`);
  if (o.saveDisk !== undefined) {
    if (o.disk === undefined && sc.machine.disk === undefined) throw new UsageError(`--save-disk: scenario ${sc.name} has no disk (give one with --disk FILE)`);
    checkWritable(o.saveDisk);
  }
  return o.disk !== undefined ? loadDiskFile(o.disk) : undefined;
}

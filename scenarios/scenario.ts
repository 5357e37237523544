// Scenario files: one JSON file per scenario in this folder (or any path a
// user passes). A scenario names its machine config, its kernel options and
// the markers it expects. Loading validates every field and refuses a bad
// file with a message that says which file, which field, and what is wrong.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StopReason } from '../sim/machine.ts';
import { parseDiskSpec, type DiskSpec } from './disk.ts';

export const SCENARIO_DIR = dirname(fileURLToPath(import.meta.url));

/** A marker: a substring a serial line must contain, or a regular expression it must match. */
export type Marker = string | { regex: string };

export interface Scenario {
  readonly name: string;
  readonly milestone: string;
  readonly description: string;
  readonly machine: {
    readonly cpus: number;
    readonly memoryMiB: number;
    /** A virtio-blk disk (scenarios/disk.ts, docs/formats.md). */
    readonly disk?: DiskSpec;
    /** No disk, even when one is given on the command line (blk-init-failed). */
    readonly noDisk?: boolean;
  };
  readonly kernel: { readonly options: readonly string[] };
  readonly expect: {
    readonly markers: readonly Marker[];
    readonly ordered: boolean;
    readonly absent: readonly Marker[];
    readonly stop: StopReason;
    /** Lines that must each appear at least this many times (e.g. A and B lines). */
    readonly counts?: Readonly<Record<string, number>>;
    /** Two lines X and Y that must interleave: somewhere X is directly followed by Y, and somewhere Y by X (among the X/Y lines). */
    readonly interleave?: readonly [string, string];
  };
  readonly maxCycles: number;
  /** Which CPU counts the scenario passes on (acceptance runs each); defaults to [machine.cpus]. */
  readonly cpuCounts?: readonly number[];
  /** Where the scenario was loaded from. */
  readonly file: string;
}

const STOP_REASONS: readonly StopReason[] = ['debug-exit', 'triple-fault', 'max-cycles', 'all-halted', 'sim-error', 'guest-crash', 'replay-diverged', 'checker', 'power-loss'];

/** A scenario file that cannot be used; the message names the file and the field. */
export class ScenarioError extends Error {}

function fail(file: string, field: string, what: string): never {
  throw new ScenarioError(`scenario ${file}: ${field} ${what}`);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkMarker(file: string, field: string, m: unknown): Marker {
  if (typeof m === 'string') {
    if (m.length === 0) fail(file, field, 'is an empty marker');
    return m;
  }
  if (isObj(m) && typeof m.regex === 'string') {
    try {
      new RegExp(m.regex);
    } catch (e) {
      fail(file, field, `has an invalid regex: ${(e as Error).message}`);
    }
    return { regex: m.regex };
  }
  return fail(file, field, `must be a string or {"regex": "..."}, got ${JSON.stringify(m)}`);
}

function checkInt(file: string, field: string, v: unknown, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < lo || v > hi) fail(file, field, `must be an integer in ${lo}..${hi}, got ${JSON.stringify(v)}`);
  return v;
}

/** Validates parsed JSON as a scenario; throws ScenarioError naming the field. */
export function parseScenario(json: unknown, file: string): Scenario {
  if (!isObj(json)) fail(file, '(top level)', 'must be a JSON object');
  const known = new Set(['name', 'milestone', 'description', 'machine', 'kernel', 'expect', 'maxCycles', 'cpuCounts']);
  for (const k of Object.keys(json)) if (!known.has(k)) fail(file, k, `is not a scenario field (known: ${[...known].join(', ')})`);
  const name = json.name;
  if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9-]*$/.test(name)) fail(file, 'name', `must be a lower-case name like "boot", got ${JSON.stringify(name)}`);
  const description = typeof json.description === 'string' ? json.description : fail(file, 'description', 'must be a string');
  const milestone = json.milestone === undefined ? '' : typeof json.milestone === 'string' ? json.milestone : fail(file, 'milestone', 'must be a string');
  const mc = json.machine === undefined ? {} : json.machine;
  if (!isObj(mc)) fail(file, 'machine', 'must be an object');
  for (const k of Object.keys(mc)) if (!['cpus', 'memoryMiB', 'disk', 'noDisk'].includes(k)) fail(file, `machine.${k}`, 'is not a machine field (known: cpus, memoryMiB, disk, noDisk)');
  const cpus = checkInt(file, 'machine.cpus', mc.cpus ?? 1, 1, 8);
  const memoryMiB = checkInt(file, 'machine.memoryMiB', mc.memoryMiB ?? 128, 8, 4096);
  if (memoryMiB % 2 !== 0) fail(file, 'machine.memoryMiB', 'must be even (2 MiB pages)');
  const disk = mc.disk === undefined ? undefined : parseDiskSpec(mc.disk, (field, what) => fail(file, field, what));
  const noDisk = mc.noDisk === undefined ? undefined : typeof mc.noDisk === 'boolean' ? mc.noDisk : fail(file, 'machine.noDisk', 'must be true or false');
  if (disk !== undefined && noDisk === true) fail(file, 'machine.noDisk', 'cannot be true together with machine.disk');
  const kc = json.kernel === undefined ? {} : json.kernel;
  if (!isObj(kc)) fail(file, 'kernel', 'must be an object');
  for (const k of Object.keys(kc)) if (k !== 'options') fail(file, `kernel.${k}`, 'is not a kernel field (known: options)');
  const options = kc.options ?? [];
  if (!Array.isArray(options) || !options.every((o) => typeof o === 'string' && /^\S+$/.test(o))) fail(file, 'kernel.options', 'must be an array of option words without spaces');
  const ex = json.expect;
  if (!isObj(ex)) fail(file, 'expect', 'must be an object');
  const expectKeys = ['markers', 'ordered', 'absent', 'stop', 'counts', 'interleave'];
  for (const k of Object.keys(ex)) if (!expectKeys.includes(k)) fail(file, `expect.${k}`, `is not an expect field (known: ${expectKeys.join(', ')})`);
  if (!Array.isArray(ex.markers)) fail(file, 'expect.markers', 'must be an array');
  const markers = ex.markers.map((m, i) => checkMarker(file, `expect.markers[${i}]`, m));
  const absentRaw = ex.absent ?? [];
  if (!Array.isArray(absentRaw)) fail(file, 'expect.absent', 'must be an array');
  const absent = absentRaw.map((m, i) => checkMarker(file, `expect.absent[${i}]`, m));
  const ordered = ex.ordered === undefined ? true : typeof ex.ordered === 'boolean' ? ex.ordered : fail(file, 'expect.ordered', 'must be true or false');
  const stop = (ex.stop ?? 'debug-exit') as StopReason;
  if (!STOP_REASONS.includes(stop)) fail(file, 'expect.stop', `must be one of ${STOP_REASONS.join(', ')}, got ${JSON.stringify(ex.stop)}`);
  let counts: Record<string, number> | undefined;
  if (ex.counts !== undefined) {
    if (!isObj(ex.counts)) fail(file, 'expect.counts', 'must be an object of marker -> minimum count');
    counts = {};
    for (const [m, c] of Object.entries(ex.counts)) counts[m] = checkInt(file, `expect.counts[${JSON.stringify(m)}]`, c, 0, 1_000_000);
  }
  let interleave: [string, string] | undefined;
  if (ex.interleave !== undefined) {
    if (!Array.isArray(ex.interleave) || ex.interleave.length !== 2 || !ex.interleave.every((x) => typeof x === 'string' && x.length > 0)) fail(file, 'expect.interleave', 'must be two non-empty line strings');
    interleave = [ex.interleave[0] as string, ex.interleave[1] as string];
  }
  const maxCycles = checkInt(file, 'maxCycles', json.maxCycles ?? 1_000_000_000, 1, Number.MAX_SAFE_INTEGER);
  let cpuCounts: number[] | undefined;
  if (json.cpuCounts !== undefined) {
    if (!Array.isArray(json.cpuCounts) || json.cpuCounts.length === 0) fail(file, 'cpuCounts', 'must be a non-empty array');
    cpuCounts = json.cpuCounts.map((c, i) => checkInt(file, `cpuCounts[${i}]`, c, 1, 8));
  }
  return {
    name,
    milestone,
    description,
    machine: { cpus, memoryMiB, ...(disk !== undefined ? { disk } : {}), ...(noDisk !== undefined ? { noDisk } : {}) },
    kernel: { options: options as string[] },
    expect: { markers, ordered, absent, stop, counts, interleave },
    maxCycles,
    cpuCounts,
    file,
  };
}

/** Loads and validates a scenario file. */
export function loadScenarioFile(path: string): Scenario {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ScenarioError(`scenario ${path}: cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ScenarioError(`scenario ${path}: is not valid JSON (${(e as Error).message})`);
  }
  return parseScenario(json, path);
}

/** Names of the bundled scenarios, sorted. */
export function scenarioNames(): string[] {
  return readdirSync(SCENARIO_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => basename(f, '.json'))
    .sort();
}

/** All bundled scenarios, sorted by name. */
export function allScenarios(): Scenario[] {
  return scenarioNames().map((n) => loadScenarioFile(join(SCENARIO_DIR, `${n}.json`)));
}

/** Resolves a bundled scenario name or a path to a scenario file; unknown names list the valid choices. */
export function resolveScenario(nameOrPath: string): Scenario {
  if (nameOrPath.endsWith('.json') || nameOrPath.includes('/')) {
    if (!existsSync(nameOrPath)) throw new ScenarioError(`scenario file ${nameOrPath} does not exist`);
    return loadScenarioFile(nameOrPath);
  }
  const names = scenarioNames();
  if (!names.includes(nameOrPath)) throw new ScenarioError(`unknown scenario '${nameOrPath}'. Valid scenarios: ${names.join(', ')}`);
  return loadScenarioFile(join(SCENARIO_DIR, `${nameOrPath}.json`));
}

/** Whether `sc` is one of the bundled scenarios (tokens then name it; otherwise they carry its path). */
export function isBundled(sc: Scenario): boolean {
  return sc.file === join(SCENARIO_DIR, `${sc.name}.json`);
}

/** Whether serial line `line` satisfies `m`. */
export function markerMatches(m: Marker, line: string): boolean {
  return typeof m === 'string' ? line.includes(m) : new RegExp(m.regex).test(line);
}

export function markerText(m: Marker): string {
  return typeof m === 'string' ? m : `/${m.regex}/`;
}

export interface MarkerCheck {
  /** Expected markers that were not seen (in order when ordered). */
  missing: string[];
  /** Absent markers that appeared. */
  forbidden: string[];
  /** Markers seen, in the order found. */
  seen: string[];
  /** Count requirements not met: "marker: seen n < min". */
  shortCounts: string[];
}

/** Checks the serial output against the scenario's markers. */
export function checkMarkers(sc: Scenario, serial: string): MarkerCheck {
  const lines = serial.split('\n');
  const missing: string[] = [];
  const seen: string[] = [];
  let from = 0;
  for (const m of sc.expect.markers) {
    const start = sc.expect.ordered ? from : 0;
    let found = -1;
    for (let i = start; i < lines.length; i++) {
      if (markerMatches(m, lines[i])) {
        found = i;
        break;
      }
    }
    if (found < 0) missing.push(markerText(m));
    else {
      seen.push(markerText(m));
      if (sc.expect.ordered) from = found + 1;
    }
  }
  const forbidden = sc.expect.absent.filter((m) => lines.some((l) => markerMatches(m, l))).map(markerText);
  const shortCounts: string[] = [];
  for (const [m, min] of Object.entries(sc.expect.counts ?? {})) {
    const n = lines.filter((l) => l === m).length;
    if (n < min) shortCounts.push(`${m}: ${n} < ${min}`);
  }
  const [x, y] = sc.expect.interleave ?? ['', ''];
  if (x !== '') {
    const seq = lines.filter((l) => l === x || l === y);
    let xy = false;
    let yx = false;
    for (let i = 1; i < seq.length; i++) {
      if (seq[i - 1] === x && seq[i] === y) xy = true;
      if (seq[i - 1] === y && seq[i] === x) yx = true;
    }
    if (!xy) missing.push(`interleave ${x} then ${y}`);
    if (!yx) missing.push(`interleave ${y} then ${x}`);
  }
  return { missing, forbidden, seen, shortCounts };
}

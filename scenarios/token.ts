// Replay tokens: one compact, copy-pasteable string that reproduces a run:
// the scenario, its options, the seed and the recorded non-zero decisions.
// Format: "rugo1." + base64url(deflate-raw(JSON)) + "." + 8 hex digits of
// FNV-1a over the JSON. A truncated, altered or foreign token is refused
// with a message that says what is wrong.
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { siteInfo, type Decision } from '../sim/decisions.ts';

export const TOKEN_PREFIX = 'rugo1.';

export interface ReplaySpec {
  /** Bundled scenario name or a scenario file path. */
  scenario: string;
  cpus: number;
  /** Extra kernel options (bug=..., ...) beyond the scenario's own. */
  options: string[];
  seed: number;
  /** How the decisions were made (for the record: replay uses only the list). */
  strategy: string;
  maxCycles?: number;
  decisions: Decision[];
}

/** Thrown for a token that cannot be used. */
export class TokenError extends Error {}

/** FNV-1a of `s` as 8 hex digits: a token's checksum. */
export function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

export function encodeToken(spec: ReplaySpec): string {
  const flat: number[] = [];
  let prev = 0;
  for (const d of spec.decisions) {
    flat.push(d.at - prev, d.site, d.value);
    prev = d.at;
  }
  const body: Record<string, unknown> = { v: 1, sc: spec.scenario, cpus: spec.cpus, opt: spec.options, seed: spec.seed, st: spec.strategy, d: flat };
  if (spec.maxCycles !== undefined) body.max = spec.maxCycles;
  const json = JSON.stringify(body);
  return TOKEN_PREFIX + deflateRawSync(Buffer.from(json, 'utf8'), { level: 9 }).toString('base64url') + '.' + fnv1a(json);
}

export function decodeToken(text: string): ReplaySpec {
  const t = text.trim();
  if (!t.startsWith(TOKEN_PREFIX)) throw new TokenError(`not a replay token: it must start with "${TOKEN_PREFIX}" (got "${t.slice(0, 12)}...")`);
  const parts = t.slice(TOKEN_PREFIX.length).split('.');
  if (parts.length !== 2 || parts[0].length === 0) throw new TokenError('replay token is truncated: expected "rugo1.<data>.<checksum>"');
  if (!/^[A-Za-z0-9_-]+$/.test(parts[0])) throw new TokenError('replay token data contains characters outside base64url: it was altered in copying');
  if (!/^[0-9a-f]{8}$/.test(parts[1])) throw new TokenError('replay token is truncated: its checksum (8 hex digits after the last ".") is missing or cut');
  let json: string;
  try {
    json = inflateRawSync(Buffer.from(parts[0], 'base64url')).toString('utf8');
  } catch {
    throw new TokenError('replay token is truncated or corrupted: its data does not decompress');
  }
  if (fnv1a(json) !== parts[1]) throw new TokenError('replay token checksum mismatch: it was truncated or altered');
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(json);
  } catch {
    throw new TokenError('replay token data is not valid JSON');
  }
  if (body.v !== 1) throw new TokenError(`replay token version ${String(body.v)} is not supported (this rugo-sim reads version 1)`);
  const str = (k: string): string => {
    if (typeof body[k] !== 'string') throw new TokenError(`replay token field ${k} is missing or not a string`);
    return body[k] as string;
  };
  const int = (k: string, lo: number, hi: number): number => {
    const v = body[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < lo || v > hi) throw new TokenError(`replay token field ${k} must be an integer in ${lo}..${hi}`);
    return v;
  };
  const opt = body.opt;
  if (!Array.isArray(opt) || !opt.every((o) => typeof o === 'string')) throw new TokenError('replay token field opt must be a list of option words');
  const flat = body.d;
  if (!Array.isArray(flat) || flat.length % 3 !== 0 || !flat.every((x) => Number.isSafeInteger(x) && x >= 0)) throw new TokenError('replay token decision list is malformed');
  const decisions: Decision[] = [];
  let at = 0;
  for (let i = 0; i < flat.length; i += 3) {
    at += flat[i] as number;
    const site = flat[i + 1] as number;
    const value = flat[i + 2] as number;
    if (siteInfo(site) === undefined) throw new TokenError(`replay token names unknown decision site ${site}`);
    if (value === 0 || (i > 0 && flat[i] === 0)) throw new TokenError('replay token decision list is malformed (zero value or repeated ordinal)');
    decisions.push({ at, site, value });
  }
  const spec: ReplaySpec = { scenario: str('sc'), cpus: int('cpus', 1, 8), options: opt as string[], seed: int('seed', 0, Number.MAX_SAFE_INTEGER), strategy: str('st'), decisions };
  if (body.max !== undefined) spec.maxCycles = int('max', 1, Number.MAX_SAFE_INTEGER);
  return spec;
}

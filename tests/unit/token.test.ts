// Replay tokens: a malformed, truncated, altered or foreign token is refused
// with a TokenError whose message says what is wrong; `rugo replay` turns
// those (and tokens for scenarios it does not have) into one-line errors
// with exit code 2, and reads a token from a file.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { decodeToken, encodeToken, fnv1a, TokenError, TOKEN_PREFIX, type ReplaySpec } from '../../scenarios/token.ts';
import { Site } from '../../sim/decisions.ts';
import { fuzz } from '../../scenarios/fuzz.ts';
import { loadScenarioFile, resolveScenario, SCENARIO_DIR } from '../../scenarios/scenario.ts';
import { runScenario } from '../../scenarios/runner.ts';

const ROOT = join(import.meta.dirname, '..', '..');

const SPEC: ReplaySpec = {
  scenario: 'lock-stress',
  cpus: 2,
  options: ['bug=lost-update', 'iters=30'],
  seed: 12345,
  strategy: 'random',
  maxCycles: 2_000_000_000,
  decisions: [
    { at: 3, site: Site.Jitter, value: 7 },
    { at: 40, site: Site.Pick, value: 1 },
    { at: 41, site: Site.IrqDelay, value: 2 },
    { at: 900, site: Site.Pick, value: 3 },
  ],
};
const TOKEN = encodeToken(SPEC);
const [, DATA, SUM] = TOKEN.split('.');

/** The error decodeToken throws for `t` (fails the test if it does not throw a TokenError). */
function refusal(t: string): TokenError {
  try {
    decodeToken(t);
  } catch (e) {
    expect(e).toBeInstanceOf(TokenError);
    return e as TokenError;
  }
  throw new Error(`token was accepted: ${t}`);
}


/** A token whose checksum is right but whose JSON body is `body`. */
function forged(body: unknown): string {
  const json = typeof body === 'string' ? body : JSON.stringify(body);
  return TOKEN_PREFIX + deflateRawSync(Buffer.from(json, 'utf8')).toString('base64url') + '.' + fnv1a(json);
}

const GOOD_BODY = { v: 1, sc: 'boot', cpus: 1, opt: [], seed: 1, st: 'random', d: [5, Site.Pick, 1] };

describe('replay token decoding', () => {
  it('a valid token decodes to its spec', () => {
    expect(TOKEN.startsWith(TOKEN_PREFIX)).toBe(true);
    expect(decodeToken(TOKEN)).toEqual(SPEC);
    expect(decodeToken(forged(GOOD_BODY))).toEqual({ scenario: 'boot', cpus: 1, options: [], seed: 1, strategy: 'random', decisions: [{ at: 5, site: Site.Pick, value: 1 }] });
  });

  it('refuses a wrong prefix', () => {
    expect(refusal('rugo2.' + TOKEN.slice(TOKEN_PREFIX.length)).message).toMatch(/not a replay token: it must start with "rugo1\."/);
    expect(refusal('hello').message).toMatch(/not a replay token/);
    expect(refusal('').message).toMatch(/not a replay token/);
    expect(refusal(TOKEN.slice(TOKEN_PREFIX.length)).message).toMatch(/not a replay token/);
  });

  it('refuses a token without its checksum', () => {
    expect(refusal(`${TOKEN_PREFIX}${DATA}`).message).toMatch(/truncated/);
    expect(refusal(`${TOKEN_PREFIX}${DATA}.`).message).toMatch(/checksum .* missing or cut/);
    expect(refusal(`${TOKEN_PREFIX}${DATA}.${SUM.slice(0, 5)}`).message).toMatch(/checksum .* missing or cut/);
    expect(refusal(TOKEN_PREFIX).message).toMatch(/truncated/);
  });

  it('refuses a token cut anywhere (every prefix of a valid token)', () => {
    for (let n = 0; n < TOKEN.length; n++) {
      const e = refusal(TOKEN.slice(0, n));
      expect(e.message, `cut at ${n}`).toMatch(/not a replay token|truncated|checksum|corrupted/);
    }
  });

  it('refuses data cut in the middle with the checksum kept', () => {
    const cut = `${TOKEN_PREFIX}${DATA.slice(0, Math.floor(DATA.length / 2))}.${SUM}`;
    expect(refusal(cut).message).toMatch(/truncated|corrupted|checksum mismatch/);
  });

  it('refuses a flipped character in the data or the checksum', () => {
    const mid = Math.floor(DATA.length / 2);
    const flip = (c: string): string => (c === 'A' ? 'B' : 'A');
    const badData = `${TOKEN_PREFIX}${DATA.slice(0, mid)}${flip(DATA[mid])}${DATA.slice(mid + 1)}.${SUM}`;
    expect(refusal(badData).message).toMatch(/truncated or corrupted|checksum mismatch/);
    const badSum = `${TOKEN_PREFIX}${DATA}.${SUM.slice(0, 7)}${SUM[7] === '0' ? '1' : '0'}`;
    expect(refusal(badSum).message).toBe('replay token checksum mismatch: it was truncated or altered');
  });

  it('any single changed character is refused or decodes to the very same spec', () => {
    // (The last base64url character carries padding bits that decoding ignores.)
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    fc.assert(
      fc.property(fc.nat({ max: TOKEN.length - 1 }), fc.constantFrom(...alphabet), (i, c) => {
        if (TOKEN[i] === c) return;
        const t = TOKEN.slice(0, i) + c + TOKEN.slice(i + 1);
        let spec: ReplaySpec | null = null;
        try {
          spec = decodeToken(t);
        } catch (e) {
          expect(e).toBeInstanceOf(TokenError);
        }
        if (spec !== null) expect(spec).toEqual(SPEC);
      }),
      { seed: 20261125, numRuns: 400 },
    );
  });

  it('refuses characters outside base64url', () => {
    for (const bad of ['+', '/', '=', ' ', '!', 'é']) {
      const t = `${TOKEN_PREFIX}${DATA.slice(0, 4)}${bad}${DATA.slice(5)}.${SUM}`;
      expect(refusal(t).message, bad).toMatch(/outside base64url/);
    }
  });

  it('refuses extra dots', () => {
    expect(refusal(`${TOKEN}.00000000`).message).toMatch(/truncated/);
  });

  it('refuses well-formed tokens with bad contents, naming the field', () => {
    expect(refusal(forged('not json')).message).toMatch(/not valid JSON/);
    expect(refusal(forged({ ...GOOD_BODY, v: 2 })).message).toMatch(/version 2 is not supported/);
    expect(refusal(forged({ ...GOOD_BODY, sc: 3 })).message).toMatch(/field sc is missing or not a string/);
    expect(refusal(forged({ ...GOOD_BODY, st: undefined })).message).toMatch(/field st/);
    expect(refusal(forged({ ...GOOD_BODY, cpus: 9 })).message).toMatch(/field cpus must be an integer in 1\.\.8/);
    expect(refusal(forged({ ...GOOD_BODY, cpus: 0 })).message).toMatch(/field cpus/);
    expect(refusal(forged({ ...GOOD_BODY, seed: -1 })).message).toMatch(/field seed/);
    expect(refusal(forged({ ...GOOD_BODY, max: 0 })).message).toMatch(/field max/);
    expect(refusal(forged({ ...GOOD_BODY, opt: 'bug=x' })).message).toMatch(/field opt must be a list/);
    expect(refusal(forged({ ...GOOD_BODY, d: [1, 2] })).message).toMatch(/decision list is malformed/);
    expect(refusal(forged({ ...GOOD_BODY, d: [1, 2, -3] })).message).toMatch(/decision list is malformed/);
    expect(refusal(forged({ ...GOOD_BODY, d: [1, 999, 1] })).message).toMatch(/unknown decision site 999/);
    expect(refusal(forged({ ...GOOD_BODY, d: [1, Site.Pick, 0] })).message).toMatch(/zero value/);
    expect(refusal(forged({ ...GOOD_BODY, d: [1, Site.Pick, 1, 0, Site.Pick, 1] })).message).toMatch(/repeated ordinal/);
  });

  it('a token from fuzzing a scenario file names the file, so it replays (even when the name shadows a bundled one)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rugo-token-sc-'));
    try {
      // Same name as the bundled lock-stress, different workload: replaying the bundled one would diverge.
      const json = JSON.parse(readFileSync(join(SCENARIO_DIR, 'lock-stress.json'), 'utf8'));
      json.kernel.options = [...json.kernel.options, 'iters=25', 'work=1500'];
      const file = join(dir, 'my-stress.json');
      writeFileSync(file, JSON.stringify(json));
      const sc = loadScenarioFile(file);
      const s = fuzz(sc, { runs: 3, strategy: 'random', depth: 2, seed: 1, cpus: 2, extraOptions: ['bug=lost-update'], stopOnFailure: true });
      const f = s.firstFailure;
      expect(f?.kind).toBe('lost-update');
      const spec = decodeToken(f?.token ?? '');
      expect(spec.scenario).not.toBe('lock-stress');
      const r = runScenario(resolveScenario(spec.scenario), { strategy: 'replay', decisions: spec.decisions, cpus: spec.cpus, extraOptions: spec.options, maxCycles: spec.maxCycles });
      expect(r.traceHash).toBe(f?.traceHash);
      expect(r.run.serial).toMatch(/KASSERT: lost-update: counter is \d+, expected 100 /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a token for an unknown scenario still decodes (the CLI refuses it)', () => {
    expect(decodeToken(encodeToken({ ...SPEC, scenario: 'x' })).scenario).toBe('x');
  });
});

function rugo(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('node', ['bin/rugo.mjs', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('rugo replay refuses bad tokens with one line', () => {
  it('a token for a scenario this rugo-sim does not have: exit 2, one line, no stack trace', () => {
    const r = rugo('replay', encodeToken({ ...SPEC, scenario: 'x', options: [] }));
    expect(r.status).toBe(2);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^rugo: replay token is for scenario 'x'/);
    expect(lines[0]).toContain('lock-stress');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a file holding a token works; a nonexistent path or a bad token is a clear error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rugo-token-'));
    try {
      const file = join(dir, 'boot.token');
      const token = encodeToken({ scenario: 'boot', cpus: 1, options: [], seed: 5, strategy: 'random', decisions: [] });
      writeFileSync(file, `${token}\n`);
      const ok = rugo('replay', file, '--json', '--quiet');
      expect(ok.stderr).toBe('');
      expect(ok.status).toBe(0);
      const summary = JSON.parse(ok.stdout.trimEnd().split('\n').at(-1) ?? '');
      expect(summary.scenario).toBe('boot');
      expect(summary.verdict).toBe('pass');
      expect(summary.replayedDecisions).toBe(0);

      const missing = rugo('replay', join(dir, 'nope.token'));
      expect(missing.status).toBe(2);
      expect(missing.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(missing.stderr).toMatch(/^rugo: '.*nope\.token' is neither a replay token \(starting with rugo1\.\) nor a file/);

      // A file holding a damaged token: the token's own error.
      const damaged = join(dir, 'damaged.token');
      writeFileSync(damaged, `${token.slice(0, token.length - 3)}\n`);
      const bad = rugo('replay', damaged);
      expect(bad.status).toBe(2);
      expect(bad.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(bad.stderr).toMatch(/^rugo: replay token is truncated/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

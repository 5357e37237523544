// The `rugo` command end to end (node bin/rugo.mjs, as a user runs it):
// list, run, fuzz and replay, their --json summaries, exit codes, one-line
// errors and --help. Each spawn costs ~0.5 s, so the spawns are few and the
// independent ones run concurrently.
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scenarioNames } from '../../scenarios/scenario.ts';
import { decodeToken } from '../../scenarios/token.ts';

const ROOT = join(import.meta.dirname, '..', '..');

interface Out {
  status: number | null;
  stdout: string;
  stderr: string;
}

function rugo(...args: string[]): Out {
  const r = spawnSync('node', ['bin/rugo.mjs', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function rugoAsync(...args: string[]): Promise<Out> {
  return new Promise((resolve, reject) => {
    const p = spawn('node', ['bin/rugo.mjs', ...args], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    p.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    p.on('error', reject);
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

function lastJson(out: Out): Record<string, any> {
  const last = out.stdout.trimEnd().split('\n').at(-1) ?? '';
  return JSON.parse(last) as Record<string, any>;
}

function expectOneLineError(out: Out): string {
  const lines = out.stderr.trimEnd().split('\n');
  expect(out.stderr).not.toMatch(/\n\s+at /); // no stack trace
  expect(out.stderr).not.toContain('internal error');
  return lines[0];
}

const tmp = mkdtempSync(join(tmpdir(), 'rugo-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('rugo list', () => {
  it('lists every bundled scenario, one line each, and --bugs lists the planted bugs', async () => {
    const [list, bugs] = await Promise.all([rugoAsync('list'), rugoAsync('list', '--bugs')]);
    expect(list.status).toBe(0);
    const names = list.stdout.trimEnd().split('\n').map((l) => l.split(/\s+/)[0]);
    expect(names).toEqual(scenarioNames());
    for (const n of ['boot', 'panic', 'paging', 'page-fault', 'idt', 'timer-ticks', 'two-threads', 'lock-stress', 'mutex-handoff']) expect(names).toContain(n);
    expect(bugs.status).toBe(0);
    const bugLines = bugs.stdout.trimEnd().split('\n');
    expect(bugLines.find((l) => l.startsWith('lost-update'))).toContain('lock-stress');
    expect(bugLines.find((l) => l.startsWith('lost-wakeup'))).toContain('mutex-handoff');
  });
});

describe('rugo run', () => {
  it('run boot --json exits 0 and ends with a JSON summary', () => {
    const out = rugo('run', 'boot', '--json');
    expect(out.stderr).toBe('');
    expect(out.status).toBe(0);
    expect(out.stdout).toContain('RUGO: boot ok');
    const j = lastJson(out);
    for (const k of ['scenario', 'seed', 'verdict', 'stopReason', 'cycles', 'traceHash', 'wallMs']) expect(j, k).toHaveProperty(k);
    expect(j.scenario).toBe('boot');
    expect(j.seed).toBe(1);
    expect(j.verdict).toBe('pass');
    expect(j.stopReason).toBe('debug-exit');
    expect(j.cycles).toBeGreaterThan(0);
    expect(j.traceHash).toMatch(/^[0-9a-f]+$/);
    expect(typeof j.wallMs).toBe('number');
  });

  it('bad input: an unknown scenario and a bad seed exit 2 with one line', async () => {
    const [nope, seed] = await Promise.all([rugoAsync('run', 'nope'), rugoAsync('run', 'boot', '--seed', 'abc')]);
    expect(nope.status).toBe(2);
    expect(nope.stdout).toBe('');
    expect(nope.stderr.trimEnd().split('\n')).toHaveLength(1);
    const line = expectOneLineError(nope);
    expect(line).toMatch(/^rugo: unknown scenario 'nope'\. Valid scenarios: /);
    for (const n of scenarioNames()) expect(line).toContain(n);
    expect(seed.status).toBe(2);
    expect(expectOneLineError(seed)).toMatch(/--seed.*'abc'.*non-negative integer/);
  });
});

describe('rugo fuzz and rugo replay', () => {
  it('fuzz finds the planted lost-update, writes the token file, and the token replays deterministically', async () => {
    const tokenFile = join(tmp, 'sub', 'first.token');
    const out = rugo('fuzz', 'lock-stress', '--bug', 'lost-update', '--runs', '5', '--cpus', '2', '--json', '--no-progress', '--token-file', tokenFile);
    expect(out.status).toBe(1);
    const j = lastJson(out);
    expect(j.runs).toBe(5);
    expect(j.failures).toBeGreaterThan(0);
    expect(j.runsPerSec).toBeGreaterThan(0);
    expect(j.byKind).toHaveProperty('lost-update');
    expect(j.firstFailure).toMatchObject({ run: expect.any(Number), token: expect.stringMatching(/^rugo1\./), verdict: 'fail', kind: 'lost-update' });
    expect(existsSync(tokenFile)).toBe(true);
    const token = readFileSync(tokenFile, 'utf8').trim();
    expect(token).toBe(j.firstFailure.token);
    const spec = decodeToken(token);
    expect(spec).toMatchObject({ scenario: 'lock-stress', cpus: 2, strategy: 'random' });
    expect(spec.options).toContain('bug=lost-update');
    // The human line printed for the failure carries the same token.
    expect(out.stdout).toContain(`replay: npx rugo replay ${token}`);

    const [a, b] = await Promise.all([rugoAsync('replay', tokenFile, '--json'), rugoAsync('replay', tokenFile, '--json')]);
    expect(a.status).toBe(1);
    expect(b.status).toBe(1);
    const ja = lastJson(a);
    const jb = lastJson(b);
    expect(ja.verdict).toBe('fail');
    expect(ja.scenario).toBe('lock-stress');
    expect(ja.cpus).toBe(2);
    expect(ja.traceHash).toBe(jb.traceHash);
    expect(ja.cycles).toBe(jb.cycles);
    expect(ja.replayedDecisions).toBe(spec.decisions.length);
    expect(a.stdout).toMatch(/^KASSERT: lost-update: counter is \d+, expected \d+ /m);
  });
});

describe('--option', () => {
  it('adds kernel options to run and fuzz; fuzz tokens carry them; bad options exit 2 with one line', async () => {
    const [two, three, nope, bug, notInt] = await Promise.all([
      rugoAsync('run', 'ping-pong', '--option', 'arg=2', '--json', '--quiet'),
      rugoAsync('run', 'ping-pong', '--option', 'arg=3', '--json', '--quiet'),
      rugoAsync('fuzz', 'ping-pong', '--option', 'nope=1', '--runs', '1'),
      rugoAsync('run', 'lock-stress', '--option', 'bug=lost-update'),
      rugoAsync('run', 'ping-pong', '--option', 'arg=two'),
    ]);
    expect(two.status).toBe(0);
    const j2 = lastJson(two);
    const j3 = lastJson(three);
    expect(j2.options).toEqual(['test=user', 'prog=ping-pong', 'arg=2']);
    expect(j2.verdict).toBe('pass');
    // The option reached the program: 2 and 3 round trips are 4 and 6 messages.
    expect(j2.metrics.ipc.sends).toBe(4);
    expect(j3.metrics.ipc.sends).toBe(6);
    expect(j3.metrics.ipc.receives).toBe(6);
    expect(nope.status).toBe(2);
    expect(expectOneLineError(nope)).toMatch(/unknown kernel option 'nope'/);
    expect(bug.status).toBe(2);
    expect(expectOneLineError(bug)).toMatch(/use --bug lost-update/);
    expect(notInt.status).toBe(2);
    expect(expectOneLineError(notInt)).toMatch(/arg takes a non-negative integer/);

    const tokenFile = join(tmp, 'opt', 'first.token');
    const f = rugo('fuzz', 'lock-stress', '--bug', 'lost-update', '--option', 'hz=200', '--runs', '5', '--cpus', '2', '--json', '--no-progress', '--token-file', tokenFile);
    expect(f.status).toBe(1);
    const spec = decodeToken(readFileSync(tokenFile, 'utf8').trim());
    expect(spec.options).toContain('hz=200');
    expect(spec.options).toContain('bug=lost-update');
  });
});

describe('--help', () => {
  it('run, fuzz, replay and list each have --help', async () => {
    const cmds = ['run', 'fuzz', 'replay', 'list'];
    const outs = await Promise.all(cmds.map((c) => rugoAsync(c, '--help')));
    cmds.forEach((c, i) => {
      const o = outs[i];
      expect(o.status, c).toBe(0);
      expect(o.stdout, c).toContain(`Usage: rugo ${c}`);
      expect(o.stdout, c).toContain('--help');
    });
    expect(outs[0].stdout).toContain('--seed');
    expect(outs[1].stdout).toContain('--token-file');
    expect(outs[1].stdout).toContain('--bug');
    expect(outs[2].stdout).toContain('<token>');
    expect(outs[3].stdout).toContain('--bugs');
  });
});

// File-system errors on paths the user gave are one-line usage errors
// (exit code 2), never "rugo: internal error" (exit code 70).
describe('file-system errors on user paths are one-line usage errors', () => {
  // cli/commands/replay.ts readTokenArg: existsSync() is true for a directory,
  // then readFileSync throws EISDIR. Fix: check statSync(arg).isFile() and wrap
  // read errors in UsageError ("cannot read token file <arg>: EISDIR").
  it('rugo replay <a directory> exits 2', () => {
    const out = rugo('replay', tmp);
    expect(out.status).toBe(2);
    expect(expectOneLineError(out)).toMatch(/^rugo: /);
  });

  // cli/commands/run.ts traceFile: openSync(path, 'w') is not wrapped, so a
  // --trace path in a missing directory is an internal error (ENOENT). Fix:
  // catch it (or mkdir the parent, as fuzz does for --token-file) and throw UsageError.
  it('rugo run --trace <path in a missing directory> exits 2', () => {
    const out = rugo('run', 'boot', '--quiet', '--trace', join(tmp, 'no-such-dir', 't.json'));
    expect(out.status).toBe(2);
    expect(expectOneLineError(out)).toMatch(/^rugo: .*t\.json/);
  });

  // cli/commands/fuzz.ts: --token-file is only touched after the whole
  // campaign; mkdirSync(dirname) throws EEXIST when a parent is a regular
  // file, so the summary is lost and the exit code is 70. Fix: validate
  // (or create) the token file's directory before fuzzing, and wrap the
  // write in a UsageError.
  it('rugo fuzz --token-file <path under a regular file> exits 2 before fuzzing', () => {
    const file = join(tmp, 'a-regular-file');
    writeFileSync(file, 'x');
    const out = rugo('fuzz', 'lock-stress', '--bug', 'lost-update', '--runs', '1', '--no-progress', '--token-file', join(file, 'x.token'));
    expect(out.status).toBe(2);
    expect(expectOneLineError(out)).toMatch(/^rugo: .*a-regular-file/);
  });
});

// Properties of user processes (M3, M4):
//  a. IPC conservation: N senders, M receivers, 1-4 CPUs, random schedules;
//     every message arrives exactly once, in order per sender (stress-ipc
//     checks this itself and prints STRESS: ipc ok);
//  b. isolation: thousands of pseudo-random syscalls (random numbers,
//     kernel/HHDM/kernel-image/other-process pointers, lengths, handles)
//     never crash the kernel, never reach a canary process's memory;
//  c. a user fault at a random point, of a random kind, kills only that
//     process: a bystander finishes, the kernel halts normally;
//  d. determinism of user scenarios: same seed, same trace hash; replaying
//     the recorded decisions of an SMP run gives the same trace hash.
// Every fc.assert has a fixed seed and a bounded numRuns; on failure
// fast-check prints the seed and the counterexample path to rerun it.
//
// RUGO_ISOLATION_CALLS=<n> sets the syscalls per isolation run (default
// 2500, rounded down to a multiple of 4, at most 262,140), for long runs.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { resolveScenario, type Scenario } from '../scenarios/scenario.ts';
import { buildMachine, runScenario, type ScenarioResult } from '../scenarios/runner.ts';
import type { Observer } from '../sim/observer.ts';
import type { TrapFrame } from '../sim/x86/cpu.ts';
import { SYS } from '../os/syscall/abi.ts';

const SEED = 4242;

function why(r: ScenarioResult): string {
  return `${r.scenario} [${r.options.join(' ')}] on ${r.cpus} CPU(s), seed ${r.seed}: verdict ${r.verdict} (${r.reasons.join('; ')}), stop ${r.stopReason} ${r.message}\nserial:\n${r.run.serial}`;
}

function lines(r: ScenarioResult): string[] {
  return r.run.serial.split('\n');
}

/** A scenario running user program `prog` with `arg`, judged by `markers` (in order) and `absent`. */
function programScenario(from: string, prog: string, arg: number, markers: string[], absent: string[], maxCycles: number): Scenario {
  const base = resolveScenario(from);
  return {
    ...base,
    name: `${prog}(${arg})`,
    kernel: { options: ['test=user', `prog=${prog}`, `arg=${arg}`] },
    expect: { ...base.expect, markers, ordered: true, absent, stop: 'debug-exit' },
    maxCycles,
  };
}

// ---- a ------------------------------------------------------------------------

describe('a. IPC conservation: N senders, M receivers, up to 4 CPUs, random schedules', () => {
  const stressIpc = resolveScenario('stress-ipc');

  it('stress-ipc: every message arrives exactly once and in order per sender', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 5, max: 30 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 4 }),
        fc.nat(),
        (senders, msgs, receivers, cpus, seed) => {
          const arg = senders | (msgs << 8) | (receivers << 20);
          const r = runScenario(stressIpc, { seed, cpus, extraOptions: [`arg=${arg}`] });
          expect(r.verdict, why(r)).toBe('pass');
          expect(lines(r), why(r)).toContain('STRESS: ipc ok');
          expect(lines(r), why(r)).toContain('PROC: stress-ipc pid 1 exited with 0');
        },
      ),
      { seed: SEED, numRuns: 8 },
    );
  });
});

// ---- b ------------------------------------------------------------------------

/** Syscalls per isolation run: RUGO_ISOLATION_CALLS, default 2500 (the program takes count / 4 in 16 bits). */
function isolationCalls(): number {
  const env = process.env.RUGO_ISOLATION_CALLS;
  if (env === undefined || env.trim() === '') return 2500;
  const n = Number(env);
  if (!Number.isSafeInteger(n) || n < 4) throw new Error(`RUGO_ISOLATION_CALLS must be an integer >= 4, got '${env}'`);
  return Math.min(Math.floor(n / 4), 0xffff) * 4;
}

const CALLS = isolationCalls();
const CI_MIN_TOTAL_CALLS = 10_000;
const ISOLATION_RUNS = 4;

/** syscall-fuzz with `count` calls from program seed `fuzzSeed` (1..65535): arg = seed * 65536 + count / 4. */
function fuzzScenario(fuzzSeed: number, count: number): Scenario {
  return programScenario('user-hello', 'syscall-fuzz', fuzzSeed * 65536 + count / 4, ['CANARY: ok', 'FUZZ: syscalls ok', 'RUGO: halt ok'], ['KASSERT:', 'RUGO: panic code='], 2e10);
}

/** Runs one isolation case; returns the number of syscalls the program reports. */
function isolationRun(fuzzSeed: number, runSeed: number, cpus: number): number {
  const r = runScenario(fuzzScenario(fuzzSeed, CALLS), { seed: runSeed, cpus });
  const ctx = why(r);
  expect(r.verdict, ctx).toBe('pass');
  expect(r.stopReason, ctx).toBe('debug-exit'); // not sim-error, guest-crash, triple-fault or max-cycles
  expect(r.run.exitStatus, ctx).toBe(1); // the kernel's halt, not a user write to 0xf4
  const ls = lines(r);
  expect(ls, ctx).toContain('CANARY: ok');
  expect(ls, ctx).toContain(`FUZZ: syscalls ok ${CALLS}`);
  expect(ls, ctx).toContain('PROC: syscall-fuzz pid 1 exited with 0');
  expect(ls.filter((l) => l.includes('KASSERT:') || l.includes('RUGO: panic') || l.includes('CANARY: corrupted') || l.startsWith('USER: killed')), ctx).toEqual([]);
  const m = /^FUZZ: syscalls ok (\d+)$/m.exec(r.run.serial);
  return m === null ? 0 : Number(m[1]);
}

describe('b. isolation: random syscalls never reach kernel or other-process memory', () => {
  it(`syscall-fuzz: ${ISOLATION_RUNS} runs x ${CALLS} random syscalls on 1 CPU; the canary's memory is untouched and the kernel halts cleanly`, () => {
    let total = 0;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 0xffff }), fc.nat(), (fuzzSeed, runSeed) => {
        total += isolationRun(fuzzSeed, runSeed, 1);
      }),
      { seed: SEED, numRuns: ISOLATION_RUNS },
    );
    expect(total).toBe(ISOLATION_RUNS * CALLS);
    if (process.env.RUGO_ISOLATION_CALLS === undefined) expect(total).toBeGreaterThanOrEqual(CI_MIN_TOTAL_CALLS);
  });

  it(`syscall-fuzz on 2 CPUs (${CALLS} calls; the canary runs beside the fuzzer)`, () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 0xffff }), fc.nat(), (fuzzSeed, runSeed) => {
        expect(isolationRun(fuzzSeed, runSeed, 2)).toBe(CALLS);
      }),
      { seed: SEED + 1, numRuns: 1 },
    );
  });

  it('the fuzzer really fuzzes: many syscall numbers, kernel pointers and bad handles reach int 0x80', () => {
    const m = buildMachine(fuzzScenario(7, 1000), { seed: 7 });
    const byNum = new Map<number, number>();
    let calls = 0;
    let kernelPtrs = 0;
    const obs: Observer = {
      onSwitch() {},
      onTrap(cpu: number, _cycles: number, tf: TrapFrame) {
        if (tf.vector !== 0x80 || tf.cpl !== 3 || tf.regs === null) return;
        const proc = (m.cpus[cpu].stack.owner as { proc: { name: string } | null } | null)?.proc;
        if (proc?.name !== 'syscall-fuzz') return;
        calls++;
        byNum.set(tf.regs.rax, (byNum.get(tf.regs.rax) ?? 0) + 1);
        if (tf.regs.rdi < 0 || tf.regs.rsi < 0) kernelPtrs++;
      },
      onIret() {},
      onHalt() {},
    };
    m.observer = obs;
    const run = m.run();
    m.dispose();
    expect(run.stopReason, run.serial).toBe('debug-exit');
    expect(run.serial).toContain('FUZZ: syscalls ok 1000');
    expect(calls).toBeGreaterThanOrEqual(800); // exit, thread_exit, thread_spawn and wait are skipped
    const fuzzed = [...byNum.keys()].filter((n) => n !== SYS.exit && n !== SYS.thread_exit && n !== SYS.thread_spawn && n !== SYS.wait);
    expect(fuzzed.length).toBeGreaterThanOrEqual(18);
    expect(kernelPtrs).toBeGreaterThan(50);
  });

  // Bug (see the report), two parts. (1) The syscall-fuzz program
  // (os/user/programs.ts, syscallFuzz) drains an endpoint only after a
  // successful *blocking* send; a successful non-blocking send leaves the
  // depth-1 queue full, so a later blocking send to that endpoint (it holds
  // the only handles) sleeps forever. (2) The kernel then panics: the
  // deadlock checker (os/sched/sched.ts, checkProgress) KASSERTs
  // "deadlock: no runnable thread and nothing can wake: main on
  // syscall-fuzz, syscall-fuzz.1.1 on ep0.space", so any ring-3 program can
  // panic the kernel with three syscalls (create an endpoint, send, send
  // with IPC_SEND_BLOCK), against "nothing a user passes can ... panic the
  // kernel" (os/syscall/syscall.ts). The CI runs (2500 calls, fixed seeds)
  // do not hit it; RUGO_ISOLATION_CALLS=10000 or more does (e.g. 60000,
  // seed 1). Fix: drain after every successful send in syscallFuzz; in the
  // kernel, a deadlock made only of user-requested waits should not be a
  // KASSERT (kill the stuck processes or keep idling).
  it('syscall-fuzz with 10,000 calls (fuzz seed 9) finishes without a KASSERT', () => {
    const r = runScenario(fuzzScenario(9, 10_000), { seed: 1 });
    expect(r.run.serial, why(r)).not.toContain('KASSERT:');
    expect(r.verdict, why(r)).toBe('pass');
  });

  it('the fuzz scenario fails its verdict when the canary marker is missing (the check has teeth)', () => {
    const sc = fuzzScenario(1, 4);
    const r = runScenario({ ...sc, expect: { ...sc.expect, markers: ['CANARY: corrupted'] } }, { seed: 1 });
    expect(r.verdict).toBe('fail');
    expect(r.reasons).toContain('missing marker: CANARY: corrupted');
  });
});

// ---- c ------------------------------------------------------------------------

/** fault-random's kill line for each way it faults (programs.ts: 0 null write, 1 code write, 2 cli, 3 ud2, 4 outb 0xf4, 5 hlt, 6 divide by zero). */
const KILL_LINE: Record<number, RegExp> = {
  0: /^USER: killed pid=1 fault-random: #PF addr=0x0 err=0x6$/,
  1: /^USER: killed pid=1 fault-random: #PF addr=0x400000 err=0x7$/,
  2: /^USER: killed pid=1 fault-random: #GP/,
  3: /^USER: killed pid=1 fault-random: #UD/,
  4: /^USER: killed pid=1 fault-random: #GP/,
  5: /^USER: killed pid=1 fault-random: #GP/,
  6: /^USER: killed pid=1 fault-random: #DE/,
};

/** Runs fault-random with `arg`; checks containment; returns the way it faulted. */
function faultRun(arg: number, seed: number, cpus: number): number {
  const sc = programScenario('user-fault', 'fault-random', arg, ['FAULT: bystander ok', 'USER: killed', 'RUGO: halt ok'], ['KASSERT:', 'RUGO: panic code=', 'FAULT: not killed', 'FAULT: bystander err'], 3e9);
  const r = runScenario(sc, { seed, cpus });
  const ctx = why(r);
  expect(r.verdict, ctx).toBe('pass');
  expect(r.stopReason, ctx).toBe('debug-exit');
  const ls = lines(r);
  const by = ls.findIndex((l) => l.startsWith('FAULT: bystander ok way='));
  const killed = ls.findIndex((l) => l.startsWith('USER: killed'));
  const exited = ls.indexOf('PROC: fault-random pid 1 exited with -1');
  const halt = ls.indexOf('RUGO: halt ok');
  expect(by, ctx).toBeGreaterThanOrEqual(0);
  expect(killed, ctx).toBeGreaterThan(by);
  expect(exited, ctx).toBeGreaterThan(killed);
  expect(halt, ctx).toBeGreaterThan(exited);
  expect(ls.filter((l) => l.startsWith('USER: killed')), ctx).toHaveLength(1); // the bystander is never killed
  const way = Number(/way=(\d)/.exec(ls[by])?.[1]);
  expect(ls[killed], ctx).toMatch(KILL_LINE[way]);
  return way;
}

describe('c. user faults at random points never take the kernel down', () => {
  it('fault-random: the faulting process is killed, the bystander finishes, the kernel halts (1-2 CPUs)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.nat(), fc.integer({ min: 1, max: 2 }), (arg, seed, cpus) => {
        faultRun(arg, seed, cpus);
      }),
      { seed: SEED, numRuns: 10 },
    );
  });

  it('every kind of fault the program has (7 ways: #PF, #GP, #UD, #DE) is contained', () => {
    const ways = new Set<number>();
    for (let arg = 0; arg < 200 && ways.size < 7; arg++) ways.add(faultRun(arg, arg + 1, 1 + (arg % 2)));
    expect([...ways].sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });
});

// ---- d ------------------------------------------------------------------------

describe('d. determinism of user scenarios', () => {
  const pingPong = resolveScenario('ping-pong');

  it('ping-pong: the same seed twice gives the same trace hash, serial and cycles (1-4 CPUs)', () => {
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 1, max: 4 }), (seed, cpus) => {
        const a = runScenario(pingPong, { seed, cpus });
        const b = runScenario(pingPong, { seed, cpus });
        expect(a.verdict, why(a)).toBe('pass');
        expect(b.traceHash).toBe(a.traceHash);
        expect(b.run.serial).toBe(a.run.serial);
        expect(b.cycles).toBe(a.cycles);
        expect(b.run.decisions).toEqual(a.run.decisions);
      }),
      { seed: SEED, numRuns: 3 },
    );
  });

  it('ping-pong on 2 CPUs: replaying the recorded decisions gives the same trace hash', () => {
    fc.assert(
      fc.property(fc.nat(), (seed) => {
        const cpus = 2;
        const r = runScenario(pingPong, { seed, cpus });
        expect(r.verdict, why(r)).toBe('pass');
        expect(r.run.decisions.length).toBeGreaterThan(0); // the replay has something to replay
        const again = runScenario(pingPong, { strategy: 'replay', decisions: r.run.decisions, cpus });
        expect(again.stopReason, why(again)).toBe('debug-exit'); // not replay-diverged
        expect(again.traceHash).toBe(r.traceHash);
        expect(again.run.serial).toBe(r.run.serial);
        expect(again.cycles).toBe(r.cycles);
      }),
      { seed: SEED, numRuns: 2 },
    );
  });

  it('ping-pong on 2 CPUs: different seeds give different schedules (the trace hash sees them)', () => {
    const hashes = new Set([1, 2, 3, 4].map((seed) => runScenario(pingPong, { seed, cpus: 2 }).traceHash));
    expect(hashes.size).toBeGreaterThan(1);
  });
});

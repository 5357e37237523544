// Acceptance for user processes (M3, M4) and the quota/pressure/stress
// lists: every scenario passes, and its serial console shows the rugo-facts
// markers exactly (whole lines, in order), the process's exit line and the
// halt, and never a KASSERT or a panic. ping-pong and stress-ipc also run on
// every CPU count of their scenario's cpuCounts. Each case runs under two
// random seeds and the nominal schedule.
import { describe, expect, it } from 'vitest';
import { resolveScenario } from '../../scenarios/scenario.ts';
import { runScenario, type RunOptions, type ScenarioResult } from '../../scenarios/runner.ts';

interface Expected {
  /** The rugo-facts markers: each must be a whole serial line (or a line prefix, see PREFIX), in this order. */
  markers: string[];
  /** The program's exact transcript: every serial line after the boot preamble. */
  transcript: string[];
  /** Lines that must never appear (substring match), besides KASSERT and panic. */
  absent?: string[];
}

/** Markers that open a longer line (the kill line names the process and the fault). */
const PREFIX = new Set(['USER: killed']);

/** Exit and halt lines every user scenario ends with. */
function tail(prog: string, code = 0): string[] {
  return [`PROC: ${prog} pid 1 exited with ${code}`, 'RUGO: halt ok'];
}

/** A scenario whose program prints exactly its markers, then exits with 0. */
function plain(prog: string, ...markers: string[]): Expected {
  return { markers: [...markers, 'RUGO: halt ok'], transcript: [...markers, ...tail(prog)] };
}

const EXPECTED: Record<string, Expected> = {
  // ---- M3
  'user-hello': plain('user-hello', 'USER: hello'),
  'syscall-roundtrip': { markers: ['SYSCALL: ok', 'RUGO: halt ok'], transcript: ['roundtrip', 'SYSCALL: ok', ...tail('syscall-roundtrip')] },
  'thread-exit': plain('thread-exit', 'THREAD_EXIT: ok'),
  'user-fault': {
    markers: ['USER: killed', 'RUGO: halt ok'],
    // #PF at 0x10, err 0x6 = not present | write | user; the process exits with -1.
    transcript: ['USER: about to fault', 'USER: killed pid=1 user-fault: #PF addr=0x10 err=0x6', ...tail('user-fault', -1)],
    absent: ['USER: survived'],
  },
  spawn: { ...plain('spawn', 'SPAWN: child ok', 'SPAWN: main ok'), absent: ['SPAWN: spawn err'] },
  'vm-map': { ...plain('vm-map', 'VM: map ok'), absent: ['VM: map err'] },
  yield: plain('yield', 'YIELD: ok'),
  'syscall-invalid': plain('syscall-invalid', 'SYSCALL: invalid ok'),
  // ---- M4
  'ping-pong': plain('ping-pong', 'PONG: ok', 'PING: ok'),
  'shm-bulk': plain('shm-bulk', 'SHM: checksum ok'),
  'ipc-badptr': plain('ipc-badptr', 'IPC: badptr send ok', 'IPC: badptr recv ok'),
  'ipc-full': plain('ipc-full', 'IPC: full ok'),
  'ipc-waiter-strict': plain('ipc-waiter-strict', 'IPC: waiter strict ok'),
  'svc-overwrite': plain('svc-overwrite', 'SVC: overwrite ok'),
  'svc-full': plain('svc-full', 'SVC: full ok'),
  'svc-bad-endpoint': plain('svc-bad-endpoint', 'SVC: bad endpoint ok'),
  'svc-badptr': plain('svc-badptr', 'SVC: badptr ok'),
  // ---- quotas, pressure, stress
  'quota-endpoints': plain('quota-endpoints', 'QUOTA: endpoints ok'),
  'quota-shm': plain('quota-shm', 'QUOTA: shm ok'),
  'quota-threads': plain('quota-threads', 'QUOTA: threads ok'),
  'pressure-shm': plain('pressure-shm', 'PRESSURE: shm ok'),
  'stress-syscall': plain('stress-syscall', 'STRESS: syscall ok'),
  'stress-ipc': plain('stress-ipc', 'STRESS: ipc ok'),
};

/** Scenarios that must also pass on more than one CPU (their cpuCounts). */
const SMP = new Set(['ping-pong', 'stress-ipc']);

const PREAMBLE = [/^RUGO: boot ok$/, /^MM: paging=on$/, /^TIMER: lapic \d+ per tick at 100 Hz$/];
const NEVER = ['KASSERT:', 'RUGO: panic', 'PANIC:', 'MACHINE:'];

const SCHEDULES: { label: string; opts: RunOptions }[] = [
  { label: 'seed 1', opts: { seed: 1 } },
  { label: 'seed 424242', opts: { seed: 424242 } },
  { label: 'nominal', opts: { strategy: 'nominal' } },
];

function why(r: ScenarioResult): string {
  return `${r.scenario} on ${r.cpus} CPU(s), seed ${r.seed}: verdict ${r.verdict} (${r.reasons.join('; ')}), stop ${r.stopReason} ${r.message}\nserial:\n${r.run.serial}`;
}

function lineMatches(marker: string, line: string): boolean {
  return PREFIX.has(marker) ? line.startsWith(marker) : line === marker;
}

function check(r: ScenarioResult, ex: Expected): void {
  const ctx = why(r);
  expect(r.reasons, ctx).toEqual([]);
  expect(r.verdict, ctx).toBe('pass');
  expect(r.stopReason, ctx).toBe('debug-exit');
  expect(r.run.exitStatus, ctx).toBe(1); // halt writes 0 to isa-debug-exit: status (0 << 1) | 1
  const lines = r.run.serial.split('\n');
  expect(lines.pop(), ctx).toBe(''); // the console ends with a newline
  // The rugo-facts markers, as whole lines, in order.
  let from = 0;
  for (const m of ex.markers) {
    const at = lines.findIndex((l, i) => i >= from && lineMatches(m, l));
    expect(at, `marker '${m}' (after line ${from}) in ${ctx}`).toBeGreaterThanOrEqual(0);
    from = at + 1;
  }
  for (const bad of [...NEVER, ...(ex.absent ?? [])]) expect(lines.filter((l) => l.includes(bad)), ctx).toEqual([]);
  // The exact transcript: boot preamble, then the program's lines, the exit line and the halt.
  for (let i = 0; i < PREAMBLE.length; i++) expect(lines[i], ctx).toMatch(PREAMBLE[i]);
  expect(lines.slice(PREAMBLE.length), ctx).toEqual(ex.transcript);
}

describe('user scenarios (M3, M4, quotas, pressure, stress)', () => {
  it('covers every bundled M3/M4 scenario', () => {
    for (const name of Object.keys(EXPECTED)) expect(['M3', 'M4']).toContain(resolveScenario(name).milestone);
  });

  for (const [name, ex] of Object.entries(EXPECTED)) {
    const sc = resolveScenario(name);
    const cpuCounts = SMP.has(name) ? (sc.cpuCounts ?? [1]) : [sc.machine.cpus];
    for (const cpus of cpuCounts) {
      it(`${name} on ${cpus} CPU(s) passes with exactly its markers`, () => {
        if (SMP.has(name)) expect(cpuCounts, 'cpuCounts must include 2 and 4').toEqual(expect.arrayContaining([1, 2, 4]));
        for (const s of SCHEDULES) check(runScenario(sc, { ...s.opts, cpus }), ex);
      });
    }
  }

  it('user-fault: the kill line comes before the halt, and the kernel keeps running after it', () => {
    const r = runScenario(resolveScenario('user-fault'), { seed: 5 });
    const lines = r.run.serial.split('\n');
    const killed = lines.findIndex((l) => l.startsWith('USER: killed'));
    const halt = lines.indexOf('RUGO: halt ok');
    expect(killed, why(r)).toBeGreaterThan(0);
    expect(halt, why(r)).toBeGreaterThan(killed);
  });

  // Kernel bug (see the report): exit(code) in a process that still has other
  // threads kills them, and whichever thread leaves last sets the process's
  // exit code. The killed threads leave with -1 (os/syscall/syscall.ts,
  // `if (t.killed) yield* exitUserThread(k, t, -1)`), so on 2 CPUs
  // quota-threads' exit(0) is reported as -1 by wait() and the PROC line.
  // exitUserThread (os/proc/process.ts) sets `p.exitCode = code` only for the
  // last thread out; SYS.exit should record its code on the process first.
  // The scenario's verdict still passes: its markers do not check the code.
  it('exit(0) with other threads still running gives exit code 0 (quota-threads, 2 CPUs)', () => {
    const sc = resolveScenario('quota-threads');
    for (const opts of [{ strategy: 'nominal' as const }, { seed: 2 }, { seed: 3 }]) {
      const r = runScenario(sc, { ...opts, cpus: 2 });
      expect(r.verdict, why(r)).toBe('pass');
      expect(r.run.serial.split('\n'), why(r)).toContain('PROC: quota-threads pid 1 exited with 0');
    }
  });
});

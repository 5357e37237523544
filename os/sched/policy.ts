// The scheduler-policy interface: small enough that a new policy is one
// file. The scheduler core (sched.ts) owns the locking (every method is
// called with schedLock held), context switches, sleep/wakeup and idle;
// a policy only decides who runs next and when to preempt.
import type { Thread } from '../kstate.ts';

export interface SchedPolicy {
  readonly name: string;
  /** Adds a runnable thread. */
  enqueue(t: Thread, nowTick: number): void;
  /** Removes and returns the thread CPU `cpu` should run next, or null (the CPU idles). */
  pickNext(cpu: number, nowTick: number): Thread | null;
  /** Called on each timer tick for the thread running on `cpu`; true asks for preemption. */
  tick(t: Thread, cpu: number, nowTick: number): boolean;
  /** Number of queued runnable threads. */
  readonly length: number;
  /** Queued threads, in the policy's order (for checkers and reports). */
  queued(): readonly Thread[];
}

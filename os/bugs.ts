// The planted-bug corpus: kernel variants selected with bug=<name> (the
// CLI's --bug), never on by default. Each is a small realistic mistake in
// the real code path, named here with where it lives and how it shows.
export interface PlantedBug {
  readonly name: string;
  readonly where: string;
  readonly description: string;
  /** Scenario that exposes it. */
  readonly scenario: string;
  /** Extra kernel options the exposing scenario wants (small workloads). */
  readonly options?: readonly string[];
  /** CPU count the exposing scenario uses. */
  readonly cpus: number;
}

export const BUGS: readonly PlantedBug[] = [
  {
    name: 'lost-update',
    where: 'os/ktests/kthreads.ts lockStress',
    description: 'the shared counter is incremented (load, add, store) without taking its spinlock',
    scenario: 'lock-stress',
    cpus: 2,
  },
  {
    name: 'lost-wakeup',
    where: 'os/sync/mutex.ts mutexLock',
    description: 'check-then-sleep: a contended locker queues itself and drops the mutex spinlock before sleeping, so a handoff in between is a lost wakeup',
    scenario: 'mutex-handoff',
    cpus: 2,
  },
];

export function bugNames(): string[] {
  return BUGS.map((b) => b.name);
}

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
  {
    name: 'abba',
    where: 'os/ktests/kthreads.ts transfer',
    description: 'a transfer locks the source account, then the destination: two opposite transfers take the two locks in opposite orders (ABBA)',
    scenario: 'transfer',
    cpus: 2,
  },
  {
    name: 'irq-spinlock',
    where: 'os/syscall/syscall.ts time_now',
    description: 'time_now takes the stats spinlock without disabling interrupts, but the timer interrupt takes it too',
    scenario: 'stress-syscall',
    options: ['hz=20000'],
    cpus: 1,
  },
  {
    name: 'ipc-recv-race',
    where: 'os/ipc/endpoint.ts endpointRecv',
    description: 'receive drops the IPC lock between the empty check and the sleep: a message sent in between wakes nobody and is never received',
    scenario: 'stress-ipc',
    cpus: 2,
  },
  {
    name: 'ep-uaf',
    where: 'os/ipc/endpoint.ts endpointOwnerDied',
    description: "an endpoint's page is freed when its creator dies, although a child still holds it and may be blocked sending",
    scenario: 'ipc-owner-death',
    cpus: 2,
  },
  {
    name: 'missing-shootdown',
    where: 'os/proc/tlb.ts tlbShootdown',
    description: 'vm_unmap invalidates only the local TLB: another CPU running the same process keeps a stale translation to a reused frame',
    scenario: 'tlb-race',
    cpus: 2,
  },
  {
    name: 'starvation',
    where: 'os/sched/rr.ts enqueue',
    description: 'the round-robin queue pushes at the head instead of appending, so a preempted thread runs again at once and others starve past the watchdog bound',
    scenario: 'two-threads',
    options: ['hz=1000', 'watchdog=10'],
    cpus: 1,
  },
  {
    name: 'shm-refcount',
    where: 'os/ipc/shm.ts shmMap/shmDrop',
    description: 'the shared-memory reference count is updated with an unlocked read-modify-write: concurrent map/unmap lose updates (leak or premature free)',
    scenario: 'shm-share',
    cpus: 2,
  },
  {
    name: 'blk-missed-irq',
    where: 'os/drivers/virtio_blk.ts submitAndWait',
    description: "check-then-sleep on a block request's completion: the waiter drops the device lock, tests done, then sleeps, so a completion interrupt in between wakes nobody (the original Rugo's missed-interrupt race)",
    scenario: 'stress-blk',
    cpus: 2,
  },
];

export function bugNames(): string[] {
  return BUGS.map((b) => b.name);
}

// The kernel's state: bookkeeping lives in TypeScript objects (DESIGN.md);
// what the hardware reads (page tables, IDT, lock words) lives in simulated
// memory. One Kernel per machine: nothing is module-global.
//
// Lock rules (xv6 style, written next to the data they guard):
// - threads, every Thread's state/chan/wakeTick, and the policy's run queue:
//   guarded by schedLock.
// - PerCpu fields: touched only by their own CPU with interrupts off.
// - ticks: written only by CPU 0's timer handler.
import type { CodeImage } from '../sim/code.ts';
import type { Stack } from '../sim/x86/cpu.ts';
import type { BootInfo } from './boot/handoff.ts';
import type { KernelOptions } from './options.ts';
import type { FrameAllocator } from './mm/pmm.ts';
import type { Spinlock } from './sync/spinlock.ts';
import type { SchedPolicy } from './sched/policy.ts';
import type { LockDep } from './sync/lockdep.ts';

export type ThreadState = 'embryo' | 'runnable' | 'running' | 'sleeping' | 'zombie';

export class Thread {
  state: ThreadState = 'embryo';
  /** Wait channel while sleeping (any object; compared by identity). */
  chan: unknown = null;
  /** Tick at which a timed sleep ends (0 = not a timed sleep). */
  wakeTick = 0;
  /** CPU this thread last ran on. */
  cpu = -1;
  /** Interrupt-handler nesting depth on this thread's stack (for the lock checker). */
  irqDepth = 0;
  /** Sleeping locks (mutexes) held. */
  readonly heldMutexes: unknown[] = [];
  /** Global tick when the thread last started running, and when it became runnable. */
  lastRanTick = 0;
  runnableSinceTick = 0;
  /** Ticks of CPU time consumed (charged by the timer). */
  cpuTicks = 0;
  /** Cycles of CPU time (rdtsc at switch-in/out). */
  cpuCycles = 0;
  switchedInAt = 0;
  /** Scheduler policy data (priority, stride pass, quantum left, ...). */
  prio = 0;
  pass = 0;
  quantumLeft = 0;
  /** Whether this is a CPU's idle thread (never queued). */
  readonly idle: boolean;
  /** The process this thread belongs to (null for kernel threads). */
  proc: unknown = null;
  /** Set when its process is killed: the thread exits at its next kernel boundary. */
  killed = false;
  /** A user-memory copy is in progress: a kernel #PF is fixed up to EFAULT instead of panicking. */
  uaccess = false;
  /** User stack page of a user thread (0 for kernel threads). */
  userStackPage = 0;

  constructor(
    readonly tid: number,
    readonly name: string,
    readonly stack: Stack,
    idle = false,
  ) {
    this.idle = idle;
    stack.owner = this;
  }
}

export class PerCpu {
  /** Depth of push_off nesting and whether interrupts were on before the first. */
  noff = 0;
  intena = false;
  current: Thread;
  readonly idle: Thread;
  /** Spinlocks held by this CPU, in acquisition order. */
  readonly held: Spinlock[] = [];
  online = false;
  /** Timer interrupts taken on this CPU. */
  timerTicks = 0;
  /** Page-table root this CPU has loaded (0 = unknown). */
  cr3 = 0;

  constructor(
    readonly index: number,
    readonly lapicId: number,
    idle: Thread,
  ) {
    this.idle = idle;
    this.current = idle;
  }
}

export class Kernel {
  /** The kernel's code image (symbols -> offsets), set when the image is built. */
  image!: CodeImage;
  boot!: BootInfo;
  opts!: KernelOptions;
  pmm!: FrameAllocator;
  /** HHDM offset: virtual = physical + hhdm. */
  hhdm = 0;
  /** Physical address of the kernel's own PML4. */
  kernelPml4 = 0;
  /** Virtual address of the IDT. */
  idtVa = 0;
  /** Next free word of the word heap (HHDM address; 0 = none yet). */
  wordHeapNext = 0;
  readonly cpus: PerCpu[] = [];
  /** Every live thread, in tid order (deterministic iteration). */
  threads: Thread[] = [];
  nextTid = 0;
  schedLock!: Spinlock;
  consoleLock!: Spinlock;
  pmmLock!: Spinlock;
  policy!: SchedPolicy;
  lockdep!: LockDep;
  /** Global timer ticks (CPU 0's LAPIC timer). */
  ticks = 0;
  hz = 100;
  /** LAPIC timer initial count for one tick (calibrated against the PIT). */
  lapicTicksPerTick = 0;
  /** Planted bug selected with bug=<name> ('' = the correct kernel). */
  bug = '';
  /** Operations that will complete by an interrupt (block I/O, ...): the deadlock checker must not fire while any are pending. */
  ioInFlight = 0;
  /** Progress counter bumped by work units; the watchdog checks it moves. */
  progress = 0;
  lastProgress = 0;
  lastProgressTick = 0;
  /** Watchdog bound in ticks (0 = off). */
  watchdogTicks = 0;
  /** Set when the kernel is going down (a panic in progress). */
  panicking = false;
  /** LAPIC timer calibration in progress on the BSP (the PIT IRQ handler completes it). */
  calibrating = false;
  /** Application processors that reached the kernel. */
  apsOnline = 0;
  /** Processes (guarded by procLock). */
  procs: import('./proc/process.ts').Process[] = [];
  nextPid = 1;
  procLock!: Spinlock;
  /** Guards the tick statistics read by time_now; taken in the timer interrupt. */
  statsLock!: Spinlock;
  statTicks = 0;
  ipcLock!: Spinlock;
  /** IPC endpoints by id (guarded by ipcLock). */
  endpoints: (import('./ipc/endpoint.ts').Endpoint | null)[] = [];
  /** Service registry (guarded by ipcLock). */
  services: import('./ipc/registry.ts').Service[] = [];
  nextShmId = 1;
  /** TLB shootdown: serializing mutex, published address, acknowledgement word. */
  tlbMutex?: import('./sync/mutex.ts').Mutex;
  tlbVa = 0;
  tlbAcks = 0;
  tlbShootdowns = 0;
  /** Scheduler events for the paravirtual trace port (sim/x86/trace-port.ts), queued by makeRunnable and written out by traceFlush; guarded by schedLock. */
  readonly traceLog: number[] = [];
  /** Syscalls taken, by number (0..62); the last slot counts every other number (unknown calls, which user code may make with any value). */
  readonly syscallCounts: number[] = new Array<number>(64).fill(0);
  /** Block syscall implementation, installed by the block driver (null: no device, ENODEV). */
  blkSyscall: ((k: Kernel, t: Thread, num: number, a: number, b: number, c: number) => import('../sim/ops.ts').Code<number>) | null = null;
  /** Handlers for device interrupt vectors registered by drivers. */
  readonly irqHandlers = new Map<number, (k: Kernel, tf: import('../sim/x86/cpu.ts').TrapFrame) => import('../sim/ops.ts').Code<void>>();

  /** Virtual address of kernel symbol `sym`. */
  sym(sym: string): number {
    return this.boot.kernelVirtBase + this.image.offsetOf(sym);
  }

  /** HHDM virtual address of physical address `pa`. */
  p2v(pa: number): number {
    return pa + this.hhdm;
  }
}

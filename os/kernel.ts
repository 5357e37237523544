// The Rugo kernel (TypeScript lane): its code image and kmain.
// The image is built per machine: every symbol closes over one Kernel object,
// so two machines in one process share nothing.
import { CodeImage, type EntryFn } from '../sim/code.ts';
import { int3, store32, type Code } from '../sim/ops.ts';
import type { TrapFrame } from '../sim/x86/cpu.ts';
import { Kernel } from './kstate.ts';
import { readHandoff } from './boot/handoff.ts';
import { parseCmdline } from './options.ts';
import { FrameAllocator } from './mm/pmm.ts';
import { initPaging } from './mm/paging.ts';
import { initIdt, INSTALLED_VECTORS, SYSCALL_VECTOR } from './trap/idt.ts';
import { syscallEntry, trap } from './trap/trap.ts';
import { uartInit, uartWrite } from './drivers/uart.ts';
import { haltOk, panic } from './panic.ts';
import { cli, hlt, sti, switchTo, wrmsr, Msr } from '../sim/ops.ts';
import { Stack } from '../sim/x86/cpu.ts';
import { PerCpu, Thread } from './kstate.ts';
import { intOption, validateInts } from './options.ts';
import { LockDep } from './sync/lockdep.ts';
import { newSpinlock } from './sync/spinlock.ts';
import { newMutex } from './sync/mutex.ts';
import { allocWord } from './mm/kheap.ts';
import { RoundRobin } from './sched/rr.ts';
import { Stride } from './sched/stride.ts';
import type { SchedPolicy } from './sched/policy.ts';
import { idleLoop, spawn } from './sched/sched.ts';
import { lapicEnable, lapicTimerFreeRun, lapicTimerPeriodic } from './arch/lapic.ts';
import { ioapicRoute } from './arch/ioapic.ts';
import { CAL_COUNT, picDisable, pitOneShot } from './arch/pit.ts';
import { apMain, startAps, AP_ENTRY } from './smp.ts';
import { KTESTS } from './ktests/kthreads.ts';
import { bugNames } from './bugs.ts';
import { kprint } from './console.ts';
import { blkInit } from './drivers/virtio_blk.ts';

export const KERNEL_ENTRY = 'kmain';
/** An address the kernel never maps (pf_test writes there). */
export const PF_TEST_ADDR = 0xdeadb000;

/** kmain: runs on the BSP with IF = 0 on the bootloader's page tables; `handoffVa` is the handoff block. */
function* kmain(k: Kernel, handoffVa: number): Code<void> {
  yield uartInit();
  yield uartWrite('RUGO: boot ok\n');
  const boot = yield readHandoff(handoffVa);
  if (typeof boot === 'string') return yield panic(0xb0, `boot handoff: ${boot}`);
  k.boot = boot;
  k.hhdm = boot.hhdmOffset;
  k.opts = parseCmdline(boot.cmdline);
  validateInts(k.opts);
  if (k.opts.unknown.length > 0) yield uartWrite(`RUGO: unknown options ignored: ${k.opts.unknown.join(' ')}\n`);
  k.pmm = new FrameAllocator(boot.memmap);
  const on: boolean = yield initPaging(k);
  if (!on) return yield panic(0x50, 'paging did not switch to the kernel page tables');
  yield uartWrite('MM: paging=on\n');
  yield initIdt(k);
  if (k.opts.panicTest) yield panic(0x1, 'panic_test requested');
  if (k.opts.trapTest) yield int3();
  if (k.opts.pfTest) yield store32(PF_TEST_ADDR, 0x1);
  const test = k.opts.values.get('test');
  if (test === undefined) return yield haltOk();
  const main = KTESTS[test];
  if (main === undefined) return yield panic(0xb1, `unknown test=${test} (known: ${Object.keys(KTESTS).join(', ')})`);
  yield initScheduler(k);
  yield initTimer(k);
  yield startAps(k);
  if (k.opts.values.has('blk')) yield blkInit(k); // virtio-blk: prints BLK: found virtio-blk / BLK: init failed
  const failalloc = k.opts.values.get('failalloc');
  if (failalloc !== undefined) {
    const at = failalloc.split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0);
    k.pmm.armFailures(at);
  }
  yield spawn(k, 'main', function* (kk: Kernel): Code<void> {
    yield main(kk);
    yield haltOk();
  });
  // The boot stack is done: this CPU becomes idle thread 0.
  const c0 = k.cpus[0];
  c0.idle.state = 'running';
  c0.idle.cpu = 0;
  yield switchTo(c0.idle.stack);
  yield panic(0xb2, 'boot stack resumed');
}

/** Per-CPU data, idle threads, locks, the lock checker and the scheduling policy. */
function* initScheduler(k: Kernel): Code<void> {
  k.hz = intOption(k.opts, 'hz', 100, 10, 100_000);
  k.watchdogTicks = intOption(k.opts, 'watchdog', 0, 0, 1_000_000);
  const bug = k.opts.values.get('bug') ?? '';
  if (bug !== '' && !bugNames().includes(bug)) yield panic(0xb3, `unknown bug=${bug} (known: ${bugNames().join(', ')})`);
  k.bug = bug;
  k.lockdep = new LockDep();
  const quantum = intOption(k.opts, 'quantum', 1, 1, 1000);
  const policyName = k.opts.values.get('sched') ?? 'rr';
  const policies: Record<string, () => SchedPolicy> = { rr: () => new RoundRobin(quantum, k.bug === 'starvation'), stride: () => new Stride(quantum) };
  const make = policies[policyName];
  if (make === undefined) yield panic(0xb4, `unknown sched=${policyName} (known: ${Object.keys(policies).join(', ')})`);
  k.policy = make();
  for (const info of k.boot.cpus) {
    // Idle thread ids 8..15 (boot stacks use 0..7, other threads start at 16).
    const tid = 8 + info.processorId;
    const idle = new Thread(tid, `idle${info.processorId}`, new Stack(tid, `idle${info.processorId}`, idleLoop(k)), true);
    k.cpus.push(new PerCpu(info.processorId, info.lapicId, idle));
  }
  k.nextTid = Math.max(16, k.cpus.length);
  yield wrmsr(Msr.GS_BASE, 0);
  k.schedLock = yield newSpinlock(k, 'sched');
  k.consoleLock = yield newSpinlock(k, 'console');
  k.pmmLock = yield newSpinlock(k, 'pmm');
  k.procLock = yield newSpinlock(k, 'proc');
  k.statsLock = yield newSpinlock(k, 'stats');
  k.ipcLock = yield newSpinlock(k, 'ipc');
  k.tlbMutex = yield newMutex(k, 'tlb');
  k.tlbAcks = yield allocWord(k);
  k.endpoints = new Array(16).fill(null);
  k.cpus[0].online = true;
}

/** Calibrates the LAPIC timer against a 10 ms PIT one-shot, then starts the periodic tick on the BSP. */
function* initTimer(k: Kernel): Code<void> {
  yield picDisable();
  yield lapicEnable(k);
  yield ioapicRoute(k, 0, k.cpus[0].lapicId);
  yield lapicTimerFreeRun(k);
  k.calibrating = true;
  yield pitOneShot(CAL_COUNT);
  for (let i = 0; i < 1000 && k.calibrating; i++) {
    yield sti();
    yield hlt();
    yield cli();
  }
  if (k.calibrating) yield panic(0xb5, 'LAPIC timer calibration: no PIT interrupt');
  yield lapicTimerPeriodic(k, k.lapicTicksPerTick);
  yield kprint(k, `TIMER: lapic ${k.lapicTicksPerTick} per tick at ${k.hz} Hz\n`);
}

/** Builds a fresh kernel image (and its state object). */
export function createKernel(): { image: CodeImage; kernel: Kernel } {
  const k = new Kernel();
  const entries: [string, EntryFn][] = [
    [KERNEL_ENTRY, (arg: number) => kmain(k, arg)],
    [AP_ENTRY, (arg: number) => apMain(k, arg)],
  ];
  for (const v of INSTALLED_VECTORS) entries.push([`isr${v}`, v === SYSCALL_VECTOR ? (tf: TrapFrame) => syscallEntry(k, tf) : (tf: TrapFrame) => trap(k, tf)]);
  k.image = new CodeImage('rugo', entries);
  return { image: k.image, kernel: k };
}

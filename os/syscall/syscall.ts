// Syscall dispatch (int 0x80): validates every argument, runs the call with
// interrupts enabled (kernel code is preemptible outside spinlocks), writes
// the result to rax. Errors are negative ERR numbers; nothing a user passes
// can reach kernel memory, another process's memory, or panic the kernel.
import { compute, rdgsbase, sti, type Code } from '../../sim/ops.ts';
import type { TrapFrame } from '../../sim/x86/cpu.ts';
import type { Kernel, Thread } from '../kstate.ts';
import { acquire, acquireNoIrqsave, release, releaseNoIrqrestore } from '../sync/spinlock.ts';
import { kprint } from '../console.ts';
import { yieldCpu } from '../sched/sched.ts';
import { ERR, LIMITS, SYS, USER } from './abi.ts';
import { readUserString, userRange } from '../proc/uaccess.ts';
import { allocFrame, createProcess, exitUserThread, freeFrame, mapUser, procOf, startUserThread, unmapUser, waitChild, zeroFrame, releaseHandleObj, killProcess, type Process } from '../proc/process.ts';
import { endpointCreate, endpointRecv, endpointSend } from '../ipc/endpoint.ts';
import { shmCreate, shmDrop, shmMap } from '../ipc/shm.ts';
import { svcLookup, svcRegister } from '../ipc/registry.ts';

/** The int 0x80 handler: dispatch, result in rax, and exit here if the process was killed meanwhile. */
export function* syscall(k: Kernel, tf: TrapFrame): Code<void> {
  const regs = tf.regs;
  if (regs === null) return;
  yield sti();
  yield compute(40); // entry stub, register save, dispatch
  const t: Thread = k.cpus[(yield rdgsbase()) as number].current; // mythread(), written out (one op, no generator call)
  const p = procOf(t);
  const num = regs.rax;
  k.syscallCounts[(num | 0) === num && num >= 0 && num < 63 ? num : 63]++;
  const x = p === null ? ERR.ENOSYS : dispatch(k, t, p, num, regs.rdi, regs.rsi, regs.rdx, regs.r10);
  regs.rax = typeof x === 'number' ? x : ((yield x) as number);
  if (t.killed) yield exitUserThread(k, t, -1);
}

/**
 * The call for `num`: an immediate result, or the handler's code for the
 * caller to run (no generator of its own for the common calls: dispatch is
 * on every syscall's path).
 */
function dispatch(k: Kernel, t: Thread, p: Process, num: number, a: number, b: number, c: number, d: number): number | Code<number> {
  switch (num) {
    case SYS.ipc_send: {
      const h = p.handle(a);
      if (h === null || h.kind !== 'endpoint') return ERR.EBADH;
      return endpointSend(k, t, h.ep, b, c, d);
    }
    case SYS.ipc_recv: {
      const h = p.handle(a);
      if (h === null || h.kind !== 'endpoint') return ERR.EBADH;
      return endpointRecv(k, t, h.ep, b, c);
    }
    case SYS.getpid:
      return p.pid;
    case SYS.net_send:
    case SYS.net_recv:
      return ERR.ENODEV;
    case SYS.shm_create:
      return shmCreate(k, p, a);
    case SYS.shm_map: {
      const h = p.handle(a);
      if (h === null || h.kind !== 'shm') return ERR.EBADH;
      return shmMap(k, p, h.shm, b, c);
    }
    case SYS.ipc_endpoint_create:
      return endpointCreate(k, p);
    case SYS.wait:
      return waitChild(k, p, a);
    case SYS.thread_exit:
      return exitUserThread(k, t, 0);
    case SYS.blk_read:
    case SYS.blk_write:
      return k.blkSyscall === null ? ERR.ENODEV : k.blkSyscall(k, t, num, a, b, c);
    default:
      return dispatchMore(k, t, p, num, a, b, c);
  }
}

/** The calls that need several steps of their own (and unknown numbers). */
function* dispatchMore(k: Kernel, t: Thread, p: Process, num: number, a: number, b: number, c: number): Code<number> {
  switch (num) {
    case SYS.debug_write: {
      if (!Number.isSafeInteger(b) || b < 0 || b > LIMITS.maxDebugWrite) return ERR.EINVAL;
      const s: string | number = yield readUserString(k, a, b);
      if (typeof s === 'number') return s;
      yield kprint(k, s);
      return b;
    }
    case SYS.thread_spawn: {
      if (!userRange(a, 1)) return ERR.EFAULT;
      const n = p.threadsCreated;
      const stackPage = USER.stackPage - (n % 64) * USER.threadStackStride - USER.threadStackStride;
      if (p.threads.length >= LIMITS.threadsPerProcess) return ERR.EQUOTA;
      const pa: number = yield allocFrame(k);
      if (pa < 0) return ERR.ENOMEM;
      yield zeroFrame(k, pa);
      const e: number = yield mapUser(k, p, stackPage, { pa, kind: 'stack' }, true, false);
      if (e < 0) {
        yield freeFrame(k, pa);
        return e;
      }
      const th: Thread | number = yield startUserThread(k, p, a, stackPage + 4096, b, stackPage);
      if (typeof th === 'number') {
        yield unmapUser(k, p, stackPage);
        yield freeFrame(k, pa);
        return th;
      }
      return th.tid;
    }
    case SYS.yield:
      yield yieldCpu(k);
      return 0;
    case SYS.vm_map: {
      if (b !== 4096 || !Number.isSafeInteger(a) || a % 4096 !== 0 || a < USER.mapLow || a + 4096 > USER.top) return ERR.EINVAL;
      if (p.pages.has(a)) return ERR.EEXIST;
      const pa: number = yield allocFrame(k);
      if (pa < 0) return ERR.ENOMEM;
      yield zeroFrame(k, pa);
      const e: number = yield mapUser(k, p, a, { pa, kind: 'anon' }, true, false);
      if (e < 0) {
        yield freeFrame(k, pa);
        return e;
      }
      return 0;
    }
    case SYS.vm_unmap: {
      if (b !== 4096 || !Number.isSafeInteger(a) || a % 4096 !== 0) return ERR.EINVAL;
      const page = p.pages.get(a);
      if (page === undefined) return ERR.EINVAL;
      if (page.kind === 'code' || page.kind === 'stack') return ERR.EINVAL;
      yield unmapUser(k, p, a);
      if (page.kind === 'anon') yield freeFrame(k, page.pa);
      else if (page.shm !== undefined) yield shmDrop(k, page.shm);
      return 0;
    }
    case SYS.time_now: {
      // BUG (irq-spinlock): stats is also taken by the timer interrupt, so it needs the irqsave form.
      if (k.bug === 'irq-spinlock') yield acquireNoIrqsave(k, k.statsLock);
      else yield acquire(k, k.statsLock);
      const v = k.statTicks;
      yield compute(20);
      if (k.bug === 'irq-spinlock') yield releaseNoIrqrestore(k, k.statsLock);
      else yield release(k, k.statsLock);
      return v;
    }
    case SYS.svc_register: {
      if (!Number.isSafeInteger(b) || b < 1 || b > LIMITS.maxServiceName) return ERR.EINVAL;
      const name: string | number = yield readUserString(k, a, b);
      if (typeof name === 'number') return name;
      return yield svcRegister(k, p, name, c);
    }
    case SYS.svc_lookup: {
      if (!Number.isSafeInteger(b) || b < 1 || b > LIMITS.maxServiceName) return ERR.EINVAL;
      const name: string | number = yield readUserString(k, a, b);
      if (typeof name === 'number') return name;
      return yield svcLookup(k, p, name);
    }
    case SYS.spawn: {
      if (!Number.isSafeInteger(b) || b < 1 || b > 24) return ERR.EINVAL;
      const name: string | number = yield readUserString(k, a, b);
      if (typeof name === 'number') return name;
      const child: Process | number = yield createProcess(k, name, p, c);
      return typeof child === 'number' ? child : child.pid;
    }
    case SYS.exit:
      if (p.exitRequested === null) p.exitRequested = a;
      t.killed = true;
      yield killOthers(k, p, t);
      return yield exitUserThread(k, t, a);
    case SYS.handle_close: {
      const h = p.handle(a);
      if (h === null) return ERR.EBADH;
      p.handles[a] = null;
      if (h.kind === 'shm') p.shmCount = Math.max(0, p.shmCount - 1);
      yield releaseHandleObj(k, h);
      return 0;
    }
    default:
      return ERR.ENOSYS;
  }
}

/** exit(): the other threads of the process are killed too. */
function* killOthers(k: Kernel, p: Process, self: Thread): Code<void> {
  yield killProcess(k, p);
  self.killed = true;
}

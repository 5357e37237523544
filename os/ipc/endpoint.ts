// IPC endpoints (rugo-facts, Rust lane): at most 16 in the system, each a
// bounded queue of messages of up to 256 bytes (default depth 1: one slot;
// kernel option ipcq=N up to 16), stored in one kernel page. Send fails with
// EFULL when the queue is full (or blocks, with flag IPC_SEND_BLOCK);
// receive blocks; a second concurrent receiver is refused (EBUSY); a message
// never truncates (ETOOBIG leaves it queued). Messages leave in FIFO order,
// so each sender's messages arrive in order, exactly once.
//
// Lock rules: ipcLock guards every Endpoint field and k.endpoints. User
// copies run under it with the fault fixup armed (no sleeping inside).
import { compute, outl, type Code } from '../../sim/ops.ts';
import { TRACE_PORT, TraceEvent, traceWord } from '../../sim/x86/trace-port.ts';
import type { Kernel, Thread } from '../kstate.ts';
import { acquire, release } from '../sync/spinlock.ts';
import { sleep, wakeupLocked, kickIdle, traceFlush } from '../sched/sched.ts';
import { ERR, LIMITS, IPC_SEND_BLOCK } from '../syscall/abi.ts';
import { allocFrame, freeFrame, zeroFrame, type Process } from '../proc/process.ts';
import { guardedCopy, userRange } from '../proc/uaccess.ts';
import { intOption } from '../options.ts';
import { kassert } from '../kassert.ts';

export class Endpoint {
  readonly lens: number[] = [];
  head = 0;
  count = 0;
  waiter: Thread | null = null;
  closed = false;
  /** Set when the page was freed (only the ep-uaf bug frees it while referenced). */
  freed = false;
  refs = 1;
  sent = 0;
  received = 0;
  /** Channel blocked senders sleep on. */
  readonly spaceChan = { name: '' };
  /** Senders asleep on spaceChan (counted under ipcLock: a receiver takes schedLock to wake them only when there are any, as Linux checks waitqueue_active). */
  spaceWaiters = 0;
  constructor(
    readonly id: number,
    /** Physical address of the message page. */
    readonly pa: number,
    readonly cap: number,
    readonly ownerPid: number,
  ) {
    this.spaceChan.name = `ep${id}.space`;
  }
  get name(): string {
    return `ep${this.id}`;
  }
}

/** Creates an endpoint owned by `p`; returns a handle or an error. */
export function* endpointCreate(k: Kernel, p: Process): Code<number> {
  if (p.endpointsCreated >= LIMITS.endpointsPerProcess) return ERR.EQUOTA;
  const pa: number = yield allocFrame(k);
  if (pa < 0) return ERR.ENOMEM;
  yield zeroFrame(k, pa);
  yield acquire(k, k.ipcLock);
  let id = -1;
  for (let i = 0; i < LIMITS.endpointsSystem; i++) {
    if (k.endpoints[i] === null || k.endpoints[i] === undefined) {
      id = i;
      break;
    }
  }
  if (id < 0) {
    yield release(k, k.ipcLock);
    yield freeFrame(k, pa);
    return ERR.EQUOTA;
  }
  const ep = new Endpoint(id, pa, intOption(k.opts, 'ipcq', 1, 1, 16), p.pid);
  k.endpoints[id] = ep;
  yield release(k, k.ipcLock);
  const h = p.addHandle({ kind: 'endpoint', ep });
  if (h < 0) {
    yield endpointDrop(k, ep);
    return h;
  }
  p.endpointsCreated++;
  return h;
}

function slotVa(k: Kernel, ep: Endpoint, i: number): number {
  return k.p2v(ep.pa) + (i % ep.cap) * LIMITS.maxMessage;
}

/** Sanitizer (KASAN-like, always on): an endpoint's page (which holds it, as in a C kernel) must still be allocated when used. */
function live(k: Kernel, ep: Endpoint): boolean {
  return !ep.freed && k.pmm.isAllocated(ep.pa);
}

function* useAfterFree(ep: Endpoint): Code<void> {
  yield kassert('use-after-free', `endpoint ${ep.id} (owner pid ${ep.ownerPid}) used after its page 0x${ep.pa.toString(16)} was freed`);
}

/** BUG (ep-uaf): the owner's death frees its endpoints outright, ignoring other holders' references. */
export function* endpointOwnerDied(k: Kernel, pid: number): Code<void> {
  if (k.bug !== 'ep-uaf') return;
  for (const ep of k.endpoints) {
    if (ep === null || ep.ownerPid !== pid || ep.freed) continue;
    ep.freed = true;
    yield freeFrame(k, ep.pa);
  }
}

/** Sends `len` bytes at user `buf` to `ep`. */
export function* endpointSend(k: Kernel, t: Thread, ep: Endpoint, buf: number, len: number, flags: number): Code<number> {
  if (!Number.isSafeInteger(len) || len < 1 || len > LIMITS.maxMessage) return len > LIMITS.maxMessage ? ERR.ETOOBIG : ERR.EINVAL;
  if ((flags & ~IPC_SEND_BLOCK) !== 0) return ERR.EINVAL;
  if (!userRange(buf, len)) return ERR.EFAULT;
  yield compute(60);
  yield acquire(k, k.ipcLock);
  if (!live(k, ep)) yield useAfterFree(ep);
  while (!ep.closed && ep.count >= ep.cap && (flags & IPC_SEND_BLOCK) !== 0 && !t.killed) {
    ep.spaceWaiters++;
    yield sleep(k, ep.spaceChan, k.ipcLock);
    ep.spaceWaiters--;
  }
  if (ep.closed || t.killed) {
    yield release(k, k.ipcLock);
    return ERR.EDEAD;
  }
  if (ep.count >= ep.cap) {
    yield release(k, k.ipcLock);
    return ERR.EFULL;
  }
  const slot = (ep.head + ep.count) % ep.cap;
  if (!live(k, ep)) yield useAfterFree(ep);
  const ok: boolean = yield guardedCopy(t, slotVa(k, ep, slot), buf, len);
  if (!ok) {
    yield release(k, k.ipcLock);
    return ERR.EFAULT;
  }
  ep.lens[slot] = len;
  ep.count++;
  ep.sent++;
  yield outl(TRACE_PORT, traceWord(TraceEvent.IpcSend, ep.id | ((ep.sent & 0xffff) << 8))); // paravirtual trace: free
  let woke = 0;
  if (ep.waiter !== null) {
    yield acquire(k, k.schedLock);
    woke = wakeupLocked(k, ep);
    if (k.traceLog.length > 0) yield traceFlush(k);
    yield release(k, k.schedLock);
  }
  yield release(k, k.ipcLock);
  if (woke > 0 && k.cpus.length > 1) yield kickIdle(k, woke);
  return 0;
}

/** Receives the next message of `ep` into user `buf` (capacity `cap`); blocks while empty. Returns the length. */
export function* endpointRecv(k: Kernel, t: Thread, ep: Endpoint, buf: number, cap: number): Code<number> {
  if (!Number.isSafeInteger(cap) || cap < 0) return ERR.EINVAL;
  if (!userRange(buf, Math.min(cap, LIMITS.maxMessage))) return ERR.EFAULT;
  yield compute(60);
  yield acquire(k, k.ipcLock);
  if (!live(k, ep)) yield useAfterFree(ep);
  if (ep.count === 0 && ep.waiter !== null && ep.waiter !== t) {
    yield release(k, k.ipcLock);
    return ERR.EBUSY;
  }
  while (ep.count === 0 && !ep.closed && !t.killed) {
    ep.waiter = t;
    if (k.bug === 'ipc-recv-race') {
      // BUG: drops the lock between the empty check and the sleep; a send in between wakes nobody.
      yield release(k, k.ipcLock);
      yield sleep(k, ep, null);
      yield acquire(k, k.ipcLock);
    } else yield sleep(k, ep, k.ipcLock);
    if (ep.waiter === t) ep.waiter = null;
  }
  if (ep.count === 0) {
    yield release(k, k.ipcLock);
    return ERR.EDEAD;
  }
  const slot = ep.head;
  const len = ep.lens[slot];
  if (len > cap) {
    yield release(k, k.ipcLock);
    return ERR.ETOOBIG;
  }
  if (!live(k, ep)) yield useAfterFree(ep);
  const ok: boolean = yield guardedCopy(t, buf, slotVa(k, ep, slot), len);
  if (!ok) {
    yield release(k, k.ipcLock);
    return ERR.EFAULT;
  }
  ep.head = (ep.head + 1) % ep.cap;
  ep.count--;
  ep.received++;
  yield outl(TRACE_PORT, traceWord(TraceEvent.IpcRecv, ep.id | ((ep.received & 0xffff) << 8))); // paravirtual trace: free
  let woke = 0;
  if (ep.spaceWaiters > 0) {
    yield acquire(k, k.schedLock);
    woke = wakeupLocked(k, ep.spaceChan);
    if (k.traceLog.length > 0) yield traceFlush(k);
    yield release(k, k.schedLock);
  }
  yield release(k, k.ipcLock);
  if (woke > 0 && k.cpus.length > 1) yield kickIdle(k, woke);
  return len;
}

/** Drops one reference; the last one closes the endpoint (waiters get EDEAD) and frees it. */
export function* endpointDrop(k: Kernel, ep: Endpoint): Code<void> {
  yield acquire(k, k.ipcLock);
  ep.refs--;
  let free = false;
  if (ep.refs <= 0 && !ep.closed) {
    ep.closed = true;
    free = true;
    if (k.endpoints[ep.id] === ep) k.endpoints[ep.id] = null;
    yield acquire(k, k.schedLock);
    wakeupLocked(k, ep);
    wakeupLocked(k, ep.spaceChan);
    if (k.traceLog.length > 0) yield traceFlush(k);
    yield release(k, k.schedLock);
  }
  yield release(k, k.ipcLock);
  if (free && !ep.freed) {
    ep.freed = true;
    yield freeFrame(k, ep.pa);
  }
}

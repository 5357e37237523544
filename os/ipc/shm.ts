// Shared memory: one zeroed 4 KiB page per region (rugo-facts). A region
// lives while a handle or a mapping refers to it; the last reference frees
// the frame. shm_map maps at the hint, or at the next free address from
// 0x10000000 (the legacy default).
import { compute, type Code } from '../../sim/ops.ts';
import type { Kernel } from '../kstate.ts';
import { acquire, release } from '../sync/spinlock.ts';
import { ERR, LIMITS, USER } from '../syscall/abi.ts';
import { allocFrame, freeFrame, mapUser, zeroFrame, type Process } from '../proc/process.ts';

export class ShmRegion {
  refs = 1;
  constructor(
    readonly id: number,
    readonly pa: number,
    readonly size: number,
  ) {}
}

export function* shmCreate(k: Kernel, p: Process, size: number): Code<number> {
  if (!Number.isSafeInteger(size) || size < 1 || size > LIMITS.shmSize) return ERR.EINVAL;
  if (p.shmCount >= LIMITS.shmPerProcess) return ERR.EQUOTA;
  const pa: number = yield allocFrame(k);
  if (pa < 0) return ERR.ENOMEM;
  yield zeroFrame(k, pa);
  const r = new ShmRegion(k.nextShmId++, pa, size);
  const h = p.addHandle({ kind: 'shm', shm: r });
  if (h < 0) {
    yield freeFrame(k, pa);
    return h;
  }
  p.shmCount++;
  return h;
}

export function* shmMap(k: Kernel, p: Process, r: ShmRegion, hint: number, flags: number): Code<number> {
  if (flags !== 0) return ERR.EINVAL;
  let va = hint;
  if (hint === 0) {
    va = p.nextShmVa;
    while (p.pages.has(va)) va += 4096;
  }
  if (!Number.isSafeInteger(va) || va % 4096 !== 0 || va < USER.mapLow || va + 4096 > USER.top) return ERR.EINVAL;
  if (k.bug === 'shm-refcount') {
    // BUG: unlocked read-modify-write of the reference count.
    const n = r.refs;
    yield compute(30);
    r.refs = n + 1;
  } else {
    yield acquire(k, k.ipcLock);
    r.refs++;
    yield release(k, k.ipcLock);
  }
  const e: number = yield mapUser(k, p, va, { pa: r.pa, kind: 'shm', shm: r }, true, false);
  if (e < 0) {
    yield shmDrop(k, r);
    return e;
  }
  if (hint === 0) p.nextShmVa = va + 4096;
  return va;
}

export function* shmDrop(k: Kernel, r: ShmRegion): Code<void> {
  let last: boolean;
  if (k.bug === 'shm-refcount') {
    // BUG: unlocked read-modify-write of the reference count.
    const n = r.refs;
    yield compute(30);
    r.refs = n - 1;
    last = r.refs === 0;
  } else {
    yield acquire(k, k.ipcLock);
    r.refs--;
    last = r.refs === 0;
    yield release(k, k.ipcLock);
  }
  if (last) yield freeFrame(k, r.pa);
}

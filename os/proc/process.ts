// Processes: an address space (own PML4 in simulated RAM; the kernel half,
// PML4 entries 256-511, copied from the kernel's tables), a handle table,
// user threads, exit and wait. Program images are boot modules
// ("/user/<name>"): their pages are mapped read-only + executable + user at
// 0x400000, shared by every process running that program.
//
// Lock rules: procLock guards k.procs, each Process's threads/state/pages/
// handles and the children lists. It is never held while sleeping.
import { compute, enterUser, invlpg, load32, repMovs, repStos, store32, writeCr, type Code } from '../../sim/ops.ts';
import { PTE, PTE_NX_HI } from '../../sim/x86/mmu.ts';
import { TWO_32, low48 } from '../../sim/x86/address.ts';
import { Thread, type Kernel, type PerCpu } from '../kstate.ts';
import { acquire, mycpu, popOff, pushOff, release } from '../sync/spinlock.ts';
import { exitThread, makeRunnable, sleep, spawn, wakeupLocked } from '../sched/sched.ts';
import { ERR, LIMITS, USER } from '../syscall/abi.ts';
import { kprint } from '../console.ts';
import { tlbShootdown } from './tlb.ts';
import { kassert } from '../kassert.ts';
import { findModule, type BootModuleInfo } from '../boot/handoff.ts';
import { endpointDrop, endpointOwnerDied } from '../ipc/endpoint.ts';
import { shmDrop } from '../ipc/shm.ts';

/** Drops one reference held by a handle. */
export function* releaseHandleObj(k: Kernel, obj: HandleObj): Code<void> {
  if (obj.kind === 'endpoint') yield endpointDrop(k, obj.ep);
  else yield shmDrop(k, obj.shm);
}

export type HandleObj = { kind: 'endpoint'; ep: import('../ipc/endpoint.ts').Endpoint } | { kind: 'shm'; shm: import('../ipc/shm.ts').ShmRegion };

export interface Page {
  pa: number;
  kind: 'code' | 'stack' | 'anon' | 'shm';
  shm?: import('../ipc/shm.ts').ShmRegion;
}

export class Process {
  state: 'alive' | 'zombie' = 'alive';
  exitCode = 0;
  /** Code passed to exit(); the process's exit code whichever thread leaves last. */
  exitRequested: number | null = null;
  readonly threads: Thread[] = [];
  /** Handle table: index -> object (index 0 unused so a zeroed register is never a valid handle). */
  readonly handles: (HandleObj | null)[] = [null];
  readonly pages = new Map<number, Page>();
  readonly tableFrames: number[] = [];
  readonly children: Process[] = [];
  threadsCreated = 0;
  endpointsCreated = 0;
  shmCount = 0;
  nextShmVa: number = USER.shmBase;

  constructor(
    readonly pid: number,
    readonly name: string,
    readonly pml4: number,
    readonly parent: Process | null,
  ) {}

  liveThreads(): number {
    return this.threads.length;
  }

  /** Installs `obj` in the first free slot; returns the handle or EQUOTA. */
  addHandle(obj: HandleObj): number {
    for (let i = 1; i < this.handles.length; i++) {
      if (this.handles[i] === null) {
        this.handles[i] = obj;
        return i;
      }
    }
    if (this.handles.length >= LIMITS.handlesPerProcess) return ERR.EQUOTA;
    this.handles.push(obj);
    return this.handles.length - 1;
  }

  handle(h: number): HandleObj | null {
    return Number.isInteger(h) && h > 0 && h < this.handles.length ? this.handles[h] : null;
  }
}

/** The process of the running thread (null for kernel threads). */
export function procOf(t: Thread): Process | null {
  return (t.proc as Process | null) ?? null;
}

/** Physical base and size of boot module `/user/<name>`, or null. */
function* findProgram(k: Kernel, name: string): Code<{ pa: number; size: number } | null> {
  const m: BootModuleInfo | null = yield findModule(k.boot, `/user/${name}`);
  return m === null ? null : { pa: m.addressVa - k.hhdm, size: m.size };
}

function* allocFrame(k: Kernel): Code<number> {
  yield acquire(k, k.pmmLock);
  const pa = k.pmm.alloc();
  yield release(k, k.pmmLock);
  if (pa >= 0) yield compute(40);
  return pa;
}

function* freeFrame(k: Kernel, pa: number): Code<void> {
  yield acquire(k, k.pmmLock);
  const err = k.pmm.free(pa);
  yield release(k, k.pmmLock);
  if (err !== null) yield kassert('use-after-free', err);
}

/** Walks (creating tables as needed) to the PTE for user `va`; returns its HHDM address, or null (no table and !create, or out of memory). */
function* pteFor(k: Kernel, p: Process, va: number, create: boolean): Code<number | null> {
  const u = low48(va);
  const idx = [Math.floor(u / 2 ** 39) % 512, Math.floor(u / 2 ** 30) % 512, Math.floor(u / 2 ** 21) % 512, Math.floor(u / 4096) % 512];
  let table = p.pml4;
  for (let level = 0; level < 3; level++) {
    const ea = k.p2v(table + idx[level] * 8);
    const lo: number = yield load32(ea);
    if ((lo & PTE.P) === 0) {
      if (!create) return null;
      const t: number = yield allocFrame(k);
      if (t < 0) return null;
      yield zero(k, t);
      p.tableFrames.push(t);
      yield store32(ea + 4, Math.floor(t / TWO_32));
      yield store32(ea, (t % TWO_32) | PTE.P | PTE.RW | PTE.US);
      table = t;
    } else {
      const hi: number = yield load32(ea + 4);
      table = (hi & 0xfffff) * TWO_32 + ((lo >>> 0) - ((lo >>> 0) % 4096));
    }
  }
  return k.p2v(table + idx[3] * 8);
}

function* zero(k: Kernel, pa: number): Code<void> {
  yield repStos(k.p2v(pa), 4096, 0);
}

/** Maps user page `va` -> `pa` (P | US, RW if writable, NX unless executable); 0, ENOMEM or EEXIST. */
export function* mapUser(k: Kernel, p: Process, va: number, page: Page, writable: boolean, exec: boolean): Code<number> {
  if (p.pages.has(va)) return ERR.EEXIST;
  const pte: number | null = yield pteFor(k, p, va, true);
  if (pte === null) return ERR.ENOMEM;
  yield store32(pte + 4, Math.floor(page.pa / TWO_32) | (exec ? 0 : PTE_NX_HI));
  yield store32(pte, (page.pa % TWO_32) | PTE.P | PTE.US | (writable ? PTE.RW : 0));
  p.pages.set(va, page);
  return 0;
}

/** Unmaps user page `va`: clears the PTE, flushes the TLBs (shootdown on SMP), returns the page record or null. */
export function* unmapUser(k: Kernel, p: Process, va: number): Code<Page | null> {
  const page = p.pages.get(va);
  if (page === undefined) return null;
  const pte: number | null = yield pteFor(k, p, va, false);
  if (pte !== null) {
    yield store32(pte, 0);
    yield store32(pte + 4, 0);
  }
  p.pages.delete(va);
  yield invlpg(va);
  yield tlbShootdown(k, va);
  return page;
}

/** Creates a process running program `name` with argument `arg`; returns it or an error number. */
export function* createProcess(k: Kernel, name: string, parent: Process | null, arg: number): Code<Process | number> {
  const prog: { pa: number; size: number } | null = yield findProgram(k, name);
  if (prog === null) return ERR.ENOENT;
  if (k.procs.filter((q) => q.state === 'alive').length >= LIMITS.maxProcesses) return ERR.EQUOTA;
  const pml4: number = yield allocFrame(k);
  if (pml4 < 0) return ERR.ENOMEM;
  yield zero(k, pml4);
  // Kernel half: PML4 entries 256-511 shared with the kernel's tables.
  yield repMovs(k.p2v(pml4 + 2048), k.p2v(k.kernelPml4 + 2048), 2048);
  const p = new Process(k.nextPid++, name, pml4, parent);
  p.tableFrames.push(pml4);
  const codePages = Math.ceil(prog.size / 4096);
  for (let i = 0; i < codePages; i++) {
    const r: number = yield mapUser(k, p, USER.codeBase + i * 4096, { pa: prog.pa + i * 4096, kind: 'code' }, false, true);
    if (r < 0) {
      yield teardown(k, p);
      return r;
    }
  }
  const stack: number = yield allocFrame(k);
  if (stack < 0 || (yield mapStack(k, p, USER.stackPage, stack)) < 0) {
    if (stack >= 0) yield freeFrame(k, stack);
    yield teardown(k, p);
    return ERR.ENOMEM;
  }
  if (parent !== null) {
    // Handles are inherited: the child gets the parent's table (same indices).
    for (let i = 1; i < parent.handles.length; i++) {
      const h = parent.handles[i];
      p.handles[i] = h;
      if (h !== null) retain(h);
    }
  }
  yield acquire(k, k.procLock);
  k.procs.push(p);
  if (parent !== null) parent.children.push(p);
  yield release(k, k.procLock);
  const entryOffset: number = yield load32(k.p2v(prog.pa) + 4);
  const t: Thread | number = yield startUserThread(k, p, USER.codeBase + entryOffset, USER.stackTop, arg, USER.stackPage);
  if (typeof t === 'number') {
    yield teardown(k, p);
    return t;
  }
  return p;
}

function* mapStack(k: Kernel, p: Process, va: number, pa: number): Code<number> {
  yield zero(k, pa);
  return yield mapUser(k, p, va, { pa, kind: 'stack' }, true, false);
}

function retain(h: HandleObj): void {
  if (h.kind === 'endpoint') h.ep.refs++;
  else h.shm.refs++;
}

/** Starts a user thread of `p` at `entryVa` with stack page `stackPage` already mapped. */
export function* startUserThread(k: Kernel, p: Process, entryVa: number, stackTop: number, arg: number, stackPage: number): Code<Thread | number> {
  if (p.threads.length >= LIMITS.threadsPerProcess) return ERR.EQUOTA;
  p.threadsCreated++;
  const t: Thread = yield spawn(
    k,
    `${p.name}.${p.pid}.${p.threadsCreated}`,
    function* (kk: Kernel): Code<void> {
      yield enterUser(entryVa, stackTop, arg);
      // A user frame that returns executes garbage (#UD) and is killed; the kernel frame never resumes.
      yield kassert('sched-invariant', `user thread of ${p.name} returned to its kernel frame`);
      void kk;
    },
    1,
    (th) => {
      th.proc = p;
      th.userStackPage = stackPage;
      p.threads.push(th);
    },
  );
  return t;
}

/** Ends the calling user thread; the last thread out tears the process down. Never returns. */
export function* exitUserThread(k: Kernel, t: Thread, code: number): Code<never> {
  const p = procOf(t);
  if (p !== null) {
    yield acquire(k, k.procLock);
    const i = p.threads.indexOf(t);
    if (i >= 0) p.threads.splice(i, 1);
    const last = p.threads.length === 0 && p.state === 'alive';
    if (last) p.exitCode = p.exitRequested ?? code;
    yield release(k, k.procLock);
    if (t.userStackPage !== 0 && t.userStackPage !== USER.stackPage) {
      const page: Page | null = yield unmapUser(k, p, t.userStackPage);
      if (page !== null) yield freeFrame(k, page.pa);
    }
    if (last) {
      yield teardown(k, p);
      yield acquire(k, k.schedLock);
      p.state = 'zombie';
      wakeupLocked(k, p);
      yield release(k, k.schedLock);
    }
  }
  return (yield exitThread(k)) as never;
}

/** Frees everything a process owns: user pages, page tables, handles. Switches this CPU to the kernel's tables first. */
export function* teardown(k: Kernel, p: Process): Code<void> {
  yield pushOff(k);
  const c: PerCpu = yield mycpu(k);
  yield writeCr(3, k.kernelPml4);
  c.cr3 = k.kernelPml4;
  yield popOff(k);
  yield endpointOwnerDied(k, p.pid);
  for (let h = 1; h < p.handles.length; h++) {
    const obj = p.handles[h];
    if (obj !== null) {
      p.handles[h] = null;
      yield releaseHandleObj(k, obj);
    }
  }
  for (const [va, page] of [...p.pages.entries()]) {
    p.pages.delete(va);
    if (page.kind === 'anon' || page.kind === 'stack') yield freeFrame(k, page.pa);
    else if (page.kind === 'shm' && page.shm !== undefined) yield shmDrop(k, page.shm);
  }
  for (const f of p.tableFrames) yield freeFrame(k, f);
  p.tableFrames.length = 0;
}

/** Kills process `p`: every thread is marked killed and woken; each exits at its next kernel boundary. */
export function* killProcess(k: Kernel, p: Process): Code<void> {
  yield acquire(k, k.schedLock);
  for (const t of p.threads) {
    t.killed = true;
    if (t.state === 'sleeping') makeRunnable(k, t);
  }
  yield release(k, k.schedLock);
}

/** Waits for child `pid` (or any child with pid 0) to exit; returns its exit code or ECHILD. */
export function* waitChild(k: Kernel, self: Process | null, pid: number): Code<number> {
  const kids = self === null ? k.procs.filter((q) => q.parent === null) : self.children;
  const target = kids.find((q) => q.pid === pid || pid === 0);
  if (target === undefined) return ERR.ECHILD;
  yield acquire(k, k.schedLock);
  while (target.state !== 'zombie') yield sleep(k, target, k.schedLock);
  yield release(k, k.schedLock);
  yield acquire(k, k.procLock);
  k.procs = k.procs.filter((q) => q !== target);
  if (self !== null) self.children.splice(self.children.indexOf(target), 1);
  yield release(k, k.procLock);
  return target.exitCode;
}

/** Prints the kill marker and kills the process of `t` after a user fault. */
export function* userFault(k: Kernel, t: Thread, what: string): Code<never> {
  const p = procOf(t);
  yield kprint(k, `USER: killed pid=${p?.pid ?? -1} ${p?.name ?? '?'}: ${what}\n`);
  if (p !== null) yield killProcess(k, p);
  return (yield exitUserThread(k, t, -1)) as never;
}

export { freeFrame, allocFrame, zero as zeroFrame };
export type { Thread };

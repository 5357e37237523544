// Ring-3 test programs, one per seed marker of M3/M4 and the quota/pressure/
// stress lists. Each is a code image loaded as the boot module
// /user/<name>; its first symbol is the entry point. Programs only use
// syscalls and their own memory (the stack page at 0x7FF000 is scratch;
// programs have no data segment).
import { load32, store32, type Code } from '../../sim/ops.ts';
import { CodeImage, type EntryFn } from '../../sim/code.ts';
import { ERR, IPC_SEND_BLOCK, LIMITS, SYS, USER } from '../syscall/abi.ts';
import { SCRATCH, exit, print, putStr, spawn, sys, wait } from './lib.ts';

const BUF = SCRATCH + 0x400; // message buffer
const NAME = SCRATCH + 0xc00; // names
const KERNEL_VA = -0x800000000000; // 0xffff800000000000: the HHDM, kernel only

function* ok(cond: boolean, good: string, bad: string): Code<void> {
  yield* print(`${cond ? good : bad}\n`);
}

// ---- M3 ---------------------------------------------------------------------

function* userHello(): Code<void> {
  yield* print('USER: hello\n');
  yield* exit(0);
}

function* syscallRoundtrip(): Code<void> {
  const pid = yield* sys(SYS.getpid);
  const t = yield* sys(SYS.time_now);
  const n = yield* print('roundtrip\n');
  yield* ok(pid > 0 && t >= 0 && n === 10, 'SYSCALL: ok', `SYSCALL: err pid=${pid} t=${t} n=${n}`);
  yield* exit(0);
}

function* threadExitWorker(flagVa: number): Code<void> {
  yield store32(flagVa, 0x600d);
  yield* sys(SYS.thread_exit);
}

function* threadExit(): Code<void> {
  const page = 0x2000000;
  yield* sys(SYS.vm_map, page, 4096);
  const tid = yield* sys(SYS.thread_spawn, USER.codeBase + IMAGES['thread-exit'].offsetOf('worker'), page);
  let flag = 0;
  for (let i = 0; i < 1000 && flag !== 0x600d; i++) {
    yield* sys(SYS.yield);
    flag = yield load32(page);
  }
  yield* ok(tid > 0 && flag === 0x600d, 'THREAD_EXIT: ok', `THREAD_EXIT: err tid=${tid} flag=${flag}`);
  yield* exit(0);
}

function* userFault(): Code<void> {
  yield* print('USER: about to fault\n');
  yield store32(0x10, 1); // unmapped: #PF in ring 3
  yield* print('USER: survived a fault (wrong)\n');
  yield* exit(1);
}

function* spawnMain(): Code<void> {
  const pid = yield* spawn('spawn-child', 7);
  if (pid < 0) {
    yield* print(`SPAWN: spawn err ${pid}\n`);
    yield* exit(1);
  }
  const code = yield* wait(pid);
  yield* ok(code === 7, 'SPAWN: main ok', `SPAWN: spawn err code=${code}`);
  yield* exit(0);
}

function* spawnChild(arg: number): Code<void> {
  yield* print('SPAWN: child ok\n');
  yield* exit(arg);
}

function* vmMap(): Code<void> {
  const va = 0x3000000;
  const r = yield* sys(SYS.vm_map, va, 4096);
  let good = r === 0;
  for (let i = 0; i < 16 && good; i++) yield store32(va + i * 256, 0x1000 + i);
  for (let i = 0; i < 16 && good; i++) good = (yield load32(va + i * 256)) === 0x1000 + i;
  const again = yield* sys(SYS.vm_map, va, 4096); // already mapped
  const bad = yield* sys(SYS.vm_map, va + 1, 4096); // unaligned
  const un = yield* sys(SYS.vm_unmap, va, 4096);
  good = good && again === ERR.EEXIST && bad === ERR.EINVAL && un === 0;
  yield* ok(good, 'VM: map ok', `VM: map err r=${r} again=${again} bad=${bad} un=${un}`);
  yield* exit(0);
}

function* yieldTest(): Code<void> {
  let bad = 0;
  for (let i = 0; i < 50; i++) if ((yield* sys(SYS.yield)) !== 0) bad++;
  yield* ok(bad === 0, 'YIELD: ok', `YIELD: err ${bad}`);
  yield* exit(0);
}

function* syscallInvalid(): Code<void> {
  const a = yield* sys(999);
  const b = yield* sys(-5);
  const c = yield* sys(0x7fffffff);
  yield* ok(a === ERR.ENOSYS && b === ERR.ENOSYS && c === ERR.ENOSYS, 'SYSCALL: invalid ok', `SYSCALL: invalid err ${a} ${b} ${c}`);
  yield* exit(0);
}

// ---- M4 ---------------------------------------------------------------------

/** ping-pong: parent sends `n` pings on handle 1, child answers on handle 2 (handles are inherited). */
function* ping(): Code<void> {
  const n = 100;
  const a = yield* sys(SYS.ipc_endpoint_create);
  const b = yield* sys(SYS.ipc_endpoint_create);
  const pid = yield* spawn('pong', n);
  let good = a === 1 && b === 2 && pid > 0;
  const t0 = yield* sys(SYS.time_now);
  for (let i = 0; i < n && good; i++) {
    yield store32(BUF, i);
    good = (yield* sys(SYS.ipc_send, a, BUF, 4, IPC_SEND_BLOCK)) === 0;
    const len = yield* sys(SYS.ipc_recv, b, BUF + 64, 64);
    good = good && len === 4 && (yield load32(BUF + 64)) === i + 1;
  }
  void t0;
  const code = yield* wait(pid);
  yield* ok(good && code === 0, 'PING: ok', 'PING: err');
  yield* exit(0);
}

function* pong(n: number): Code<void> {
  let good = true;
  for (let i = 0; i < n && good; i++) {
    const len = yield* sys(SYS.ipc_recv, 1, BUF, 64);
    const v = yield load32(BUF);
    good = len === 4 && v === i;
    yield store32(BUF, v + 1);
    good = good && (yield* sys(SYS.ipc_send, 2, BUF, 4, IPC_SEND_BLOCK)) === 0;
  }
  yield* ok(good, 'PONG: ok', 'PONG: err');
  yield* exit(good ? 0 : 1);
}

function* shmWriter(): Code<void> {
  const h = yield* sys(SYS.shm_create, 4096);
  const ep = yield* sys(SYS.ipc_endpoint_create);
  const va = yield* sys(SYS.shm_map, h, 0, 0);
  let sum = 0;
  for (let i = 0; i < 1024; i++) {
    const v = (i * 2654435761) >>> 0;
    yield store32(va + i * 4, v);
    sum = (sum + v) >>> 0;
  }
  const pid = yield* spawn('shm-reader', h * 256 + ep);
  const len = yield* sys(SYS.ipc_recv, ep, BUF, 16);
  const theirs = yield load32(BUF);
  yield* wait(pid);
  yield* ok(va === USER.shmBase && len === 4 && theirs === sum, 'SHM: checksum ok', `SHM: checksum err ${theirs} != ${sum}`);
  yield* exit(0);
}

function* shmReader(arg: number): Code<void> {
  const h = Math.floor(arg / 256);
  const ep = arg % 256;
  const va = yield* sys(SYS.shm_map, h, 0x20000000, 0);
  let sum = 0;
  for (let i = 0; i < 1024; i++) sum = (sum + ((yield load32(va + i * 4)) as number)) >>> 0;
  yield store32(BUF, sum);
  yield* sys(SYS.ipc_send, ep, BUF, 4, IPC_SEND_BLOCK);
  yield* exit(0);
}

function* ipcBadptr(): Code<void> {
  const ep = yield* sys(SYS.ipc_endpoint_create);
  const s1 = yield* sys(SYS.ipc_send, ep, KERNEL_VA, 8);
  const s2 = yield* sys(SYS.ipc_send, ep, 0, 8);
  const s3 = yield* sys(SYS.ipc_send, ep, 0x5000000, 8); // unmapped user page
  yield* ok(s1 === ERR.EFAULT && s2 === ERR.EFAULT && s3 === ERR.EFAULT, 'IPC: badptr send ok', `IPC: badptr send err ${s1} ${s2} ${s3}`);
  yield* putStr(BUF, 'message!');
  const s = yield* sys(SYS.ipc_send, ep, BUF, 8);
  const r1 = yield* sys(SYS.ipc_recv, ep, KERNEL_VA, 64);
  const r2 = yield* sys(SYS.ipc_recv, ep, USER.codeBase, 64); // read-only code page
  const r3 = yield* sys(SYS.ipc_recv, ep, BUF + 64, 64); // the message is still there
  yield* ok(s === 0 && r1 === ERR.EFAULT && r2 === ERR.EFAULT && r3 === 8, 'IPC: badptr recv ok', `IPC: badptr recv err ${s} ${r1} ${r2} ${r3}`);
  yield* exit(0);
}

function* ipcFull(): Code<void> {
  const ep = yield* sys(SYS.ipc_endpoint_create);
  let sent = 0;
  let last = 0;
  for (let i = 0; i < 64; i++) {
    last = yield* sys(SYS.ipc_send, ep, BUF, 16);
    if (last !== 0) break;
    sent++;
  }
  const big = yield* sys(SYS.ipc_send, ep, BUF, LIMITS.maxMessage + 1);
  yield* ok(sent >= 1 && last === ERR.EFULL && big === ERR.ETOOBIG, 'IPC: full ok', `IPC: full err sent=${sent} last=${last} big=${big}`);
  yield* exit(0);
}

function* waiterThread(ep: number): Code<void> {
  yield* sys(SYS.ipc_recv, ep, 0x2000000 + 512, 64);
  yield store32(0x2000000, 1);
  yield* sys(SYS.thread_exit);
}

function* ipcWaiterStrict(): Code<void> {
  yield* sys(SYS.vm_map, 0x2000000, 4096);
  const ep = yield* sys(SYS.ipc_endpoint_create);
  yield* sys(SYS.thread_spawn, USER.codeBase + IMAGES['ipc-waiter-strict'].offsetOf('waiter'), ep);
  for (let i = 0; i < 20; i++) yield* sys(SYS.yield); // let the waiter block
  const r = yield* sys(SYS.ipc_recv, ep, BUF, 64); // a second receiver: refused, not queued
  const s = yield* sys(SYS.ipc_send, ep, BUF, 8);
  let done = 0;
  for (let i = 0; i < 1000 && done === 0; i++) {
    yield* sys(SYS.yield);
    done = yield load32(0x2000000);
  }
  yield* ok(r === ERR.EBUSY && s === 0 && done === 1, 'IPC: waiter strict ok', `IPC: waiter strict err r=${r} s=${s} done=${done}`);
  yield* exit(0);
}

function* svcOverwrite(): Code<void> {
  const e1 = yield* sys(SYS.ipc_endpoint_create);
  const e2 = yield* sys(SYS.ipc_endpoint_create);
  const len = yield* putStr(NAME, 'echo');
  const r1 = yield* sys(SYS.svc_register, NAME, len, e1);
  const r2 = yield* sys(SYS.svc_register, NAME, len, e2);
  const h = yield* sys(SYS.svc_lookup, NAME, len);
  const s = yield* sys(SYS.ipc_send, h, BUF, 4);
  const got = yield* sys(SYS.ipc_recv, e2, BUF, 64); // the message reached the second endpoint
  yield* ok(r1 === 0 && r2 === 0 && h > 0 && s === 0 && got === 4, 'SVC: overwrite ok', `SVC: overwrite err ${r1} ${r2} ${h} ${s} ${got}`);
  yield* exit(0);
}

function* svcFull(): Code<void> {
  const ep = yield* sys(SYS.ipc_endpoint_create);
  let registered = 0;
  let last = 0;
  for (let i = 0; i < LIMITS.registrySlots + 2; i++) {
    const len = yield* putStr(NAME, `svc${i}`);
    last = yield* sys(SYS.svc_register, NAME, len, ep);
    if (last !== 0) break;
    registered++;
  }
  yield* ok(registered === LIMITS.registrySlots && last === ERR.EFULL, 'SVC: full ok', `SVC: full err ${registered} ${last}`);
  yield* exit(0);
}

function* svcBadEndpoint(): Code<void> {
  const len = yield* putStr(NAME, 'bad');
  const a = yield* sys(SYS.svc_register, NAME, len, 99);
  const shm = yield* sys(SYS.shm_create, 64);
  const b = yield* sys(SYS.svc_register, NAME, len, shm);
  const c = yield* sys(SYS.svc_register, NAME, len, 0);
  yield* ok(a === ERR.EBADH && b === ERR.EBADH && c === ERR.EBADH, 'SVC: bad endpoint ok', `SVC: bad endpoint err ${a} ${b} ${c}`);
  yield* exit(0);
}

function* svcBadptr(): Code<void> {
  const ep = yield* sys(SYS.ipc_endpoint_create);
  const a = yield* sys(SYS.svc_register, KERNEL_VA, 4, ep);
  const b = yield* sys(SYS.svc_lookup, KERNEL_VA, 4);
  const c = yield* sys(SYS.svc_register, 0x6000000, 4, ep);
  yield* ok(a === ERR.EFAULT && b === ERR.EFAULT && c === ERR.EFAULT, 'SVC: badptr ok', `SVC: badptr err ${a} ${b} ${c}`);
  yield* exit(0);
}

// ---- quotas, pressure, stress -----------------------------------------------

function* quotaEndpoints(): Code<void> {
  let n = 0;
  let last = 0;
  for (let i = 0; i < 64; i++) {
    last = yield* sys(SYS.ipc_endpoint_create);
    if (last < 0) break;
    n++;
  }
  yield* ok(n === LIMITS.endpointsPerProcess && last === ERR.EQUOTA, 'QUOTA: endpoints ok', `QUOTA: endpoints err ${n} ${last}`);
  yield* exit(0);
}

function* quotaShm(): Code<void> {
  let n = 0;
  let last = 0;
  for (let i = 0; i < 64; i++) {
    last = yield* sys(SYS.shm_create, 4096);
    if (last < 0) break;
    n++;
  }
  const big = yield* sys(SYS.shm_create, 8192);
  yield* ok(n === LIMITS.shmPerProcess && last === ERR.EQUOTA && big === ERR.EINVAL, 'QUOTA: shm ok', `QUOTA: shm err ${n} ${last} ${big}`);
  yield* exit(0);
}

function* spinner(flagVa: number): Code<void> {
  for (let i = 0; i < 100_000; i++) {
    if ((yield load32(flagVa)) !== 0) break;
    yield* sys(SYS.yield);
  }
  yield* sys(SYS.thread_exit);
}

function* quotaThreads(): Code<void> {
  const page = 0x2000000;
  yield* sys(SYS.vm_map, page, 4096);
  let n = 1; // main
  let last = 0;
  for (let i = 0; i < 32; i++) {
    last = yield* sys(SYS.thread_spawn, USER.codeBase + IMAGES['quota-threads'].offsetOf('spinner'), page);
    if (last < 0) break;
    n++;
  }
  yield store32(page, 1);
  yield* ok(n === LIMITS.threadsPerProcess && last === ERR.EQUOTA, 'QUOTA: threads ok', `QUOTA: threads err ${n} ${last}`);
  yield* exit(0);
}

function* pressureShm(): Code<void> {
  let good = true;
  for (let i = 0; i < 64 && good; i++) {
    const h = yield* sys(SYS.shm_create, 4096);
    const va = yield* sys(SYS.shm_map, h, 0x30000000, 0);
    good = h > 0 && va === 0x30000000;
    if (good) {
      yield store32(va, i);
      good = (yield load32(va)) === i;
    }
    good = good && (yield* sys(SYS.vm_unmap, 0x30000000, 4096)) === 0 && (yield* sys(SYS.handle_close, h)) === 0;
  }
  yield* ok(good, 'PRESSURE: shm ok', 'PRESSURE: shm err');
  yield* exit(0);
}

function* stressSyscall(): Code<void> {
  let bad = 0;
  const pid = yield* sys(SYS.getpid);
  for (let i = 0; i < 500; i++) {
    if ((yield* sys(SYS.getpid)) !== pid) bad++;
    if ((yield* sys(SYS.time_now)) < 0) bad++;
    if ((yield* sys(SYS.debug_write, BUF, 0)) !== 0) bad++;
    if (i % 10 === 0 && (yield* sys(SYS.yield)) !== 0) bad++;
    if ((yield* sys(1000 + i)) !== ERR.ENOSYS) bad++;
  }
  yield* ok(bad === 0, 'STRESS: syscall ok', `STRESS: syscall err ${bad}`);
  yield* exit(0);
}

/** stress-ipc: `senders` children each send `msgs` tagged messages to endpoint 1; the parent checks exactly-once, per-sender order. */
function* stressIpc(): Code<void> {
  const senders = 3;
  const msgs = 40;
  const ep = yield* sys(SYS.ipc_endpoint_create);
  const pids: number[] = [];
  for (let s = 0; s < senders; s++) pids.push(yield* spawn('ipc-sender', s * 65536 + msgs));
  const next = new Array(senders).fill(0);
  let good = ep === 1 && pids.every((p) => p > 0);
  for (let i = 0; i < senders * msgs && good; i++) {
    const len = yield* sys(SYS.ipc_recv, ep, BUF, 64);
    const from = yield load32(BUF);
    const seq = yield load32(BUF + 4);
    good = len === 8 && from < senders && seq === next[from];
    next[from]++;
  }
  for (const p of pids) if ((yield* wait(p)) !== 0) good = false;
  yield* ok(good && next.every((n) => n === msgs), 'STRESS: ipc ok', `STRESS: ipc err ${next.join(',')}`);
  yield* exit(0);
}

function* ipcSender(arg: number): Code<void> {
  const id = Math.floor(arg / 65536);
  const n = arg % 65536;
  for (let i = 0; i < n; i++) {
    yield store32(BUF, id);
    yield store32(BUF + 4, i);
    const r = yield* sys(SYS.ipc_send, 1, BUF, 8, IPC_SEND_BLOCK);
    if (r !== 0) yield* exit(1);
  }
  yield* exit(0);
}

function image(name: string, entries: [string, EntryFn][]): CodeImage {
  return new CodeImage(name, entries);
}

/** Every user program, by name (boot module /user/<name>). */
export const IMAGES: Record<string, CodeImage> = {
  'user-hello': image('user-hello', [['main', userHello]]),
  'syscall-roundtrip': image('syscall-roundtrip', [['main', syscallRoundtrip]]),
  'thread-exit': image('thread-exit', [
    ['main', threadExit],
    ['worker', threadExitWorker],
  ]),
  'user-fault': image('user-fault', [['main', userFault]]),
  spawn: image('spawn', [['main', spawnMain]]),
  'spawn-child': image('spawn-child', [['main', spawnChild]]),
  'vm-map': image('vm-map', [['main', vmMap]]),
  yield: image('yield', [['main', yieldTest]]),
  'syscall-invalid': image('syscall-invalid', [['main', syscallInvalid]]),
  'ping-pong': image('ping-pong', [['main', ping]]),
  pong: image('pong', [['main', pong]]),
  'shm-bulk': image('shm-bulk', [['main', shmWriter]]),
  'shm-reader': image('shm-reader', [['main', shmReader]]),
  'ipc-badptr': image('ipc-badptr', [['main', ipcBadptr]]),
  'ipc-full': image('ipc-full', [['main', ipcFull]]),
  'ipc-waiter-strict': image('ipc-waiter-strict', [
    ['main', ipcWaiterStrict],
    ['waiter', waiterThread],
  ]),
  'svc-overwrite': image('svc-overwrite', [['main', svcOverwrite]]),
  'svc-full': image('svc-full', [['main', svcFull]]),
  'svc-bad-endpoint': image('svc-bad-endpoint', [['main', svcBadEndpoint]]),
  'svc-badptr': image('svc-badptr', [['main', svcBadptr]]),
  'quota-endpoints': image('quota-endpoints', [['main', quotaEndpoints]]),
  'quota-shm': image('quota-shm', [['main', quotaShm]]),
  'quota-threads': image('quota-threads', [
    ['main', quotaThreads],
    ['spinner', spinner],
  ]),
  'pressure-shm': image('pressure-shm', [['main', pressureShm]]),
  'stress-syscall': image('stress-syscall', [['main', stressSyscall]]),
  'stress-ipc': image('stress-ipc', [['main', stressIpc]]),
  'ipc-sender': image('ipc-sender', [['main', ipcSender]]),
};

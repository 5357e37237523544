// Ring-3 test programs, one per seed marker of M3/M4 and the quota/pressure/
// stress lists. Each is a code image loaded as the boot module
// /user/<name>; its first symbol is the entry point. Programs only use
// syscalls and their own memory (the stack page at 0x7FF000 is scratch;
// programs have no data segment).
import { load32, store32, type Code } from '../../sim/ops.ts';
import * as ops from '../../sim/ops.ts';
import { CodeImage, type EntryFn } from '../../sim/code.ts';
import { ERR, IPC_SEND_BLOCK, LIMITS, SYS, USER } from '../syscall/abi.ts';
import { SCRATCH, exit, ok, print, putStr, spawn, sys, wait, xorshift } from './lib.ts';
import { BLK_IMAGES } from './blk.ts';

const BUF = SCRATCH + 0x400; // message buffer
const NAME = SCRATCH + 0xc00; // names
const KERNEL_VA = -0x800000000000; // 0xffff800000000000: the HHDM, kernel only

// ---- M3 ---------------------------------------------------------------------

function* userHello(): Code<void> {
  yield print('USER: hello\n');
  yield exit(0);
}

function* syscallRoundtrip(): Code<void> {
  const pid = yield sys(SYS.getpid);
  const t = yield sys(SYS.time_now);
  const n = yield print('roundtrip\n');
  yield ok(pid > 0 && t >= 0 && n === 10, 'SYSCALL: ok', `SYSCALL: err pid=${pid} t=${t} n=${n}`);
  yield exit(0);
}

function* threadExitWorker(flagVa: number): Code<void> {
  yield store32(flagVa, 0x600d);
  yield sys(SYS.thread_exit);
}

function* threadExit(): Code<void> {
  const page = 0x2000000;
  yield sys(SYS.vm_map, page, 4096);
  const tid = yield sys(SYS.thread_spawn, USER.codeBase + IMAGES['thread-exit'].offsetOf('worker'), page);
  let flag = 0;
  for (let i = 0; i < 1000 && flag !== 0x600d; i++) {
    yield sys(SYS.yield);
    flag = yield load32(page);
  }
  yield ok(tid > 0 && flag === 0x600d, 'THREAD_EXIT: ok', `THREAD_EXIT: err tid=${tid} flag=${flag}`);
  yield exit(0);
}

function* userFault(): Code<void> {
  yield print('USER: about to fault\n');
  yield store32(0x10, 1); // unmapped: #PF in ring 3
  yield print('USER: survived a fault (wrong)\n');
  yield exit(1);
}

function* spawnMain(): Code<void> {
  const pid = yield spawn('spawn-child', 7);
  if (pid < 0) {
    yield print(`SPAWN: spawn err ${pid}\n`);
    yield exit(1);
  }
  const code = yield wait(pid);
  yield ok(code === 7, 'SPAWN: main ok', `SPAWN: spawn err code=${code}`);
  yield exit(0);
}

function* spawnChild(arg: number): Code<void> {
  yield print('SPAWN: child ok\n');
  yield exit(arg);
}

function* vmMap(): Code<void> {
  const va = 0x3000000;
  const r = yield sys(SYS.vm_map, va, 4096);
  let good = r === 0;
  for (let i = 0; i < 16 && good; i++) yield store32(va + i * 256, 0x1000 + i);
  for (let i = 0; i < 16 && good; i++) good = (yield load32(va + i * 256)) === 0x1000 + i;
  const again = yield sys(SYS.vm_map, va, 4096); // already mapped
  const bad = yield sys(SYS.vm_map, va + 1, 4096); // unaligned
  const un = yield sys(SYS.vm_unmap, va, 4096);
  good = good && again === ERR.EEXIST && bad === ERR.EINVAL && un === 0;
  yield ok(good, 'VM: map ok', `VM: map err r=${r} again=${again} bad=${bad} un=${un}`);
  yield exit(0);
}

function* yieldTest(): Code<void> {
  let bad = 0;
  for (let i = 0; i < 50; i++) if ((yield sys(SYS.yield)) !== 0) bad++;
  yield ok(bad === 0, 'YIELD: ok', `YIELD: err ${bad}`);
  yield exit(0);
}

function* syscallInvalid(): Code<void> {
  const a = yield sys(999);
  const b = yield sys(-5);
  const c = yield sys(0x7fffffff);
  yield ok(a === ERR.ENOSYS && b === ERR.ENOSYS && c === ERR.ENOSYS, 'SYSCALL: invalid ok', `SYSCALL: invalid err ${a} ${b} ${c}`);
  yield exit(0);
}

// ---- M4 ---------------------------------------------------------------------

/**
 * ping-pong: parent sends `n` pings on handle 1, child answers each with a
 * pong on handle 2 (handles are inherited): 2n messages. n is the program's
 * argument (kernel option arg=N, 1..10000), 100 when it is 0.
 */
function* ping(arg: number): Code<void> {
  const n = arg >= 1 && arg <= 10000 ? arg : 100;
  const a = yield sys(SYS.ipc_endpoint_create);
  const b = yield sys(SYS.ipc_endpoint_create);
  const pid = yield spawn('pong', n);
  let good = a === 1 && b === 2 && pid > 0;
  const t0 = yield sys(SYS.time_now);
  for (let i = 0; i < n && good; i++) {
    yield store32(BUF, i);
    good = (yield sys(SYS.ipc_send, a, BUF, 4, IPC_SEND_BLOCK)) === 0;
    const len = yield sys(SYS.ipc_recv, b, BUF + 64, 64);
    good = good && len === 4 && (yield load32(BUF + 64)) === i + 1;
  }
  void t0;
  const code = yield wait(pid);
  yield ok(good && code === 0, 'PING: ok', 'PING: err');
  yield exit(0);
}

function* pong(n: number): Code<void> {
  let good = true;
  for (let i = 0; i < n && good; i++) {
    const len = yield sys(SYS.ipc_recv, 1, BUF, 64);
    const v = yield load32(BUF);
    good = len === 4 && v === i;
    yield store32(BUF, v + 1);
    good = good && (yield sys(SYS.ipc_send, 2, BUF, 4, IPC_SEND_BLOCK)) === 0;
  }
  yield ok(good, 'PONG: ok', 'PONG: err');
  yield exit(good ? 0 : 1);
}

function* shmWriter(): Code<void> {
  const h = yield sys(SYS.shm_create, 4096);
  const ep = yield sys(SYS.ipc_endpoint_create);
  const va = yield sys(SYS.shm_map, h, 0, 0);
  let sum = 0;
  for (let i = 0; i < 1024; i++) {
    const v = (i * 2654435761) >>> 0;
    yield store32(va + i * 4, v);
    sum = (sum + v) >>> 0;
  }
  const pid = yield spawn('shm-reader', h * 256 + ep);
  const len = yield sys(SYS.ipc_recv, ep, BUF, 16);
  const theirs = yield load32(BUF);
  yield wait(pid);
  yield ok(va === USER.shmBase && len === 4 && theirs === sum, 'SHM: checksum ok', `SHM: checksum err ${theirs} != ${sum}`);
  yield exit(0);
}

function* shmReader(arg: number): Code<void> {
  const h = Math.floor(arg / 256);
  const ep = arg % 256;
  const va = yield sys(SYS.shm_map, h, 0x20000000, 0);
  let sum = 0;
  for (let i = 0; i < 1024; i++) sum = (sum + ((yield load32(va + i * 4)) as number)) >>> 0;
  yield store32(BUF, sum);
  yield sys(SYS.ipc_send, ep, BUF, 4, IPC_SEND_BLOCK);
  yield exit(0);
}

function* ipcBadptr(): Code<void> {
  const ep = yield sys(SYS.ipc_endpoint_create);
  const s1 = yield sys(SYS.ipc_send, ep, KERNEL_VA, 8);
  const s2 = yield sys(SYS.ipc_send, ep, 0, 8);
  const s3 = yield sys(SYS.ipc_send, ep, 0x5000000, 8); // unmapped user page
  yield ok(s1 === ERR.EFAULT && s2 === ERR.EFAULT && s3 === ERR.EFAULT, 'IPC: badptr send ok', `IPC: badptr send err ${s1} ${s2} ${s3}`);
  yield putStr(BUF, 'message!');
  const s = yield sys(SYS.ipc_send, ep, BUF, 8);
  const r1 = yield sys(SYS.ipc_recv, ep, KERNEL_VA, 64);
  const r2 = yield sys(SYS.ipc_recv, ep, USER.codeBase, 64); // read-only code page
  const r3 = yield sys(SYS.ipc_recv, ep, BUF + 64, 64); // the message is still there
  yield ok(s === 0 && r1 === ERR.EFAULT && r2 === ERR.EFAULT && r3 === 8, 'IPC: badptr recv ok', `IPC: badptr recv err ${s} ${r1} ${r2} ${r3}`);
  yield exit(0);
}

function* ipcFull(): Code<void> {
  const ep = yield sys(SYS.ipc_endpoint_create);
  let sent = 0;
  let last = 0;
  for (let i = 0; i < 64; i++) {
    last = yield sys(SYS.ipc_send, ep, BUF, 16);
    if (last !== 0) break;
    sent++;
  }
  const big = yield sys(SYS.ipc_send, ep, BUF, LIMITS.maxMessage + 1);
  yield ok(sent >= 1 && last === ERR.EFULL && big === ERR.ETOOBIG, 'IPC: full ok', `IPC: full err sent=${sent} last=${last} big=${big}`);
  yield exit(0);
}

function* waiterThread(ep: number): Code<void> {
  yield sys(SYS.ipc_recv, ep, 0x2000000 + 512, 64);
  yield store32(0x2000000, 1);
  yield sys(SYS.thread_exit);
}

function* ipcWaiterStrict(): Code<void> {
  yield sys(SYS.vm_map, 0x2000000, 4096);
  const ep = yield sys(SYS.ipc_endpoint_create);
  yield sys(SYS.thread_spawn, USER.codeBase + IMAGES['ipc-waiter-strict'].offsetOf('waiter'), ep);
  for (let i = 0; i < 20; i++) yield sys(SYS.yield); // let the waiter block
  const r = yield sys(SYS.ipc_recv, ep, BUF, 64); // a second receiver: refused, not queued
  const s = yield sys(SYS.ipc_send, ep, BUF, 8);
  let done = 0;
  for (let i = 0; i < 1000 && done === 0; i++) {
    yield sys(SYS.yield);
    done = yield load32(0x2000000);
  }
  yield ok(r === ERR.EBUSY && s === 0 && done === 1, 'IPC: waiter strict ok', `IPC: waiter strict err r=${r} s=${s} done=${done}`);
  yield exit(0);
}

function* svcOverwrite(): Code<void> {
  const e1 = yield sys(SYS.ipc_endpoint_create);
  const e2 = yield sys(SYS.ipc_endpoint_create);
  const len = yield putStr(NAME, 'echo');
  const r1 = yield sys(SYS.svc_register, NAME, len, e1);
  const r2 = yield sys(SYS.svc_register, NAME, len, e2);
  const h = yield sys(SYS.svc_lookup, NAME, len);
  const s = yield sys(SYS.ipc_send, h, BUF, 4);
  const got = yield sys(SYS.ipc_recv, e2, BUF, 64); // the message reached the second endpoint
  yield ok(r1 === 0 && r2 === 0 && h > 0 && s === 0 && got === 4, 'SVC: overwrite ok', `SVC: overwrite err ${r1} ${r2} ${h} ${s} ${got}`);
  yield exit(0);
}

function* svcFull(): Code<void> {
  const ep = yield sys(SYS.ipc_endpoint_create);
  let registered = 0;
  let last = 0;
  for (let i = 0; i < LIMITS.registrySlots + 2; i++) {
    const len = yield putStr(NAME, `svc${i}`);
    last = yield sys(SYS.svc_register, NAME, len, ep);
    if (last !== 0) break;
    registered++;
  }
  yield ok(registered === LIMITS.registrySlots && last === ERR.EFULL, 'SVC: full ok', `SVC: full err ${registered} ${last}`);
  yield exit(0);
}

function* svcBadEndpoint(): Code<void> {
  const len = yield putStr(NAME, 'bad');
  const a = yield sys(SYS.svc_register, NAME, len, 99);
  const shm = yield sys(SYS.shm_create, 64);
  const b = yield sys(SYS.svc_register, NAME, len, shm);
  const c = yield sys(SYS.svc_register, NAME, len, 0);
  yield ok(a === ERR.EBADH && b === ERR.EBADH && c === ERR.EBADH, 'SVC: bad endpoint ok', `SVC: bad endpoint err ${a} ${b} ${c}`);
  yield exit(0);
}

function* svcBadptr(): Code<void> {
  const ep = yield sys(SYS.ipc_endpoint_create);
  const a = yield sys(SYS.svc_register, KERNEL_VA, 4, ep);
  const b = yield sys(SYS.svc_lookup, KERNEL_VA, 4);
  const c = yield sys(SYS.svc_register, 0x6000000, 4, ep);
  yield ok(a === ERR.EFAULT && b === ERR.EFAULT && c === ERR.EFAULT, 'SVC: badptr ok', `SVC: badptr err ${a} ${b} ${c}`);
  yield exit(0);
}

// ---- quotas, pressure, stress -----------------------------------------------

function* quotaEndpoints(): Code<void> {
  let n = 0;
  let last = 0;
  for (let i = 0; i < 64; i++) {
    last = yield sys(SYS.ipc_endpoint_create);
    if (last < 0) break;
    n++;
  }
  yield ok(n === LIMITS.endpointsPerProcess && last === ERR.EQUOTA, 'QUOTA: endpoints ok', `QUOTA: endpoints err ${n} ${last}`);
  yield exit(0);
}

function* quotaShm(): Code<void> {
  let n = 0;
  let last = 0;
  for (let i = 0; i < 64; i++) {
    last = yield sys(SYS.shm_create, 4096);
    if (last < 0) break;
    n++;
  }
  const big = yield sys(SYS.shm_create, 8192);
  yield ok(n === LIMITS.shmPerProcess && last === ERR.EQUOTA && big === ERR.EINVAL, 'QUOTA: shm ok', `QUOTA: shm err ${n} ${last} ${big}`);
  yield exit(0);
}

function* spinner(flagVa: number): Code<void> {
  for (let i = 0; i < 100_000; i++) {
    if ((yield load32(flagVa)) !== 0) break;
    yield sys(SYS.yield);
  }
  yield sys(SYS.thread_exit);
}

function* quotaThreads(): Code<void> {
  const page = 0x2000000;
  yield sys(SYS.vm_map, page, 4096);
  let n = 1; // main
  let last = 0;
  for (let i = 0; i < 32; i++) {
    last = yield sys(SYS.thread_spawn, USER.codeBase + IMAGES['quota-threads'].offsetOf('spinner'), page);
    if (last < 0) break;
    n++;
  }
  yield store32(page, 1);
  yield ok(n === LIMITS.threadsPerProcess && last === ERR.EQUOTA, 'QUOTA: threads ok', `QUOTA: threads err ${n} ${last}`);
  yield exit(0);
}

function* pressureShm(): Code<void> {
  let good = true;
  for (let i = 0; i < 64 && good; i++) {
    const h = yield sys(SYS.shm_create, 4096);
    const va = yield sys(SYS.shm_map, h, 0x30000000, 0);
    good = h > 0 && va === 0x30000000;
    if (good) {
      yield store32(va, i);
      good = (yield load32(va)) === i;
    }
    good = good && (yield sys(SYS.vm_unmap, 0x30000000, 4096)) === 0 && (yield sys(SYS.handle_close, h)) === 0;
  }
  yield ok(good, 'PRESSURE: shm ok', 'PRESSURE: shm err');
  yield exit(0);
}

function* stressSyscall(): Code<void> {
  let bad = 0;
  const pid = yield sys(SYS.getpid);
  for (let i = 0; i < 500; i++) {
    if ((yield sys(SYS.getpid)) !== pid) bad++;
    if ((yield sys(SYS.time_now)) < 0) bad++;
    if ((yield sys(SYS.debug_write, BUF, 0)) !== 0) bad++;
    if (i % 10 === 0 && (yield sys(SYS.yield)) !== 0) bad++;
    if ((yield sys(1000 + i)) !== ERR.ENOSYS) bad++;
  }
  yield ok(bad === 0, 'STRESS: syscall ok', `STRESS: syscall err ${bad}`);
  yield exit(0);
}

/**
 * stress-ipc: `senders` child processes each send `msgs` tagged messages
 * (blocking sends); message i of a sender goes to endpoint 1 + (i mod
 * `receivers`), and one receiver thread per endpoint checks that every
 * message arrives exactly once and in order per sender. arg = senders |
 * msgs << 8 | receivers << 20 (0 = defaults 3, 40, 1).
 */
function* stressIpc(arg: number): Code<void> {
  const senders = arg % 256 || 3;
  const msgs = Math.floor(arg / 256) % 4096 || 40;
  const receivers = Math.floor(arg / (1 << 20)) % 16 || 1;
  const page = 0x2000000; // results: word j*64+s = next expected seq of sender s at receiver j; word 4000+j = done flag
  yield sys(SYS.vm_map, page, 4096);
  for (let j = 0; j < receivers; j++) if ((yield sys(SYS.ipc_endpoint_create)) !== j + 1) yield exit(2);
  for (let j = 1; j < receivers; j++) yield sys(SYS.thread_spawn, USER.codeBase + IMAGES['stress-ipc'].offsetOf('receiver'), j * 65536 + senders * 256 + receivers + msgs * (1 << 24));
  const pids: number[] = [];
  for (let s = 0; s < senders; s++) pids.push(yield spawn('ipc-sender', s + (msgs << 8) + (receivers << 20)));
  const good: boolean = yield receiveAll(0, senders, receivers, msgs);
  let done = 0;
  for (let i = 0; i < 100_000 && done < receivers - 1; i++) {
    done = 0;
    for (let j = 1; j < receivers; j++) if ((yield load32(page + 4 * (4000 / 4 + j))) !== 0) done++;
    if (done < receivers - 1) yield sys(SYS.yield);
  }
  let all = good;
  for (let j = 1; j < receivers; j++) if ((yield load32(page + 4 * (4000 / 4 + j))) !== 1) all = false;
  for (const p of pids) if ((yield wait(p)) !== 0) all = false;
  yield ok(all && pids.every((p) => p > 0), 'STRESS: ipc ok', 'STRESS: ipc err');
  yield exit(0);
}

/** Messages of sender s that go to receiver j: those i < msgs with i mod receivers = j. */
function expectedCount(msgs: number, receivers: number, j: number): number {
  return Math.floor((msgs - j + receivers - 1) / receivers);
}

function* receiveAll(j: number, senders: number, receivers: number, msgs: number): Code<boolean> {
  const buf = 0x2000000 + 2048 + j * 32;
  const next: number[] = new Array(senders).fill(j);
  let total = 0;
  for (let s = 0; s < senders; s++) total += expectedCount(msgs, receivers, j);
  let good = true;
  for (let n = 0; n < total && good; n++) {
    const len = yield sys(SYS.ipc_recv, j + 1, buf, 16);
    const from = yield load32(buf);
    const seq = yield load32(buf + 4);
    good = len === 8 && from < senders && seq === next[from];
    if (good) next[from] += receivers;
  }
  return good;
}

function* ipcReceiver(arg: number): Code<void> {
  const j = Math.floor(arg / 65536) % 256;
  const senders = Math.floor(arg / 256) % 256;
  const receivers = arg % 256;
  const msgs = Math.floor(arg / (1 << 24));
  const good: boolean = yield receiveAll(j, senders, receivers, msgs);
  yield store32(0x2000000 + 4 * (4000 / 4 + j), good ? 1 : 2);
  yield sys(SYS.thread_exit);
}

function* ipcSender(arg: number): Code<void> {
  const id = arg % 256;
  const n = Math.floor(arg / 256) % 4096;
  const receivers = Math.floor(arg / (1 << 20)) % 16 || 1;
  for (let i = 0; i < n; i++) {
    yield store32(BUF, id);
    yield store32(BUF + 4, i);
    const r = yield sys(SYS.ipc_send, 1 + (i % receivers), BUF, 8, IPC_SEND_BLOCK);
    if (r !== 0) yield exit(1);
  }
  yield exit(0);
}

// ---- isolation and fault containment (property tests) -----------------------

const CANARY_VA = 0x4000000;
const CANARY = 0xc0ffee00;

/**
 * syscall-fuzz: `count` syscalls with pseudo-random numbers, pointers
 * (user, kernel HHDM, kernel image, code, unmapped, huge), lengths and
 * handles, from seed `arg >> 16` (count = arg & 0xffff, times 4). Exits,
 * thread spawns and blocking receives on live handles are skipped (they end
 * or block the fuzzer legitimately). A sibling canary process checks its
 * memory is untouched. Every result must be >= 0 or a known error.
 */
function* syscallFuzz(arg: number): Code<void> {
  const count = (arg % 65536) * 4 || 2500;
  let x = (Math.floor(arg / 65536) * 2654435761 + 12345) >>> 0 || 1;
  const canary = yield spawn('canary', 0);
  yield sys(SYS.vm_map, CANARY_VA, 4096); // same VA as the canary's page, another address space
  yield store32(CANARY_VA, 0x11111111);
  const ptrs = [0, 0x10, USER.codeBase, USER.stackPage, CANARY_VA, 0x5000000, -0x800000000000, -0x80000000, -0x800000000000 + 0x100000, 0x7ffffffff000, 0x800000000000 - 8, 2 ** 52, -1, 0x3000000];
  const lens = [0, 1, 8, 16, 255, 256, 257, 4096, 4097, 1 << 30, -1, 2 ** 53];
  let unknown = 0;
  for (let i = 0; i < count; i++) {
    x = xorshift(x);
    const num = x % 24;
    if (num === SYS.exit || num === SYS.thread_exit || num === SYS.thread_spawn || num === SYS.wait) continue;
    x = xorshift(x);
    const p1 = ptrs[x % ptrs.length];
    x = xorshift(x);
    const p2 = ptrs[x % ptrs.length];
    x = xorshift(x);
    const len = lens[x % lens.length];
    x = xorshift(x);
    const h = x % 40;
    let r: number;
    switch (num) {
      case SYS.ipc_recv:
        r = yield sys(num, h + 33, p1, len); // only handles that cannot be live: a live one may block forever
        break;
      case SYS.ipc_send:
        r = yield sys(num, h, p1, len, x & 1 ? IPC_SEND_BLOCK : 0);
        if (r === ERR.EFULL || r === 0) break;
        break;
      case SYS.yield:
        r = yield sys(num);
        break;
      case SYS.spawn:
        r = yield sys(num, p1, len, 0);
        break;
      case SYS.debug_write:
        r = yield sys(num, ptrs[6 + (x % 3)], len); // kernel addresses only: the console stays readable
        break;
      default:
        r = yield sys(num, x & 1 ? p1 : h, x & 2 ? len : p2, x & 4 ? h : len, 0);
    }
    if (r < 0 && ERR_VALUES.indexOf(r) < 0) unknown++;
    if (num === SYS.ipc_send && r === 0) {
      // drain what was sent so that a later blocking send cannot wait forever (that would be the program's own deadlock)
      yield sys(SYS.ipc_recv, h, BUF, 256);
    }
  }
  const code = yield wait(canary);
  yield ok(unknown === 0 && code === 0, `FUZZ: syscalls ok ${count}`, `FUZZ: syscalls err unknown=${unknown} canary=${code}`);
  yield exit(0);
}
const ERR_VALUES: number[] = Object.values(ERR);

/** canary: fills a page with a pattern, yields a while, and checks nobody changed it. */
function* canary(): Code<void> {
  yield sys(SYS.vm_map, CANARY_VA, 4096);
  for (let i = 0; i < 1024; i += 64) yield store32(CANARY_VA + i * 4, CANARY + i);
  for (let r = 0; r < 200; r++) yield sys(SYS.yield);
  let good = true;
  for (let i = 0; i < 1024; i += 64) if ((yield load32(CANARY_VA + i * 4)) !== CANARY + i) good = false;
  for (let i = 0; i < 1024; i++) if (i % 64 !== 0 && (yield load32(CANARY_VA + i * 4)) !== 0) good = false;
  yield print(good ? 'CANARY: ok\n' : 'CANARY: corrupted\n');
  yield exit(good ? 0 : 1);
}

/** fault-random: a bystander process keeps working while this one faults at a random point in a random way (arg = seed). */
function* faultRandom(arg: number): Code<void> {
  let x = (arg * 2654435761 + 7) >>> 0 || 1;
  const bystander = yield spawn('bystander', 0);
  x = xorshift(x);
  const steps = x % 50;
  for (let i = 0; i < steps; i++) {
    x = xorshift(x);
    if (x % 3 === 0) yield sys(SYS.yield);
    else yield sys(SYS.time_now);
  }
  x = xorshift(x);
  const how = x % 7;
  const code = yield wait(bystander);
  yield print(`FAULT: bystander ${code === 0 ? 'ok' : 'err'} way=${how}\n`);
  const { cli, ud2, hlt, outb, store8 } = ops;
  if (how === 0) yield store32(0, 1); // #PF: null
  else if (how === 1) yield store8(USER.codeBase, 1); // #PF: write to read-only code
  else if (how === 2) yield cli(); // #GP: privileged
  else if (how === 3) yield ud2(); // #UD
  else if (how === 4) yield outb(0xf4, 0); // #GP: port I/O (must not stop the machine)
  else if (how === 5) yield hlt(); // #GP
  else yield ops.div(x, 0); // #DE
  yield print('FAULT: not killed (wrong)\n');
  yield exit(1);
}

function* bystander(): Code<void> {
  let t = 0;
  for (let i = 0; i < 30; i++) t += (yield sys(SYS.yield)) === 0 ? 1 : 0;
  yield exit(t === 30 ? 0 : 1);
}

// ---- planted-bug exposers ---------------------------------------------------

/**
 * ipc-owner-death: the parent creates an endpoint (depth 1) and spawns a
 * child that inherits it and sends `n` messages with blocking sends; the
 * parent receives one, then dies of a fault while the child may be blocked.
 * The endpoint must outlive its creator while the child holds it.
 */
function* ipcOwnerDeath(): Code<void> {
  const ep = yield sys(SYS.ipc_endpoint_create);
  const pid = yield spawn('ipc-late-sender', 6);
  const len = yield sys(SYS.ipc_recv, ep, BUF, 64);
  yield print(`OWNER: got ${len}, dying with child ${pid}\n`);
  yield store32(0x8, 1); // #PF: the owner dies while the child may be blocked in send
  yield exit(0);
}

function* ipcLateSender(n: number): Code<void> {
  let sent = 0;
  for (let i = 0; i < n; i++) {
    yield store32(BUF, i);
    const r = yield sys(SYS.ipc_send, 1, BUF, 4, 0);
    if (r === 0) sent++;
    yield ops.compute(10_000 + i * 25_000); // keep sending while the owner dies
  }
  yield print(`SENDER: sent ${sent}\n`);
  yield exit(0);
}

/**
 * tlb-race: thread B keeps reading page X on another CPU while main unmaps
 * X and maps a new page Y (which reuses X's frame) holding 2. With a proper
 * TLB shootdown B can never read 2 through X: it reads 1 or faults (and the
 * process is killed). B reading 2 means a stale translation was used.
 */
function* tlbRace(): Code<void> {
  const X = 0x2000000;
  const F = 0x2100000;
  const Y = 0x2200000;
  yield sys(SYS.vm_map, X, 4096);
  yield sys(SYS.vm_map, F, 4096);
  yield store32(X, 1);
  yield sys(SYS.thread_spawn, USER.codeBase + IMAGES['tlb-race'].offsetOf('reader'), X);
  for (let i = 0; i < 10_000 && (yield load32(F)) === 0; i++) yield ops.pause();
  yield sys(SYS.vm_unmap, X, 4096);
  yield sys(SYS.vm_map, Y, 4096); // the freed frame comes straight back
  yield store32(Y, 2);
  for (let i = 0; i < 200; i++) yield ops.compute(100);
  yield store32(F + 4, 1);
  for (let i = 0; i < 10_000 && (yield load32(F + 8)) === 0; i++) yield ops.pause();
  yield print((yield load32(F + 12)) === 1 ? 'TLB: stale read through an unmapped page\n' : 'TLB: ok\n');
  yield exit(0);
}

function* tlbReader(X: number): Code<void> {
  const F = 0x2100000;
  for (let i = 0; i < 100_000; i++) {
    const v = yield load32(X);
    yield store32(F, 1);
    if (v === 2) yield store32(F + 12, 1);
    if ((yield load32(F + 4)) !== 0) break;
  }
  yield store32(F + 8, 1);
  yield sys(SYS.thread_exit);
}

/** shm-share: `n` children map and unmap one inherited shared region concurrently; everything must be freed at the end. */
function* shmShare(): Code<void> {
  const h = yield sys(SYS.shm_create, 4096);
  const pids: number[] = [];
  for (let i = 0; i < 3; i++) pids.push(yield spawn('shm-toggler', h));
  let good = h > 0;
  for (const p of pids) if ((yield wait(p)) !== 0) good = false;
  good = good && (yield sys(SYS.handle_close, h)) === 0;
  yield ok(good, 'SHM: share ok', 'SHM: share err');
  yield exit(0);
}

function* shmToggler(h: number): Code<void> {
  for (let i = 0; i < 20; i++) {
    const va = yield sys(SYS.shm_map, h, 0x30000000, 0);
    if (va !== 0x30000000) yield exit(1);
    yield store32(va, i);
    if ((yield sys(SYS.vm_unmap, va, 4096)) !== 0) yield exit(2);
  }
  yield exit(0);
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
  'stress-ipc': image('stress-ipc', [
    ['main', stressIpc],
    ['receiver', ipcReceiver],
  ]),
  'ipc-sender': image('ipc-sender', [['main', ipcSender]]),
  'syscall-fuzz': image('syscall-fuzz', [['main', syscallFuzz]]),
  canary: image('canary', [['main', canary]]),
  'fault-random': image('fault-random', [['main', faultRandom]]),
  bystander: image('bystander', [['main', bystander]]),
  'ipc-owner-death': image('ipc-owner-death', [['main', ipcOwnerDeath]]),
  'ipc-late-sender': image('ipc-late-sender', [['main', ipcLateSender]]),
  'tlb-race': image('tlb-race', [
    ['main', tlbRace],
    ['reader', tlbReader],
  ]),
  'shm-share': image('shm-share', [['main', shmShare]]),
  'shm-toggler': image('shm-toggler', [['main', shmToggler]]),
  ...BLK_IMAGES, // M5 block-device programs (os/user/blk.ts)
};

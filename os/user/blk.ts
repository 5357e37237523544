// Ring-3 programs for the block-device scenarios (M5): identify, rw,
// invariants, badlen, badptr, no device, the stress test, and the
// benchmark workload. They use only syscalls (13 blk_read and 14 blk_write,
// int 0x80) and their own memory. Sectors they write carry a stamp so that
// every read can be checked: word 0 = tag, word 1 = LBA, word 127 = tag ^
// LBA, and every other byte = tag & 0xff.
import { load32, load8, rdtsc, repStos, store32, type Code } from '../../sim/ops.ts';
import { CodeImage, type EntryFn } from '../../sim/code.ts';
import { ERR, IPC_SEND_BLOCK, SYS, USER } from '../syscall/abi.ts';
import { Checklist, SCRATCH, exit, ok, print, spawn, sys, wait, xorshift } from './lib.ts';

const SECTOR = 512;
const KERNEL_VA = -0x800000000000; // the HHDM: kernel only
/** Buffers: one 8 KiB area per worker from here (vm_map'ed by its process). */
const BUF_BASE = 0x2000000;
const MSG = SCRATCH + 0x400;
/** Where a main thread receives reports (clear of print's and spawn's scratch). */
const INBOX = SCRATCH + 0xc00;

function* blkRead(lba: number, buf: number, len: number): Code<number> {
  return yield sys(SYS.blk_read, lba, buf, len);
}

function* blkWrite(lba: number, buf: number, len: number): Code<number> {
  return yield sys(SYS.blk_write, lba, buf, len);
}

/** Maps `pages` zeroed pages from `va`; false if any map fails. */
function* mapPages(va: number, pages: number): Code<boolean> {
  for (let i = 0; i < pages; i++) if ((yield sys(SYS.vm_map, va + i * 4096, 4096)) !== 0) return false;
  return true;
}

/** Fills `n` sectors at `va` for LBAs lba.. with the stamp of `tag`. */
function* stamp(va: number, lba: number, n: number, tag: number): Code<void> {
  yield repStos(va, n * SECTOR, tag & 0xff);
  for (let i = 0; i < n; i++) {
    const s = va + i * SECTOR;
    yield store32(s, tag);
    yield store32(s + 4, lba + i);
    yield store32(s + 508, (tag ^ (lba + i)) >>> 0);
  }
}

/** The stamp's tag of the sector at `va` for LBA `lba`: 0 for an all-zero sector, -1 when it is not a valid stamp. */
function* tagOf(va: number, lba: number): Code<number> {
  const tag: number = yield load32(va);
  const l: number = yield load32(va + 4);
  const tail: number = yield load32(va + 508);
  const body: number = yield load8(va + 256);
  if (tag === 0 && l === 0 && tail === 0 && body === 0) return 0;
  if (l !== lba || tail !== (tag ^ lba) >>> 0 || body !== (tag & 0xff)) return -1;
  return tag;
}

/** The generated disk pattern (docs/formats.md): word i of sector s. */
function patternWord(s: number, i: number): number {
  return (Math.imul(s >>> 0, 0x9e3779b1) + Math.imul(i, 0x85ebca77) + 0x5a17) >>> 0;
}

/** Whether the sector at `va` holds the generated pattern of LBA `s` (every word). */
function* isPattern(va: number, s: number): Code<boolean> {
  for (let i = 0; i < SECTOR / 4; i++) if ((yield load32(va + 4 * i)) !== patternWord(s, i)) return false;
  return true;
}

/** Capacity in sectors, found by binary search on the EINVAL a read beyond it returns; -1 on an unexpected result. */
function* probeCapacity(buf: number): Code<number> {
  let lo = 0;
  let hi = 2 ** 32;
  for (let i = 0; i < 40 && lo < hi; i++) {
    const mid = Math.floor((lo + hi) / 2);
    const r = yield blkRead(mid, buf, SECTOR);
    if (r === SECTOR) lo = mid + 1;
    else if (r === ERR.EINVAL) hi = mid;
    else return -1;
  }
  return lo;
}

// ---- blk-identify ---------------------------------------------------------------

function* blkIdentify(): Code<void> {
  const buf = BUF_BASE;
  const mapped = yield mapPages(buf, 1);
  const cap = yield probeCapacity(buf);
  const first = yield blkRead(0, buf, SECTOR);
  yield ok(mapped && cap > 0 && first === SECTOR, `BLK: identify ok capacity=${cap} sectors`, `BLK: identify err cap=${cap} first=${first}`);
  yield exit(0);
}

// ---- blk-rw (the disk is generated with the pattern) --------------------------------

function* blkRw(): Code<void> {
  const a = BUF_BASE;
  const b = BUF_BASE + 0x1000;
  const list = new Checklist();
  const check = (cond: boolean, what: string): void => list.check(cond, what);
  check((yield mapPages(a, 2)) as boolean, 'map buffers');
  // A sector nobody wrote holds the generated pattern.
  check((yield blkRead(5, b, SECTOR)) === SECTOR, 'read 5');
  check(yield isPattern(b, 5), 'pattern 5');
  // 4 KiB write, read back word for word.
  yield stamp(a, 100, 8, 0x11110000);
  check((yield blkWrite(100, a, 4096)) === 4096, 'write 100');
  check((yield blkRead(100, b, 4096)) === 4096, 'read 100');
  for (let i = 0; i < 1024; i++) if ((yield load32(a + 4 * i)) !== (yield load32(b + 4 * i))) {
    check(false, `word ${i} of 100..107`);
    break;
  }
  // One sector.
  yield stamp(a, 7, 1, 0x2222abcd);
  check((yield blkWrite(7, a, SECTOR)) === SECTOR, 'write 7');
  check((yield blkRead(7, b, SECTOR)) === SECTOR, 'read 7');
  check((yield tagOf(b, 7)) === 0x2222abcd, 'tag 7');
  // A read across written and unwritten sectors: 96..99 pattern, 100..103 written.
  check((yield blkRead(96, b, 4096)) === 4096, 'read 96');
  for (let s = 96; s < 100; s++) check(yield isPattern(b + (s - 96) * SECTOR, s), `pattern ${s}`);
  for (let s = 100; s < 104; s++) check((yield tagOf(b + (s - 96) * SECTOR, s)) === 0x11110000, `tag ${s}`);
  yield ok(list.good, 'BLK: rw ok', `BLK: rw err ${list.failed()}`);
  yield exit(0);
}

// ---- blk-invariants -------------------------------------------------------------------

function* blkInvariants(): Code<void> {
  const a = BUF_BASE;
  const b = BUF_BASE + 0x1000;
  const list = new Checklist();
  const check = (cond: boolean, what: string): void => list.check(cond, what);
  check((yield mapPages(a, 2)) as boolean, 'map buffers');
  // Capacity: the last sector reads, the one after it and a range across the end do not.
  const cap = yield probeCapacity(b);
  check(cap > 16, `capacity ${cap}`);
  check((yield blkRead(cap - 1, b, SECTOR)) === SECTOR, 'read last');
  check((yield blkRead(cap, b, SECTOR)) === ERR.EINVAL, 'read at capacity');
  check((yield blkRead(cap - 1, b, 1024)) === ERR.EINVAL, 'read across the end');
  check((yield blkWrite(cap, a, SECTOR)) === ERR.EINVAL, 'write at capacity');
  // Adjacent sectors are independent.
  const s = 40;
  for (let i = 0; i < 3; i++) {
    yield stamp(a, s + i, 1, 0x30000 + i);
    check((yield blkWrite(s + i, a, SECTOR)) === SECTOR, `write ${s + i}`);
  }
  check((yield blkRead(s, b, 3 * SECTOR)) === 3 * SECTOR, 'read span');
  for (let i = 0; i < 3; i++) check((yield tagOf(b + i * SECTOR, s + i)) === 0x30000 + i, `span tag ${i}`);
  // Overwriting the middle one leaves its neighbours alone; the latest write wins.
  yield stamp(a, s + 1, 1, 0x31111);
  check((yield blkWrite(s + 1, a, SECTOR)) === SECTOR, 'overwrite');
  check((yield blkRead(s, b, 3 * SECTOR)) === 3 * SECTOR, 'read span again');
  check((yield tagOf(b, s)) === 0x30000 && (yield tagOf(b + SECTOR, s + 1)) === 0x31111 && (yield tagOf(b + 2 * SECTOR, s + 2)) === 0x30002, 'after overwrite');
  // A multi-sector write equals its single-sector reads; reads are repeatable.
  const t = 64;
  yield stamp(a, t, 8, 0x40404);
  check((yield blkWrite(t, a, 4096)) === 4096, 'write 8');
  for (let i = 0; i < 8; i++) {
    check((yield blkRead(t + i, b, SECTOR)) === SECTOR, `read ${t + i}`);
    check((yield tagOf(b, t + i)) === 0x40404, `single ${t + i}`);
  }
  check((yield blkRead(t, a, 4096)) === 4096 && (yield blkRead(t, b, 4096)) === 4096, 'read twice');
  for (let i = 0; i < 1024; i += 7) if ((yield load32(a + 4 * i)) !== (yield load32(b + 4 * i))) check(false, `repeatable word ${i}`);
  // The first and the last sector.
  for (const lba of [0, cap - 1]) {
    yield stamp(a, lba, 1, 0x50000 + (lba & 0xff));
    check((yield blkWrite(lba, a, SECTOR)) === SECTOR, `write ${lba}`);
    check((yield blkRead(lba, b, SECTOR)) === SECTOR && (yield tagOf(b, lba)) === 0x50000 + (lba & 0xff), `edge ${lba}`);
  }
  yield ok(list.good, 'BLK: invariants ok', `BLK: invariants err ${list.failed()}`);
  yield exit(0);
}

// ---- blk-badlen, blk-badptr, blk-nodev -------------------------------------------------------

function* blkBadlen(): Code<void> {
  const buf = BUF_BASE;
  yield mapPages(buf, 2);
  const cap = yield probeCapacity(buf);
  const bad: string[] = [];
  for (const len of [0, 1, 511, 513, 1000, 4097, 8192, -512, 2 ** 40]) {
    const r = yield blkRead(0, buf, len);
    const w = yield blkWrite(0, buf, len);
    if (r !== ERR.EINVAL || w !== ERR.EINVAL) bad.push(`len ${len}: ${r}/${w}`);
  }
  for (const [lba, len] of [[-1, SECTOR], [cap, SECTOR], [cap - 1, 1024], [cap - 7, 4096], [2 ** 40, SECTOR], [2 ** 53, SECTOR]] as [number, number][]) {
    const r = yield blkRead(lba, buf, len);
    const w = yield blkWrite(lba, buf, len);
    if (r !== ERR.EINVAL || w !== ERR.EINVAL) bad.push(`lba ${lba}+${len}: ${r}/${w}`);
  }
  const control = yield blkRead(cap - 8, buf, 4096);
  if (control !== 4096) bad.push(`control ${control}`);
  yield ok(cap > 0 && bad.length === 0, 'BLK: badlen ok', `BLK: badlen err ${bad.join(', ')}`);
  yield exit(0);
}

function* blkBadptr(): Code<void> {
  const page = BUF_BASE;
  yield mapPages(page, 1);
  const bad: string[] = [];
  // A sector with a known stamp; failed writes must leave it alone.
  yield stamp(page, 50, 1, 0x600d);
  if ((yield blkWrite(50, page, SECTOR)) !== SECTOR) bad.push('setup');
  const ptrs: [string, number, number][] = [
    ['kernel', KERNEL_VA, SECTOR],
    ['null', 0, SECTOR],
    ['unmapped', 0x5000000, SECTOR],
    ['straddle', page + 4096 - 256, SECTOR],
    ['non-canonical', 2 ** 47, SECTOR],
  ];
  for (const [what, va, len] of ptrs) {
    const r = yield blkRead(50, va, len);
    const w = yield blkWrite(50, va, len);
    if (r !== ERR.EFAULT || w !== ERR.EFAULT) bad.push(`${what}: ${r}/${w}`);
  }
  const code = yield blkRead(50, USER.codeBase, SECTOR); // read-only code page
  if (code !== ERR.EFAULT) bad.push(`code page ${code}`);
  const back = yield blkRead(50, page, SECTOR);
  const tag = yield tagOf(page, 50);
  if (back !== SECTOR || tag !== 0x600d) bad.push(`sector changed: ${back} tag ${tag}`);
  yield ok(bad.length === 0, 'BLK: badptr ok', `BLK: badptr err ${bad.join(', ')}`);
  yield exit(0);
}

function* blkNodev(): Code<void> {
  const r = yield blkRead(0, SCRATCH, SECTOR);
  const w = yield blkWrite(0, SCRATCH, SECTOR);
  yield ok(r === ERR.ENODEV && w === ERR.ENODEV, 'BLK: nodev ok', `BLK: nodev err ${r} ${w}`);
  yield exit(0);
}

// ---- stress-blk ---------------------------------------------------------------------------------

/** Sectors owned by each worker (regions do not overlap, so a worker's model of its sectors is exact). */
const REGION = 48;
const REGION_BASE = 16;

/**
 * Stress parameters in `arg`: procs (bits 0-3, default 2), threads per
 * process including its main thread (bits 4-7, default 3), I/Os per worker
 * (bits 8-19, default 12). Worker w owns sectors REGION_BASE + w * REGION ...
 */
function stressParams(arg: number): { procs: number; threads: number; ios: number } {
  return { procs: arg % 16 || 2, threads: Math.floor(arg / 16) % 16 || 3, ios: Math.floor(arg / 256) % 4096 || 12 };
}

/**
 * One worker: random reads and writes (1-8 sectors) in its region, each
 * checked against a model of what every sector may hold: a successful write
 * fixes it, a failed one (EIO) adds a possibility, a read must see one of
 * the possibilities. Ends with a full read of the region; returns
 * [errors, eio] (threads report [id, errors, eio, ios] on endpoint 1).
 */
function* stressWorker(arg: number): Code<[number, number]> {
  const id = arg % 256;
  const ios = Math.floor(arg / 256) % 4096;
  const buf = BUF_BASE + id * 0x2000;
  const base = REGION_BASE + id * REGION;
  const may: Set<number>[] = [];
  for (let i = 0; i < REGION; i++) may.push(new Set([0]));
  let x = (id * 2654435761 + 99991) >>> 0 || 1;
  let errors = 0;
  let eio = 0;
  const checkRead = function* (lba: number, n: number): Code<void> {
    for (let k = 0; k < n; k++) {
      const t: number = yield tagOf(buf + k * SECTOR, lba + k);
      const m = may[lba + k - base];
      if (!m.has(t)) errors++;
      else {
        m.clear();
        m.add(t);
      }
    }
  };
  for (let i = 0; i < ios; i++) {
    x = xorshift(x);
    const n = 1 + (x % 8);
    x = xorshift(x);
    const lba = base + (x % (REGION - n + 1));
    x = xorshift(x);
    if (x % 3 !== 2) {
      const tag = (((id + 1) << 20) | (i + 1)) >>> 0;
      yield stamp(buf, lba, n, tag);
      const r = yield blkWrite(lba, buf, n * SECTOR);
      if (r === n * SECTOR) for (let k = 0; k < n; k++) may[lba + k - base] = new Set([tag]);
      else if (r === ERR.EIO) {
        eio++;
        for (let k = 0; k < n; k++) may[lba + k - base].add(tag);
      } else errors++;
    } else {
      const r = yield blkRead(lba, buf, n * SECTOR);
      if (r === n * SECTOR) yield checkRead(lba, n);
      else if (r === ERR.EIO) eio++;
      else errors++;
    }
  }
  for (let off = 0; off < REGION; off += 8) {
    let r: number = ERR.EIO;
    for (let tries = 0; tries < 8 && r === ERR.EIO; tries++) {
      r = yield blkRead(base + off, buf, 8 * SECTOR);
      if (r === ERR.EIO) eio++;
    }
    if (r === 8 * SECTOR) yield checkRead(base + off, 8);
    else errors++;
  }
  return [errors, eio];
}

/** Sends a worker's report [id, errors, eio, ios] to the stress main thread (endpoint 1). */
function* report(arg: number, errors: number, eio: number): Code<void> {
  const id = arg % 256;
  yield store32(MSG + id * 16, id);
  yield store32(MSG + id * 16 + 4, errors);
  yield store32(MSG + id * 16 + 8, eio);
  yield store32(MSG + id * 16 + 12, Math.floor(arg / 256) % 4096);
  yield sys(SYS.ipc_send, 1, MSG + id * 16, 16, IPC_SEND_BLOCK);
}

/** A worker thread: work, report, thread_exit. */
function* stressThread(arg: number): Code<void> {
  const [errors, eio] = yield stressWorker(arg);
  yield report(arg, errors, eio);
  yield sys(SYS.thread_exit);
}

/** Starts process `p`'s workers: maps their buffers, spawns threads-1 threads, runs worker 0 of the process itself; returns [setup ok, errors, eio] of that worker. */
function* stressProcess(image: CodeImage, p: number, threads: number, ios: number): Code<[boolean, number, number]> {
  let good = true;
  for (let t = 0; t < threads; t++) good = (yield mapPages(BUF_BASE + (p * threads + t) * 0x2000, 2)) && good;
  for (let t = 1; t < threads; t++) {
    const tid = yield sys(SYS.thread_spawn, USER.codeBase + image.offsetOf('worker'), p * threads + t + ios * 256);
    if (tid < 0) good = false;
  }
  const [errors, eio] = yield stressWorker(p * threads + ios * 256);
  return [good, errors, eio];
}

function* stressBlk(arg: number): Code<void> {
  const { procs, threads, ios } = stressParams(arg);
  const ep = yield sys(SYS.ipc_endpoint_create);
  let good = ep === 1;
  const pids: number[] = [];
  for (let p = 1; p < procs; p++) {
    const pid = yield spawn('blk-stress-child', p + threads * 16 + ios * 256);
    if (pid < 0) good = false;
    else pids.push(pid);
  }
  const [setup, ownErrors, ownEio] = yield stressProcess(BLK_IMAGES['stress-blk'], 0, threads, ios);
  good = setup && good;
  const workers = procs * threads;
  // This thread's own worker counts directly; the others report on endpoint 1.
  let errors = ownErrors;
  let eio = ownEio;
  let total = ios;
  const seen = new Set<number>([0]);
  for (let w = 1; w < workers; w++) {
    const len = yield sys(SYS.ipc_recv, 1, INBOX, 16);
    const id: number = yield load32(INBOX);
    if (len !== 16 || seen.has(id)) good = false;
    seen.add(id);
    errors += (yield load32(INBOX + 4)) as number;
    eio += (yield load32(INBOX + 8)) as number;
    total += (yield load32(INBOX + 12)) as number;
  }
  for (const pid of pids) if ((yield wait(pid)) !== 0) good = false;
  yield ok(good && errors === 0 && total === workers * ios, `STRESS: blk ok workers=${workers} ios=${total} eio=${eio}`, `STRESS: blk err workers=${workers} errors=${errors} eio=${eio} ios=${total}`);
  yield exit(0);
}

function* stressChild(arg: number): Code<void> {
  const p = arg % 16;
  const threads = Math.floor(arg / 16) % 16;
  const ios = Math.floor(arg / 256) % 4096;
  const [setup, errors, eio] = yield stressProcess(BLK_IMAGES['blk-stress-child'], p, threads, ios);
  yield report(p * threads + ios * 256, errors + (setup ? 0 : 1), eio);
  yield sys(SYS.thread_exit); // the process ends with its last thread
}

// ---- blk-bench: 4 KiB random reads at queue depth qd -----------------------------------------

/**
 * arg = qd (bits 0-7, 1..32) | reads per worker << 8. qd workers (processes
 * of up to 8 threads) each read 4 KiB at random 4 KiB-aligned LBAs; each
 * reports [first start, last end] rdtsc on endpoint 1; the main thread
 * prints `BENCH: blk qd=<qd> ios=<n> cycles=<first start to last end>`.
 */
function* blkBench(arg: number): Code<void> {
  const qd = Math.min(32, Math.max(1, arg % 256));
  const per = Math.floor(arg / 256) || 100;
  yield sys(SYS.ipc_endpoint_create);
  const procs = Math.ceil(qd / 8);
  const pids: number[] = [];
  for (let p = 1; p < procs; p++) pids.push(yield spawn('blk-bench-child', p + (Math.min(8, qd - p * 8) << 4) + per * 4096));
  const [s0, e0] = yield benchProcess(BLK_IMAGES['blk-bench'], 0, Math.min(8, qd), per);
  let first = s0;
  let last = e0;
  let n = 1;
  for (let w = 1; w < qd; w++) {
    const len = yield sys(SYS.ipc_recv, 1, INBOX, 16);
    if (len !== 16) continue;
    const s = ((yield load32(INBOX)) as number) + ((yield load32(INBOX + 4)) as number) * 2 ** 32;
    const e = ((yield load32(INBOX + 8)) as number) + ((yield load32(INBOX + 12)) as number) * 2 ** 32;
    first = Math.min(first, s);
    last = Math.max(last, e);
    n++;
  }
  for (const pid of pids) yield wait(pid);
  yield print(`BENCH: blk qd=${qd} workers=${n} ios=${n * per} cycles=${last - first}\n`);
  yield exit(0);
}

/** Reads `per` random 4 KiB blocks; returns [start, end] rdtsc. */
function* benchWorker(arg: number): Code<[number, number]> {
  const id = arg % 64;
  const per = Math.floor(arg / 64);
  const buf = BUF_BASE + id * 0x2000;
  let x = (id * 2246822519 + 3266489917) >>> 0 || 1;
  const start: number = yield rdtsc();
  for (let i = 0; i < per; i++) {
    x = xorshift(x);
    yield blkRead((x % 256) * 8, buf, 4096); // 256 4 KiB blocks of the 1 MiB disk
  }
  const end: number = yield rdtsc();
  return [start, end];
}

/** Sends [start, end] to the bench main thread (endpoint 1). */
function* benchReport(id: number, start: number, end: number): Code<void> {
  const m = MSG + 0x100 + id * 16;
  yield store32(m, start % 2 ** 32);
  yield store32(m + 4, Math.floor(start / 2 ** 32));
  yield store32(m + 8, end % 2 ** 32);
  yield store32(m + 12, Math.floor(end / 2 ** 32));
  yield sys(SYS.ipc_send, 1, m, 16, IPC_SEND_BLOCK);
}

function* benchThread(arg: number): Code<void> {
  const [start, end] = yield benchWorker(arg);
  yield benchReport(arg % 64, start, end);
  yield sys(SYS.thread_exit);
}

/** Maps the buffers of process `p`'s workers, spawns threads-1 threads and runs one worker itself; returns its [start, end]. */
function* benchProcess(image: CodeImage, p: number, threads: number, per: number): Code<[number, number]> {
  for (let t = 0; t < threads; t++) yield mapPages(BUF_BASE + (p * 8 + t) * 0x2000, 1);
  for (let t = 1; t < threads; t++) yield sys(SYS.thread_spawn, USER.codeBase + image.offsetOf('worker'), p * 8 + t + per * 64);
  return yield benchWorker(p * 8 + per * 64);
}

function* benchChild(arg: number): Code<void> {
  const p = arg % 16;
  const threads = Math.floor(arg / 16) % 256;
  const per = Math.floor(arg / 4096);
  const [start, end] = yield benchProcess(BLK_IMAGES['blk-bench-child'], p, threads, per);
  yield benchReport(p * 8, start, end);
  yield sys(SYS.thread_exit);
}

function image(name: string, entries: [string, EntryFn][]): CodeImage {
  return new CodeImage(name, entries);
}

/** The block-device programs (appended to IMAGES in programs.ts). */
export const BLK_IMAGES: Record<string, CodeImage> = {
  'blk-identify': image('blk-identify', [['main', blkIdentify]]),
  'blk-rw': image('blk-rw', [['main', blkRw]]),
  'blk-invariants': image('blk-invariants', [['main', blkInvariants]]),
  'blk-badlen': image('blk-badlen', [['main', blkBadlen]]),
  'blk-badptr': image('blk-badptr', [['main', blkBadptr]]),
  'blk-nodev': image('blk-nodev', [['main', blkNodev]]),
  'stress-blk': image('stress-blk', [
    ['main', stressBlk],
    ['worker', stressThread],
  ]),
  'blk-stress-child': image('blk-stress-child', [
    ['main', stressChild],
    ['worker', stressThread],
  ]),
  'blk-bench': image('blk-bench', [
    ['main', blkBench],
    ['worker', benchThread],
  ]),
  'blk-bench-child': image('blk-bench-child', [
    ['main', benchChild],
    ['worker', benchThread],
  ]),
};

// 8-byte loads and stores that carry numbers instead of bigints (sim/ops.ts
// loadU64, loadPtr, store64Halves): each is one instruction with the cost of
// load64/store64, reads and writes the same bytes, and handles a quadword
// that crosses a page like the bigint forms.
import { describe, expect, it } from 'vitest';
import { load64, loadPtr, loadU64, store64, store64Halves, type Code } from '../../sim/ops.ts';
import { HHDM_OFFSET } from '../../sim/x86/boot.ts';
import { GuestKit, exit } from '../helpers/guest.ts';

const BUF = HHDM_OFFSET + 0x1200000; // RAM of the test machine, through the HHDM

function run(body: (k: GuestKit) => Code<void>): GuestKit {
  const k = new GuestKit();
  const r = k.run([
    [
      'entry',
      function* (): Code<void> {
        yield* body(k);
        yield* exit(0);
      },
    ],
  ]);
  expect(r.stopReason).toBe('debug-exit');
  return k;
}

/** Runs `op` alone and returns what it resumed with, its ops and its cycles. */
function* measure(k: GuestKit, op: ReturnType<typeof load64>): Code<{ v: unknown; ops: number; cycles: number }> {
  const cpu = k.machine.cpus[0];
  const ops = cpu.ops;
  const t = cpu.time;
  const v: unknown = yield op;
  return { v, ops: cpu.ops - ops, cycles: cpu.time - t };
}

describe('8-byte number loads and stores', () => {
  it('store64Halves writes what store64 writes, and loadU64 / loadPtr read it as load64 does', () => {
    const values: [number, number][] = [
      [0, 0],
      [0x89abcdef, 0x01234567],
      [0xffffffff, 0x1fffff], // 2^53 - 1
      [0x80001000, 0xffff8000], // an HHDM address
      [0x12345678, 0x00007fff], // the top of the lower half
      [0, 0x00008000], // not canonical
    ];
    const log: unknown[] = [];
    const k = run(function* (k) {
      yield store64Halves(BUF + 0xff8, 0, 0); // the page's TLB entry, dirty: every access below costs the same
      for (const [i, [lo, hi]] of values.entries()) {
        const a = BUF + 16 * i;
        const b = BUF + 0x800 + 16 * i;
        const s1: { ops: number; cycles: number } = yield* measure(k, store64Halves(a, lo, hi));
        const s2: { ops: number; cycles: number } = yield* measure(k, store64(b, (BigInt(hi) << 32n) | BigInt(lo)));
        const big: { v: bigint; ops: number; cycles: number } = (yield* measure(k, load64(a))) as never;
        const again: { v: bigint } = (yield* measure(k, load64(b))) as never;
        const u = yield* measure(k, loadU64(a));
        const p = yield* measure(k, loadPtr(b));
        log.push({ big: big.v, again: again.v, u: u.v, p: p.v, costs: [s1, s2, { ops: big.ops, cycles: big.cycles }, { ops: u.ops, cycles: u.cycles }, { ops: p.ops, cycles: p.cycles }] });
      }
    });
    expect(k.machine.stopReason).toBe('debug-exit');
    for (const [i, [lo, hi]] of values.entries()) {
      const e = log[i] as { big: bigint; again: bigint; u: number; p: number; costs: { ops: number; cycles: number }[] };
      const want = (BigInt(hi) << 32n) | BigInt(lo);
      expect(e.big).toBe(want);
      expect(e.again).toBe(want);
      expect(e.u).toBe(hi * 2 ** 32 + lo);
      const canonical = hi >>> 15 === 0 ? Number(want) : hi >>> 15 === 0x1ffff ? Number(want - (1n << 64n)) : NaN;
      expect(e.p).toBe(canonical);
      for (const c of e.costs) expect(c.ops).toBe(1);
      // Nominal decisions (the guest kit's default): no jitter, so the costs compare exactly.
      expect(e.costs[0].cycles).toBe(e.costs[1].cycles);
      expect(e.costs[3].cycles).toBe(e.costs[2].cycles);
      expect(e.costs[4].cycles).toBe(e.costs[2].cycles);
      expect(e.costs[2].cycles).toBeGreaterThan(0);
    }
  });

  it('a quadword across a page boundary is read and written whole', () => {
    let seen: unknown[] = [];
    run(function* (k) {
      const a = BUF + 0x2000 - 4; // the last dword of one page and the first of the next
      yield store64Halves(a, 0xdeadbeef, 0x00007fee);
      const big: bigint = yield load64(a);
      const u: number = yield loadU64(a);
      const p: number = yield loadPtr(a);
      yield store64Halves(a, 0x1000, 0xffff8000);
      const high: number = yield loadPtr(a);
      const bytes: number[] = [];
      for (let i = 0; i < 8; i++) bytes.push(k.machine.mem.read8(0x1200000 + 0x2000 - 4 + i));
      seen = [big, u, p, high, bytes];
    });
    expect(seen).toEqual([0x00007feedeadbeefn, 0x7fee * 2 ** 32 + 0xdeadbeef, 0x7fee * 2 ** 32 + 0xdeadbeef, HHDM_OFFSET + 0x1000, [0x00, 0x10, 0, 0, 0x00, 0x80, 0xff, 0xff]]);
  });
});

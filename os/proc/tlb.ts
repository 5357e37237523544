// TLB shootdown (SMP): after a PTE is cleared, every other online CPU must
// drop its cached translation before the frame can be reused. The initiator
// (serialized by a sleeping mutex, interrupts on) publishes the address,
// sends the shootdown IPI to the other CPUs, and waits (bounded) until each
// has acknowledged with an atomic increment. Planted bug missing-shootdown
// (issue 5) skips the IPI.
import { fetchAdd, invlpg, load32, pause, store32, type Code } from '../../sim/ops.ts';
import type { Kernel, PerCpu } from '../kstate.ts';
import { mycpu, pushOff, popOff } from '../sync/spinlock.ts';
import { mutexLock, mutexUnlock } from '../sync/mutex.ts';
import { sendIpi, VEC_TLB, lapicEoi } from '../arch/lapic.ts';
import { kassert } from '../kassert.ts';

export function* tlbShootdown(k: Kernel, va: number): Code<void> {
  if (k.cpus.length < 2 || k.tlbMutex === undefined || k.bug === 'missing-shootdown') return;
  yield mutexLock(k, k.tlbMutex);
  const c: PerCpu = yield pushOff(k);
  const self = c.index;
  yield popOff(k);
  const targets = k.cpus.filter((x) => x.online && x.index !== self);
  k.tlbVa = va;
  yield store32(k.tlbAcks, 0);
  for (const t of targets) yield sendIpi(k, t.lapicId, VEC_TLB);
  let acks = 0;
  for (let spins = 0; spins < 1_000_000; spins++) {
    acks = yield load32(k.tlbAcks);
    if (acks >= targets.length) break;
    yield pause();
  }
  if (acks < targets.length) yield kassert('stale-tlb', `TLB shootdown of ${va}: ${acks} of ${targets.length} CPUs acknowledged`);
  k.tlbShootdowns++;
  yield mutexUnlock(k, k.tlbMutex);
}

/** The shootdown IPI handler. */
export function* tlbIpi(k: Kernel): Code<void> {
  yield invlpg(k.tlbVa);
  yield fetchAdd(k.tlbAcks, 1);
  const c: PerCpu = yield mycpu(k);
  void c;
  yield lapicEoi(k);
}

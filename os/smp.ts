// SMP bring-up through the Limine MP protocol: the BSP writes each AP's
// goto_address (one 64-bit store), the AP arrives at ap_main on the
// bootloader's page tables with its limine_smp_info as argument, switches
// to the kernel's page tables, IDT and per-CPU data, starts its LAPIC timer,
// and becomes an idle CPU of the scheduler.
import { compute, load32, lidt, pause, store64, switchTo, writeCr, wrmsr, readCr, Msr, type Code } from '../sim/ops.ts';
import { vaToU64 } from '../sim/x86/address.ts';
import { SMP_INFO } from '../sim/x86/boot.ts';
import type { Kernel } from './kstate.ts';
import { lapicEnable, lapicTimerPeriodic } from './arch/lapic.ts';
import { kassert } from './kassert.ts';

export const AP_ENTRY = 'ap_main';

/** Starts every AP and waits (bounded) until all are online. */
export function* startAps(k: Kernel): Code<void> {
  const entry = vaToU64(k.sym(AP_ENTRY));
  let expected = 0;
  for (const info of k.boot.cpus) {
    if (info.lapicId === k.boot.bspLapicId) continue;
    yield store64(info.infoVa + SMP_INFO.gotoAddress, entry);
    expected++;
  }
  for (let i = 0; i < 100_000 && k.apsOnline < expected; i++) {
    yield pause();
    yield compute(500);
  }
  if (k.apsOnline < expected) yield kassert('sched-invariant', `only ${k.apsOnline} of ${expected} APs came online`);
}

/** AP entry (from the bootloader's wait loop). */
export function* apMain(k: Kernel, infoVa: number): Code<never> {
  const id: number = yield load32(infoVa + SMP_INFO.processorId);
  yield writeCr(3, k.kernelPml4);
  const cr4: number = yield readCr(4);
  yield writeCr(4, cr4 | 0x80);
  yield lidt(k.idtVa, 256 * 16 - 1);
  yield wrmsr(Msr.GS_BASE, id);
  const c = k.cpus[id];
  yield lapicEnable(k);
  yield lapicTimerPeriodic(k, k.lapicTicksPerTick);
  c.online = true;
  k.apsOnline++;
  c.current = c.idle;
  c.idle.state = 'running';
  c.idle.cpu = id;
  yield switchTo(c.idle.stack);
  return (yield kassert('sched-invariant', `AP ${id} boot stack resumed`)) as never;
}

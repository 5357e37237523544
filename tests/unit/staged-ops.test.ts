// Ops the CPU runs as several instruction steps without resuming the code in
// between (sim/x86/cpu.ts: IrqSave = PUSHFQ; CLI; RDGSBASE, IrqRestore =
// PUSHFQ; STI, outsl = one OUT per word). They must be indistinguishable from
// yielding the instructions one by one: the same boundaries (ops), the same
// cycles, interrupts landing between the steps, and the value the code
// resumes with surviving such an interrupt.
import { describe, expect, it } from 'vitest';
import { cli, irqRestore, irqSave, outl, outsl, pushf, rdgsbase, sti, wrmsr, Msr, type Code, type IrqSaveResult } from '../../sim/ops.ts';
import { TRACE_PORT, traceWord } from '../../sim/x86/trace-port.ts';
import type { TrapFrame } from '../../sim/x86/cpu.ts';
import { GuestKit, exit } from '../helpers/guest.ts';

/** Runs `body` after setting GS base to 5; returns the run and the log. */
function run(body: (k: GuestKit) => Code<void>): { r: ReturnType<GuestKit['run']>; k: GuestKit } {
  const k = new GuestKit();
  const r = k.run([
    [
      'entry',
      function* (): Code<void> {
        yield wrmsr(Msr.GS_BASE, 5);
        yield* body(k);
        k.log.push({ ops: k.machine.cpus[0].ops, time: k.machine.cpus[0].time });
        yield* exit(0);
      },
    ],
  ]);
  return { r, k };
}

describe('staged ops', () => {
  it('IrqSave resumes with RFLAGS and the GS base, and costs the ops and cycles of pushf; cli; rdgsbase', () => {
    const fused = run(function* (k) {
      yield sti();
      const s: IrqSaveResult = yield irqSave();
      k.log.push({ rflags: s.rflags, gs: s.gsBase, ifAfter: k.machine.cpus[0].IF });
    });
    const apart = run(function* (k) {
      yield sti();
      const flags: number = yield pushf();
      yield cli();
      const gs: number = yield rdgsbase();
      k.log.push({ rflags: flags, gs, ifAfter: k.machine.cpus[0].IF });
    });
    expect(fused.k.log[0]).toEqual({ rflags: 0x202, gs: 5, ifAfter: false });
    expect(fused.k.log).toEqual(apart.k.log); // same result, same op count, same clock
    expect(fused.r.stopReason).toBe('debug-exit');
  });

  it('IrqRestore reads RFLAGS, then sets IF only when asked, with the ops and cycles of pushf (; sti)', () => {
    for (const restore of [0x200, 0]) {
      const fused = run(function* (k) {
        yield cli();
        const before: number = yield irqRestore(restore);
        k.log.push({ before, ifAfter: k.machine.cpus[0].IF });
      });
      const apart = run(function* (k) {
        yield cli();
        const before: number = yield pushf();
        if (restore !== 0) yield sti();
        k.log.push({ before, ifAfter: k.machine.cpus[0].IF });
      });
      expect(fused.k.log[0]).toEqual({ before: 0x2, ifAfter: restore !== 0 });
      expect(fused.k.log).toEqual(apart.k.log);
    }
  });

  it('an interrupt can land between the PUSHFQ and the CLI of an IrqSave; the code still resumes with the flags read first', () => {
    const k = new GuestKit();
    const r = k.run([
      [
        'entry',
        function* (): Code<void> {
          yield* k.idt([{ vector: 0x40, sym: 'irq' }]);
          yield wrmsr(Msr.GS_BASE, 3);
          yield cli();
          k.machine.cpus[0].lapic.accept(0x40); // pending, masked by IF = 0
          yield sti(); // its shadow covers the next step (the PUSHFQ), so the interrupt lands right after it
          const s: IrqSaveResult = yield irqSave();
          k.log.push({ resumed: s.rflags, gs: s.gsBase, ifAfter: k.machine.cpus[0].IF });
          yield* exit(0);
        },
      ],
      [
        'irq',
        function* (tf: TrapFrame): Code<void> {
          const frames = k.machine.cpus[0].stack.frames;
          const below = frames[frames.length - 2];
          k.log.push({ irq: tf.vector, savedIF: tf.savedIF, pendingStep: below.retry?.b });
        },
      ],
    ]);
    expect(r.stopReason).toBe('debug-exit');
    // The handler ran with the interrupted frame waiting at IrqSave's step 1 (the CLI).
    expect(k.log).toEqual([
      { irq: 0x40, savedIF: true, pendingStep: 1 },
      { resumed: 0x202, gs: 3, ifAfter: false },
    ]);
  });

  it('outsl sends each word to the trace port as a step of its own, like as many OUTs', () => {
    const words = [traceWord(0x01, 7), traceWord(0x04, 1), traceWord(0x05, 0x203)];
    const fused = run(function* (k) {
      yield outsl(TRACE_PORT, words);
      k.log.push({ events: k.machine.tracePort.events });
    });
    const apart = run(function* (k) {
      for (const w of words) yield outl(TRACE_PORT, w);
      k.log.push({ events: k.machine.tracePort.events });
    });
    expect(fused.k.log[0]).toEqual({ events: 3 });
    expect(fused.k.log).toEqual(apart.k.log);
    expect(fused.r.traceHash).toMatch(/^[0-9a-f]{16}$/);
    expect(fused.r.traceHash).toBe(apart.r.traceHash); // the events are hashed alike
    const empty = run(function* (k) {
      yield outsl(TRACE_PORT, []);
      k.log.push({ events: k.machine.tracePort.events });
    });
    expect(empty.k.log[0]).toMatchObject({ events: 0 });
  });

  it('outsl to any port but the trace port is a simulator error naming the port', () => {
    const { r } = run(function* () {
      yield outsl(0x3f8, [0x41]);
    });
    expect(r.stopReason).toBe('sim-error');
    expect(r.message).toContain('batched OUT to port 0x3f8');
  });
});

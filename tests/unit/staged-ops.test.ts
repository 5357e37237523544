// Ops the CPU runs as several instruction steps without resuming the code in
// between (sim/x86/cpu.ts: IrqSave = PUSHFQ; CLI; RDGSBASE, IrqRestore =
// PUSHFQ; STI, outsl = one OUT per word). They must be indistinguishable from
// yielding the instructions one by one: the same boundaries (ops), the same
// cycles, interrupts landing between the steps, and the value the code
// resumes with surviving such an interrupt.
import { describe, expect, it } from 'vitest';
import { cli, compute, irqRestore, irqSave, load32, outl, outsl, pushf, rdgsbase, sti, store32, wrmsr, Msr, STEPS_DONE, type Code, type IrqSaveResult, type OpRec, type StepCode } from '../../sim/ops.ts';
import { HHDM_OFFSET } from '../../sim/x86/boot.ts';
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

/** A step routine that stores `v` at `va`, loads it back, and either finishes with it + 1 or tail-calls `tail`. */
class StoreLoad implements StepCode<number> {
  result = 0;
  private at = 0;
  constructor(
    private readonly va: number,
    private readonly v: number,
    private readonly tail: ((loaded: number) => Code<number>) | null = null,
  ) {}
  step(x: unknown): OpRec | Code | typeof STEPS_DONE {
    switch (this.at++) {
      case 0:
        return store32(this.va, this.v);
      case 1:
        return load32(this.va);
      default:
        if (this.tail !== null) return this.tail(x as number);
        this.result = (x as number) + 1;
        return STEPS_DONE;
    }
  }
}

describe('step routines (StepCode)', () => {
  const VA = HHDM_OFFSET + 0x1200000;

  it('run like the same routine written as a generator: same result, ops and clock', () => {
    const steps = run(function* (k) {
      const r: number = yield new StoreLoad(VA, 41);
      k.log.push({ r });
    });
    const gen = run(function* (k) {
      const sub = function* (): Code<number> {
        yield store32(VA, 41);
        return ((yield load32(VA)) as number) + 1;
      };
      const r: number = yield sub();
      k.log.push({ r });
    });
    expect(steps.k.log[0]).toEqual({ r: 42 });
    expect(steps.k.log).toEqual(gen.k.log);
    expect(steps.r.traceHash).toBe(gen.r.traceHash);
  });

  it('a tail-called generator finishes the routine: its return value is the result', () => {
    const { k } = run(function* (kit) {
      const r: number = yield new StoreLoad(VA, 7, function* (loaded) {
        yield compute(5);
        return loaded * 10;
      });
      kit.log.push({ r });
    });
    expect(k.log[0]).toEqual({ r: 70 });
  });

  it('an interrupt between two of its ops runs in between, and the routine goes on', () => {
    const k = new GuestKit();
    const r = k.run([
      [
        'entry',
        function* (): Code<void> {
          yield* k.idt([{ vector: 0x41, sym: 'irq' }]);
          const s = new StoreLoad(VA, 5);
          const orig = s.step.bind(s);
          s.step = (x: unknown) => {
            const next = orig(x);
            if ((next as OpRec).k !== undefined && k.log.length === 0) k.machine.cpus[0].lapic.accept(0x41); // pending from the first op on
            return next;
          };
          yield sti();
          const v: number = yield s;
          k.log.push({ v });
          yield* exit(0);
        },
      ],
      [
        'irq',
        function* (): Code<void> {
          const frames = k.machine.cpus[0].stack.frames;
          k.log.push({ irq: true, routineActive: frames[frames.length - 2].steps !== null });
        },
      ],
    ]);
    expect(r.stopReason).toBe('debug-exit');
    expect(k.log).toEqual([{ irq: true, routineActive: true }, { v: 6 }]);
  });

  it('a step that gives something other than an op, a generator or STEPS_DONE is a simulator error', () => {
    const { r } = run(function* () {
      const bad: StepCode<number> = { result: 0, step: () => 42 as unknown as OpRec };
      yield bad;
    });
    expect(r.stopReason).toBe('sim-error');
    expect(r.message).toContain('a step routine gave number 42');
  });
});

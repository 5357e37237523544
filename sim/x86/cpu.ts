// The CPU: executes ops handed over by generator frames, at instruction
// boundaries, in 64-bit mode.
// Spec: Intel SDM vol. 3A §2.5 (CR0.PG/WP, CR4.PAE/PGE), §2.2.1 (EFER.LME/
// LMA/NXE), §6.4-6.5 (exception classes, faults vs traps), §6.12-6.14 (IDT
// in IA-32e mode: 16-byte gates; interrupt gates clear IF, trap gates keep
// it; a software INT n from CPL 3 needs gate DPL >= 3 or it raises #GP with
// error code vector*8+2), §6.15 (#DF on a fault during delivery; a fault
// while delivering #DF shuts the processor down: triple fault), §6.8.3 (STI
// interrupt shadow).
//
// Execution model (DESIGN.md): a thread is a Stack of Frames (generators).
// An interrupt or exception pushes its handler's frame on the current stack;
// the handler returning (or yielding iret) pops it. A Switch op changes which
// stack the CPU resumes; it returns when someone switches back.
import { Op, OpObj, op as makeOp, LOAD64_U53, LOAD64_VA, STEPS_DONE, type Code, type IrqSaveResult, type OpRec, type StepCode, type SyscallRegs, Msr } from '../ops.ts';
import type { CodeEntry } from '../code.ts';
import type { Decider } from '../decisions.ts';
import { Site } from '../decisions.ts';
import type { CostModel } from '../cost-model.ts';
import type { PhysicalMemory } from '../memory.ts';
import { HashKind, type TraceHash } from '../trace-hash.ts';
import { Access, Mmu } from './mmu.ts';
import type { Lapic } from './lapic.ts';
import type { PortBus } from './port-bus.ts';
import type { MmioBus } from './mmio-bus.ts';
import { vaFromHalves, vaFromU64, hexVa, TWO_32 } from './address.ts';

/** Exception vectors (SDM §6.3.1, table 6-1). */
export const Vec = {
  DE: 0,
  DB: 1,
  NMI: 2,
  BP: 3,
  OF: 4,
  BR: 5,
  UD: 6,
  NM: 7,
  DF: 8,
  TS: 10,
  NP: 11,
  SS: 12,
  GP: 13,
  PF: 14,
  MF: 16,
  AC: 17,
  MC: 18,
  XM: 19,
} as const;

export const VECTOR_NAMES: Record<number, string> = {
  0: '#DE',
  1: '#DB',
  2: 'NMI',
  3: '#BP',
  4: '#OF',
  5: '#BR',
  6: '#UD',
  7: '#NM',
  8: '#DF',
  10: '#TS',
  11: '#NP',
  12: '#SS',
  13: '#GP',
  14: '#PF',
  16: '#MF',
  17: '#AC',
  18: '#MC',
  19: '#XM',
};

/** Contributory exceptions (SDM table 6-4). */
const CONTRIBUTORY = new Set([0, 10, 11, 12, 13]);

/** Vectors that push an error code (SDM table 6-1). */
const HAS_ERROR_CODE = new Set([8, 10, 11, 12, 13, 14, 17]);

export const FrameKind = { Base: 0, Trap: 1, User: 2 } as const;

/** Nested calls in one frame before the simulator calls it runaway recursion. */
const CALL_DEPTH_LIMIT = 4096;
export const TrapKind = { Exception: 0, External: 1, Software: 2 } as const;

/** What an interrupt or exception handler receives (the hardware-pushed frame plus what the stub saved). */
export interface TrapFrame {
  readonly vector: number;
  readonly errorCode: number;
  readonly hasError: boolean;
  readonly kind: number;
  /** CPL of the interrupted code. */
  readonly cpl: number;
  /** RFLAGS.IF of the interrupted code (restored by iret). */
  readonly savedIF: boolean;
  /** Syscall registers for int 0x80 (rax receives the result), else null. */
  readonly regs: SyscallRegs | null;
  /** Index of the CPU taking the event. */
  readonly cpu: number;
  /** Name of the interrupted frame. */
  readonly from: string;
  /** The interrupted user frame's entry address, when cpl = 3. */
  readonly userEntry: number;
  /**
   * Exception-table fixup: a handler of a fault taken at CPL 0 may set this
   * (to any value but undefined) to abandon the faulting op; on iret the
   * interrupted code resumes as if the op returned this value (Linux's
   * extable: jump to the fixup, rax = -EFAULT).
   */
  fixup?: unknown;
}

/** The later steps of IrqSave, and IrqRestore's STI (which leaves the value the code resumes with alone). */
const IRQSAVE_CLI: OpRec = makeOp(Op.IrqSave, 0, 1, 0, null);
const IRQSAVE_GS: OpRec = makeOp(Op.IrqSave, 0, 2, 0, null);
const STI_STEP: OpRec = makeOp(Op.Sti, 0, 0, 0, null);

/** An op that raises #UD (UD2): what a frame runs after returning to nowhere. */
const UD2: OpRec = makeOp(Op.Ud2, 0, 0, 0, null);

export class Frame {
  /** Value the generator is resumed with. */
  resume: any = undefined;
  /** An op that faulted and will be re-executed after the handler returns. */
  retry: OpRec | null = null;
  /** Cycles left of an interrupted Compute op. */
  computeLeft = 0;
  /** Generators this frame's code called (`yield sub()`), innermost last; the innermost runs. */
  calls: Code[] | null = null;
  /** The step routine this frame's code is in (it supplies the ops until it finishes), or null. */
  steps: StepCode | null = null;
  /** The object IrqSave resumes this frame with, reused (the registers it stands for are overwritten by the next IrqSave too). */
  irqSaveResult: IrqSaveResult | null = null;

  constructor(
    public name: string,
    readonly cpl: number,
    readonly kind: number,
    public gen: Code | null,
    readonly trap: TrapFrame | null,
    /** Entry virtual address for a frame whose code is fetched on its first step (user entry, jump), and its argument. */
    public entryVa = 0,
    public arg = 0,
    readonly stackVa = 0,
  ) {}
}

/** A thread's stack of frames: the unit a Switch op switches to. */
export class Stack {
  /** Outermost first. Changed only through push and pop, which keep `top`. */
  readonly frames: readonly Frame[] = [];
  /** CPU currently running this stack, or -1. */
  cpu = -1;
  /** Interrupt/exception frames on this stack (nesting depth; calls do not count). */
  trapDepth = 0;
  /** The kernel's object for this thread (opaque to the machine). */
  owner: unknown = null;

  /** A stack whose bottom frame runs `entry` at CPL 0; or, with `entry` null, the code at `entryVa` (fetched through the MMU). */
  constructor(
    readonly id: number,
    readonly name: string,
    entry: Code | null,
    entryVa = 0,
    arg = 0,
  ) {
    this.top = new Frame(name, 0, FrameKind.Base, entry, null, entryVa, arg);
    (this.frames as Frame[]).push(this.top);
  }

  /** The innermost frame (kept by push and pop: the CPU reads it for every op). */
  top: Frame;

  /** Enters frame `f` (a trap, or user mode). */
  push(f: Frame): void {
    (this.frames as Frame[]).push(f);
    this.top = f;
  }

  /** Leaves the innermost frame (never the bottom one). */
  pop(): void {
    (this.frames as Frame[]).pop();
    this.top = this.frames[this.frames.length - 1];
  }

  /** Whether the innermost frame runs at CPL 3. */
  get inUser(): boolean {
    return this.top.cpl === 3;
  }
}

/** %GeneratorPrototype%: what every generator object inherits `next` from. */
const GENERATOR_PROTOTYPE = Object.getPrototypeOf(Object.getPrototypeOf((function* () {})())) as Generator;

/**
 * `x instanceof AnyGenerator` is true for every generator object (its
 * prototype chain reaches %GeneratorPrototype%): a prototype walk of two
 * steps, where reading `x.next` would be a megamorphic load (each generator
 * function gives its objects a hidden class of their own).
 */
function AnyGenerator(): void {}
AnyGenerator.prototype = GENERATOR_PROTOTYPE;

/**
 * %GeneratorPrototype%.next, called directly: `gen.next(v)` reads `next`
 * from receivers of a hidden class per generator function (a megamorphic
 * load on every resume); `genNext.call(gen, v)` is a known call. Code is
 * therefore always a generator object (checked with AnyGenerator before it
 * is called).
 */
const genNext = GENERATOR_PROTOTYPE.next as (this: Generator, v: unknown) => IteratorResult<unknown, unknown>;

/** Raised by the CPU for a simulator bug or a broken guest contract; the machine reports it with the frame's name. */
export class SimulatorError extends Error {}

/** What the CPU needs from the machine. */
export interface CpuHost {
  readonly mem: PhysicalMemory;
  readonly ports: PortBus;
  readonly mmio: MmioBus;
  readonly decider: Decider;
  readonly costs: CostModel;
  readonly hash: TraceHash;
  readonly maxFrameDepth: number;
  stopped: boolean;
  lookupCode(pa: number): CodeEntry | undefined;
  nextEventTime(): number;
  now(): number;
  tripleFault(cpu: Cpu, message: string): void;
  /** Observers (tracing, metrics); may be no-ops. */
  onSwitch(cpu: Cpu, from: Stack, to: Stack): void;
  onTrap(cpu: Cpu, tf: TrapFrame, handler: string): void;
  onIret(cpu: Cpu, tf: TrapFrame): void;
  onHalt(cpu: Cpu, halted: boolean): void;
}

export class Cpu {
  /** Local clock in cycles. */
  time = 0;
  /** RFLAGS.IF. */
  IF = false;
  halted = false;
  /** Shut down (triple fault) or never started. */
  dead = false;
  stack: Stack;
  readonly mmu: Mmu;
  cr0 = 0x80010033; // PG | WP | NE | ET | MP | PE
  cr2 = 0;
  cr4 = 0x20; // PAE
  efer = 0x500; // LME | LMA
  idtBase = 0;
  idtLimit = 0;
  gsBase = 0;
  kernelGsBase = 0;
  /** Counters. */
  ops = 0;
  idleCycles = 0;
  private haltStart = 0;
  interrupts = 0;
  exceptions = 0;
  /** STI shadow: interrupts are not taken before the next op. */
  private shadow = false;
  private irqHoldOps = 0;
  private irqDecided = false;
  private inCompute = false;
  private computeStart = 0;
  /** Why the last #DF was raised (for the triple-fault verdict and reports). */
  lastDeliveryFailure = '';

  constructor(
    readonly index: number,
    readonly apicId: number,
    readonly lapic: Lapic,
    private readonly host: CpuHost,
    initial: Stack,
    readonly isBsp: boolean,
  ) {
    this.mmu = new Mmu(host.mem);
    this.stack = initial;
    initial.cpu = index;
    lapic.pendingSink = this;
  }

  /** Current privilege level: that of the innermost frame. */
  get cpl(): number {
    return this.stack.top.cpl;
  }

  /** Busy cycles so far (time minus idle). */
  busyCycles(endCycles: number): number {
    return endCycles - this.idleCyclesAt(endCycles);
  }

  /** Idle cycles up to `endCycles` (counts a halt still in progress). */
  idleCyclesAt(endCycles: number): number {
    return this.idleCycles + (this.halted ? Math.max(0, endCycles - this.haltStart) : 0);
  }

  /** The LAPIC's notice that an interrupt is pending (Lapic.pendingSink). */
  onInterruptPending(): void {
    if (this.dead) return;
    const now = this.host.now();
    if (this.halted) {
      if (!this.IF || this.lapic.deliverable() < 0) return;
      this.halted = false;
      if (now > this.time) {
        this.idleCycles += now - this.haltStart;
        this.time = now;
      } else this.idleCycles += Math.max(0, this.time - this.haltStart);
      this.host.onHalt(this, false);
      return;
    }
    // A CPU busy in a pure compute chunk past `now` can be rewound: nothing it
    // did in (now, time] was observable, so the interrupt lands on time.
    if (this.inCompute && now < this.time && now >= this.computeStart) {
      this.stack.top.computeLeft += this.time - now;
      this.time = now;
    }
  }

  /** Runs ops until the local clock reaches `limit` or the next event (at least one step), or the CPU halts. Ops may schedule earlier events; the loop re-reads the queue head. */
  slice(limit: number): void {
    const host = this.host;
    do {
      if (this.halted || this.dead || host.stopped) return;
      if (this.IF && this.lapic.irrCount > 0 && !this.shadow && this.checkInterrupt()) continue;
      this.shadow = false;
      const f = this.stack.top;
      if (f.computeLeft > 0) {
        this.computeChunk(f);
        continue;
      }
      this.inCompute = false;
      let op: OpRec;
      if (f.retry !== null) {
        op = f.retry;
        f.retry = null;
      } else {
        const next = this.nextOp(f);
        if (next === null) continue;
        op = next;
      }
      this.ops++;
      this.exec(f, op);
    } while (this.time < limit && this.time < host.nextEventTime());
  }

  /**
   * The frame's next op: from its active step routine, else from its innermost
   * generator, following calls and returns; null when there is nothing to
   * execute this step (the frame returned, or fetching its code faulted).
   * Calls: a frame may yield a generator (`yield sub()`), which runs on the
   * frame's call stack and hands its return value back: resuming the
   * innermost generator stays O(1) however deep the call chain (yield* would
   * resume every level for every op). It may also yield a StepCode, which
   * runs the same way without a generator. The ops and their boundaries are
   * the same in every form.
   */
  private nextOp(f: Frame): OpRec | null {
    let value: unknown = f.resume;
    f.resume = undefined;
    for (;;) {
      const s = f.steps;
      if (s !== null) {
        const x = s.step(value);
        if (x instanceof OpObj) return x;
        f.steps = null;
        if (x === STEPS_DONE) {
          value = s.result;
          continue;
        }
        if (!(x instanceof AnyGenerator)) throw new SimulatorError(`frame ${f.name} on CPU ${this.index}: a step routine gave ${describe(x)}, which is neither an op (ops are made by the factories of sim/ops.ts) nor a generator`);
        this.call(f, x as Code); // tail call: its return value is the routine's result
        value = undefined;
        continue;
      }
      if (f.gen === null && !this.fetchEntry(f)) {
        f.resume = value; // fetching the code faulted: it is fetched again after the handler
        return null;
      }
      const calls = f.calls;
      const r = genNext.call(calls !== null && calls.length > 0 ? calls[calls.length - 1] : f.gen!, value) as IteratorResult<unknown, unknown>;
      const v = r.value as OpRec | Code | StepCode;
      if (r.done === true) {
        if (calls === null || calls.length === 0) {
          this.frameReturned(f);
          return null;
        }
        calls.pop();
        value = v;
        continue;
      }
      if (v instanceof OpObj) return v;
      value = undefined;
      if (v instanceof AnyGenerator) {
        this.call(f, v as Code);
        continue;
      }
      if (v != null && typeof (v as StepCode).step === 'function') {
        f.steps = v as StepCode;
        continue;
      }
      throw new SimulatorError(`frame ${f.name} on CPU ${this.index} yielded ${describe(v)}, which is not an op (ops are made by the factories of sim/ops.ts), a generator or a step routine`);
    }
  }

  /** Pushes generator `g` on frame `f`'s call stack (it runs next). */
  private call(f: Frame, g: Code): void {
    if (f.calls === null) f.calls = [];
    if (f.calls.length >= CALL_DEPTH_LIMIT) throw new SimulatorError(`frame ${f.name} on CPU ${this.index}: call depth over ${CALL_DEPTH_LIMIT} (runaway recursion in guest code)`);
    f.calls.push(g);
  }

  /** Runs frame `f`'s pending compute up to the next event (or a held interrupt's landing point). */
  private computeChunk(f: Frame): void {
    const nextEv = this.host.nextEventTime();
    const full = this.time + f.computeLeft;
    let end = nextEv > this.time && nextEv < full ? nextEv : full;
    if (this.irqHoldOps > 0) {
      // A held interrupt waits k instruction boundaries; inside a compute run that is k cycles, not k chunks.
      if (this.time + this.irqHoldOps < end) end = this.time + this.irqHoldOps;
      this.irqHoldOps = 0;
    }
    this.inCompute = true;
    this.computeStart = this.time;
    f.computeLeft = full - end;
    this.time = end;
  }

  /** Takes a deliverable interrupt if the irq-delay decision lets it land now. */
  private checkInterrupt(): boolean {
    const v = this.lapic.deliverable();
    if (v < 0) return false;
    if (this.irqHoldOps > 0) {
      this.irqHoldOps--;
      return false;
    }
    if (!this.irqDecided) {
      this.irqDecided = true;
      const d = this.host.decider.decide(Site.IrqDelay, this.host.costs.irqDelayOps.length);
      if (d > 0) {
        this.irqHoldOps = this.host.costs.irqDelayOps[d];
        return false;
      }
    }
    this.irqDecided = false;
    this.lapic.ack(v);
    this.interrupts++;
    this.deliver(v, 0, TrapKind.External, null);
    return true;
  }

  private jitter(): number {
    const c = this.host.costs.jitterCycles;
    return c[this.host.decider.decide(Site.Jitter, c.length)];
  }

  /** Executes one op for frame `f`. */
  private exec(f: Frame, op: OpRec): void {
    const costs = this.host.costs;
    const user = f.cpl === 3;
    switch (op.k) {
      case Op.Compute: {
        const n = op.a;
        if (!(n >= 0) || !Number.isSafeInteger(n)) throw new SimulatorError(`frame ${f.name}: compute(${n}) needs a non-negative integer cycle count`);
        f.computeLeft = n; // run from the next step on (that boundary is a pick point on SMP)
        return;
      }
      case Op.Load:
        this.load(f, op, user);
        return;
      case Op.Store:
        this.store(f, op, user);
        return;
      case Op.Xchg:
      case Op.CmpXchg:
      case Op.FetchAdd:
        this.atomic(f, op, user);
        return;
      case Op.In:
        if (user) return this.raise(f, op, 13, 0);
        f.resume = this.host.ports.read(op.a, op.b, this.index);
        this.time += costs.portIo + this.jitter();
        return;
      case Op.Out:
        if (user) return this.raise(f, op, 13, 0);
        if (op.x !== null) {
          // outsl: only the paravirtual trace port takes a batch. Word c now; each further word is a step
          // of its own (REP OUTSD is interruptible between iterations), run without resuming the code.
          if (op.a !== this.host.ports.freePort) throw new SimulatorError(`frame ${f.name}: batched OUT to port 0x${op.a.toString(16)} (only the trace port takes one)`);
          const words = op.x as readonly number[];
          if (op.c < words.length) this.host.ports.writeFree(4, words[op.c], this.index);
          if (op.c + 1 < words.length) f.retry = makeOp(Op.Out, op.a, 4, op.c + 1, words);
          return;
        }
        if (op.a === this.host.ports.freePort) {
          this.host.ports.writeFree(op.b, op.c, this.index); // paravirtual trace port: no cost, no decision (trace-port.ts)
          return;
        }
        this.time += costs.portIo + this.jitter();
        this.host.ports.write(op.a, op.b, op.c, this.index);
        return;
      case Op.Cli:
        if (user) return this.raise(f, op, 13, 0);
        this.IF = false;
        this.time += costs.cliSti;
        return;
      case Op.Sti:
        if (user) return this.raise(f, op, 13, 0);
        if (!this.IF) this.shadow = true;
        this.IF = true;
        this.time += costs.cliSti;
        return;
      case Op.Hlt:
        if (user) return this.raise(f, op, 13, 0);
        this.time += 1;
        if (this.IF && this.lapic.deliverable() >= 0) {
          this.irqHoldOps = 0;
          return; // an interrupt is already pending: HLT falls through
        }
        this.halted = true;
        this.haltStart = this.time;
        this.host.hash.add(HashKind.Halt, this.time, this.index, this.IF ? 1 : 0);
        this.host.onHalt(this, true);
        return;
      case Op.Pause:
        this.time += costs.pause;
        return;
      case Op.Int:
        // Trap semantics: the op completes; the handler returns to the next op (a #GP/#NP it raises is a fault).
        this.deliver(op.a & 0xff, 0, TrapKind.Software, (op.x as SyscallRegs | null) ?? null, op);
        return;
      case Op.Switch:
        if (user) return this.raise(f, op, 13, 0);
        this.switchTo(f, op.x);
        return;
      case Op.ReadCr:
        if (user) return this.raise(f, op, 13, 0);
        f.resume = op.a === 0 ? this.cr0 : op.a === 2 ? this.cr2 : op.a === 3 ? this.mmu.cr3 : op.a === 4 ? this.cr4 : NaN;
        if (Number.isNaN(f.resume)) return this.raise(f, op, 6, 0);
        this.time += costs.privileged;
        return;
      case Op.WriteCr:
        if (user) return this.raise(f, op, 13, 0);
        this.writeCr(f, op);
        return;
      case Op.Invlpg:
        if (user) return this.raise(f, op, 13, 0);
        this.mmu.invalidate(op.a);
        this.time += costs.privileged;
        return;
      case Op.Lidt:
        if (user) return this.raise(f, op, 13, 0);
        this.idtBase = op.a;
        this.idtLimit = op.b & 0xffff;
        this.time += costs.privileged;
        return;
      case Op.Sidt:
        if (user) return this.raise(f, op, 13, 0); // UMIP assumed on
        f.resume = { base: this.idtBase, limit: this.idtLimit };
        this.time += costs.privileged;
        return;
      case Op.Rdtsc:
        f.resume = this.time;
        this.time += costs.rdtsc;
        return;
      case Op.Rdmsr:
        if (user) return this.raise(f, op, 13, 0);
        this.rdmsr(f, op);
        return;
      case Op.Wrmsr:
        if (user) return this.raise(f, op, 13, 0);
        this.wrmsr(f, op);
        return;
      case Op.EnterUser:
        if (user) return this.raise(f, op, 13, 0);
        if (this.stack.trapDepth >= this.host.maxFrameDepth) return this.raise(f, op, 8, 0);
        this.stack.push(new Frame(`user@${hexVa(op.a)}`, 3, FrameKind.User, null, null, op.a, op.c, op.b));
        this.IF = true; // IRETQ to user mode loads RFLAGS with IF set
        this.time += costs.iret;
        return;
      case Op.RepStos:
      case Op.RepMovs:
        this.repString(f, op, user);
        return;
      case Op.Iret:
        if (f.kind !== FrameKind.Trap) return this.raise(f, op, 13, 0);
        this.iret(f);
        return;
      case Op.Ud2:
        this.raise(f, op, 6, 0);
        return;
      case Op.Div:
        if (op.b === 0) return this.raise(f, op, Vec.DE, 0);
        f.resume = Math.floor(op.a / op.b);
        this.time += 26; // 64-bit DIV latency (Agner Fog: ~26-40 cycles on recent cores)
        return;
      case Op.Pushf:
        f.resume = this.IF ? 0x202 : 0x2;
        this.time += 2;
        return;
      case Op.IrqSave:
        // Step b: 0 PUSHFQ, 1 CLI, 2 RDGSBASE; each later step is an instruction boundary of its own, run
        // from f.retry without resuming the code (the result lives in the frame across an interrupt).
        if (user) return this.raise(f, op, 13, 0);
        if (op.b === 0) {
          const r = (f.irqSaveResult ??= { rflags: 0, gsBase: 0 });
          r.rflags = this.IF ? 0x202 : 0x2;
          f.resume = r;
          this.time += 2;
          f.retry = IRQSAVE_CLI;
        } else if (op.b === 1) {
          this.IF = false;
          this.time += costs.cliSti;
          f.retry = IRQSAVE_GS;
        } else {
          (f.resume as IrqSaveResult).gsBase = this.gsBase;
          this.time += costs.memAccess;
        }
        return;
      case Op.IrqRestore:
        // PUSHFQ now; STI (when restoring IF on) as the next step.
        if (user) return this.raise(f, op, 13, 0);
        f.resume = this.IF ? 0x202 : 0x2;
        this.time += 2;
        if ((op.a & 0x200) !== 0) f.retry = STI_STEP;
        return;
      case Op.Rdgsbase:
        if (user) return this.raise(f, op, 6, 0); // CR4.FSGSBASE is kernel-only here
        f.resume = this.gsBase;
        this.time += costs.memAccess;
        return;
      case Op.Jump:
        // An indirect jump: the frame continues at the code found at virtual address a (fetched on the next step).
        f.gen = null;
        f.calls = null;
        f.steps = null;
        f.entryVa = op.a;
        f.arg = op.c;
        this.time += 2;
        return;
      default:
        throw new SimulatorError(`frame ${f.name} on CPU ${this.index} yielded an op of unknown kind ${String(op.k)}`);
    }
  }

  /** Raises exception `vector` for the op `op` of frame `f` (a fault: the op re-executes after the handler returns). */
  private raise(f: Frame, op: OpRec | null, vector: number, code: number): void {
    f.retry = op;
    this.exceptions++;
    this.deliver(vector, code, TrapKind.Exception, null);
  }

  private mmuFault(f: Frame, op: OpRec | null): void {
    const fault = this.mmu.fault;
    if (fault.vector === 14) this.cr2 = fault.addr;
    this.raise(f, op, fault.vector, fault.code);
  }

  private load(f: Frame, op: OpRec, user: boolean): void {
    const va = op.a;
    const size = op.b;
    const mem = this.host.mem;
    if (pageOffset(va) + size > 4096) {
      // Crosses a page: translate both pages first (no partial effect), then assemble little-endian.
      const bytes = this.translateRange(va, size, Access.Read, user);
      if (bytes === null) return this.mmuFault(f, op);
      let v = 0n;
      for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.readPhys(bytes[i], 1));
      f.resume = size !== 8 ? Number(v) : op.x === LOAD64_U53 ? Number(v) : op.x === LOAD64_VA ? vaFromU64(v) : v;
      this.time += 2 * this.host.costs.memAccess + this.jitter();
      return;
    }
    const pa = this.mmu.translate(va, Access.Read, user);
    if (pa < 0) return this.mmuFault(f, op);
    let cost = this.mmu.walked ? this.host.costs.memAccess + this.host.costs.tlbMissWalk : this.host.costs.memAccess;
    if (pa + size <= mem.size) {
      f.resume =
        size === 4 ? mem.read32(pa) : size === 1 ? mem.read8(pa) : size === 2 ? mem.read16(pa) : size !== 8 ? badSize(f, size) : op.x === null ? mem.read64(pa) : read64As(op.x, mem.read32(pa), mem.read32(pa + 4));
    } else {
      cost = this.host.costs.mmio;
      if (size === 8) {
        const lo = this.host.mmio.read(pa, 4, this.index);
        const hi = this.host.mmio.read(pa + 4, 4, this.index);
        f.resume = op.x === null ? (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0) : read64As(op.x, lo >>> 0, hi >>> 0);
      } else f.resume = this.host.mmio.read(pa, size, this.index);
    }
    this.time += cost + this.jitter();
  }

  private store(f: Frame, op: OpRec, user: boolean): void {
    const va = op.a;
    const size = op.b;
    const mem = this.host.mem;
    const halves = size === 8 && typeof op.x === 'number'; // store64Halves: lo in c, hi in x
    if (size === 8 && !halves && typeof op.x !== 'bigint') throw new SimulatorError(`frame ${f.name}: an 8-byte store needs a bigint value or two 32-bit halves`);
    if (pageOffset(va) + size > 4096) {
      const bytes = this.translateRange(va, size, Access.Write, user);
      if (bytes === null) return this.mmuFault(f, op);
      let v = halves ? (BigInt((op.x as number) >>> 0) << 32n) | BigInt(op.c >>> 0) : size === 8 ? (op.x as bigint) : BigInt(op.c >>> 0);
      for (let i = 0; i < size; i++) {
        this.writePhys(bytes[i], 1, Number(v & 0xffn));
        v >>= 8n;
      }
      this.time += 2 * this.host.costs.memAccess + this.jitter();
      return;
    }
    const pa = this.mmu.translate(va, Access.Write, user);
    if (pa < 0) return this.mmuFault(f, op);
    let cost = this.mmu.walked ? this.host.costs.memAccess + this.host.costs.tlbMissWalk : this.host.costs.memAccess;
    if (pa + size <= mem.size) {
      if (size === 4) mem.write32(pa, op.c);
      else if (size === 1) mem.write8(pa, op.c);
      else if (size === 2) mem.write16(pa, op.c);
      else if (halves) mem.write64Halves(pa, op.c >>> 0, (op.x as number) >>> 0);
      else if (size === 8) mem.write64(pa, op.x as bigint);
      else badSize(f, size);
    } else {
      cost = this.host.costs.mmio;
      if (halves) {
        this.host.mmio.write(pa, 4, op.c >>> 0, this.index);
        this.host.mmio.write(pa + 4, 4, (op.x as number) >>> 0, this.index);
      } else if (size === 8) {
        const v = BigInt.asUintN(64, op.x as bigint);
        this.host.mmio.write(pa, 4, Number(v & 0xffffffffn), this.index);
        this.host.mmio.write(pa + 4, 4, Number(v >> 32n), this.index);
      } else this.host.mmio.write(pa, size, op.c, this.index);
    }
    this.time += cost + this.jitter();
  }

  private atomic(f: Frame, op: OpRec, user: boolean): void {
    const va = op.a;
    if ((va & 3) !== 0 || va !== Math.floor(va)) throw new SimulatorError(`frame ${f.name}: atomic op on unaligned address ${hexVa(va)}`);
    const pa = this.mmu.translate(va, Access.Write, user);
    if (pa < 0) return this.mmuFault(f, op);
    const mem = this.host.mem;
    if (pa + 4 > mem.size) throw new SimulatorError(`frame ${f.name}: atomic op on MMIO address ${hexVa(va)}`);
    const old = mem.read32(pa);
    if (op.k === Op.Xchg) mem.write32(pa, op.c);
    else if (op.k === Op.CmpXchg) {
      if (old === op.b >>> 0) mem.write32(pa, op.c);
    } else mem.write32(pa, (old + op.c) >>> 0);
    f.resume = old;
    this.time += this.host.costs.atomic + (this.mmu.walked ? this.host.costs.tlbMissWalk : 0) + this.jitter();
  }

  private repString(f: Frame, op: OpRec, user: boolean): void {
    const len = op.b;
    if (!Number.isSafeInteger(len) || len < 0) throw new SimulatorError(`frame ${f.name}: rep string length ${len}`);
    const mem = this.host.mem;
    if (op.k === Op.RepMovs && len > 0 && pageOffset(op.a) + len <= 4096 && pageOffset(op.c) + len <= 4096) {
      // Common case: each side lies in one page. Same translations, in the same order, as the general path below.
      const d = this.mmu.translate(op.a, Access.Write, user);
      if (d < 0) return this.mmuFault(f, op);
      const s = this.mmu.translate(op.c, Access.Read, user);
      if (s < 0) return this.mmuFault(f, op);
      if (s + len <= mem.size && d + len <= mem.size) {
        copyInRam(mem, d, s, len);
        this.time += this.host.costs.repStartup + Math.ceil(len / this.host.costs.repBytesPerCycle) + this.jitter();
        return;
      }
    }
    // Translate every page first: a fault leaves no partial effect (a simplification of REP's restartable progress).
    const dst = this.translateRuns(op.a, len, Access.Write, user);
    if (dst === null) return this.mmuFault(f, op);
    let src: number[] | null = null;
    if (op.k === Op.RepMovs) {
      src = this.translateRuns(op.c, len, Access.Read, user);
      if (src === null) return this.mmuFault(f, op);
    }
    if (src !== null && src.length === 2 && dst.length === 2 && src[0] + len <= mem.size && dst[0] + len <= mem.size) {
      // Each side is one physical run in RAM (a page-crossing copy of physically contiguous pages).
      copyInRam(mem, dst[0], src[0], len);
    } else if (src !== null) {
      // Snapshot the source, then write: overlapping ranges copy like memmove.
      const tmp = new Uint8Array(len);
      let o = 0;
      for (let i = 0; i < src.length; i += 2) {
        const pa = src[i];
        const n = src[i + 1];
        if (pa + n <= mem.size) tmp.set(mem.bytes.subarray(pa, pa + n), o);
        else for (let j = 0; j < n; j++) tmp[o + j] = this.host.mmio.read(pa + j, 1, this.index) & 0xff;
        o += n;
      }
      o = 0;
      for (let i = 0; i < dst.length; i += 2) {
        const pa = dst[i];
        const n = dst[i + 1];
        if (pa + n <= mem.size) mem.set(tmp.subarray(o, o + n), pa);
        else for (let j = 0; j < n; j++) this.host.mmio.write(pa + j, 1, tmp[o + j], this.index);
        o += n;
      }
    } else {
      const b = op.c & 0xff;
      for (let i = 0; i < dst.length; i += 2) {
        const pa = dst[i];
        const n = dst[i + 1];
        if (pa + n <= mem.size) mem.fill(b, pa, n);
        else for (let j = 0; j < n; j++) this.host.mmio.write(pa + j, 1, b, this.index);
      }
    }
    this.time += this.host.costs.repStartup + Math.ceil(len / this.host.costs.repBytesPerCycle) + this.jitter();
  }

  /** [pa, length] pairs covering [va, va+len) page by page, or null with mmu.fault set. */
  private translateRuns(va: number, len: number, kind: number, user: boolean): number[] | null {
    const out: number[] = [];
    let i = 0;
    while (i < len) {
      const pa = this.mmu.translate(va + i, kind, user);
      if (pa < 0) return null;
      const inPage = Math.min(len - i, 4096 - pageOffset(va + i));
      out.push(pa, inPage);
      i += inPage;
    }
    return out;
  }

  /** Physical address of every byte of [va, va+len) (a page-crossing scalar access), or null with mmu.fault set. */
  private translateRange(va: number, len: number, kind: number, user: boolean): number[] | null {
    const runs = this.translateRuns(va, len, kind, user);
    if (runs === null) return null;
    const out: number[] = [];
    for (let i = 0; i < runs.length; i += 2) for (let j = 0; j < runs[i + 1]; j++) out.push(runs[i] + j);
    return out;
  }

  private readPhys(pa: number, size: number): number {
    if (pa + size <= this.host.mem.size) return size === 1 ? this.host.mem.read8(pa) : this.host.mem.read32(pa);
    return this.host.mmio.read(pa, size, this.index);
  }

  private writePhys(pa: number, size: number, v: number): void {
    if (pa + size <= this.host.mem.size) this.host.mem.write8(pa, v);
    else this.host.mmio.write(pa, size, v, this.index);
  }

  private writeCr(f: Frame, op: OpRec): void {
    const v = op.c;
    switch (op.a) {
      case 0:
        if (v >>> 31 === 0) return this.raise(f, op, 13, 0); // clearing PG in IA-32e mode
        this.cr0 = v >>> 0;
        this.mmu.wp = (v & 0x10000) !== 0;
        this.mmu.flushAll();
        break;
      case 2:
        this.cr2 = v;
        break;
      case 3:
        if (!Number.isSafeInteger(v) || v < 0 || v >= 2 ** 40) return this.raise(f, op, 13, 0);
        this.mmu.cr3 = v;
        this.mmu.flushNonGlobal();
        break;
      case 4: {
        if ((v & 0x20) === 0) return this.raise(f, op, 13, 0); // clearing PAE in IA-32e mode
        const pge = (v & 0x80) !== 0;
        if (pge !== this.mmu.pge) this.mmu.flushAll();
        this.cr4 = v >>> 0;
        this.mmu.pge = pge;
        break;
      }
      default:
        return this.raise(f, op, 6, 0);
    }
    this.time += this.host.costs.privileged;
  }

  private rdmsr(f: Frame, op: OpRec): void {
    switch (op.a) {
      case Msr.EFER:
        f.resume = this.efer;
        break;
      case Msr.GS_BASE:
        f.resume = this.gsBase;
        break;
      case Msr.KERNEL_GS_BASE:
        f.resume = this.kernelGsBase;
        break;
      case Msr.APIC_BASE:
        f.resume = 0xfee00000 + 0x800 + (this.isBsp ? 0x100 : 0);
        break;
      case Msr.TSC:
        f.resume = this.time;
        break;
      default:
        return this.raise(f, op, 13, 0);
    }
    this.time += this.host.costs.privileged;
  }

  private wrmsr(f: Frame, op: OpRec): void {
    switch (op.a) {
      case Msr.EFER:
        if ((op.c & 0x100) === 0) return this.raise(f, op, 13, 0); // LME cannot be cleared with paging on
        this.efer = (op.c & 0x901) | 0x400;
        this.mmu.nxe = (op.c & 0x800) !== 0;
        break;
      case Msr.GS_BASE:
        this.gsBase = op.c;
        break;
      case Msr.KERNEL_GS_BASE:
        this.kernelGsBase = op.c;
        break;
      default:
        return this.raise(f, op, 13, 0);
    }
    this.time += this.host.costs.privileged;
  }

  private switchTo(f: Frame, target: unknown): void {
    if (!(target instanceof Stack)) throw new SimulatorError(`frame ${f.name}: switch target is not a Stack`);
    const from = this.stack;
    this.time += this.host.costs.contextSwitch;
    if (target === from) return;
    if (target.cpu !== -1 && target.cpu !== this.index) {
      this.host.tripleFault(this, `stack ${target.name} switched to on CPU ${this.index} while running on CPU ${target.cpu} (one kernel stack on two CPUs)`);
      return;
    }
    from.cpu = -1;
    target.cpu = this.index;
    this.stack = target;
    this.inCompute = false;
    this.host.hash.add(HashKind.Switch, this.time, this.index, target.id);
    this.host.onSwitch(this, from, target);
  }

  /** Fetches a user frame's first instruction through the MMU (exec, CPL 3) and instantiates its code. */
  private fetchEntry(f: Frame): boolean {
    const pa = this.mmu.translate(f.entryVa, Access.Exec, f.cpl === 3);
    if (pa < 0) {
      this.mmuFault(f, null);
      return false;
    }
    const entry = this.host.lookupCode(pa);
    if (entry === undefined) {
      this.raise(f, null, 6, 0);
      return false;
    }
    f.name = entry.name;
    f.gen = entry.fn(f.arg);
    return true;
  }

  /** A frame's generator finished: iret for a handler; a return to nowhere (#UD) otherwise. */
  private frameReturned(f: Frame): void {
    if (f.kind === FrameKind.Trap) {
      this.iret(f);
      return;
    }
    f.retry = UD2; // returned from its bottom frame: executes garbage
  }

  private iret(f: Frame): void {
    const st = this.stack;
    if (st.top !== f) throw new SimulatorError(`iret from ${f.name}, which is not the innermost frame`);
    st.pop();
    st.trapDepth--;
    const tf = f.trap!;
    this.IF = tf.savedIF;
    if (tf.regs !== null && tf.kind === TrapKind.Software) st.top.resume = tf.regs.rax;
    else if (tf.fixup !== undefined) {
      const below = st.top;
      below.retry = null;
      below.computeLeft = 0;
      below.resume = tf.fixup;
    }
    this.time += this.host.costs.iret;
    this.host.onIret(this, tf);
  }

  /**
   * Delivers an interrupt or exception through the IDT (SDM §6.12.1, §6.14).
   * A failure to reach the handler raises a second exception (#NP for a
   * not-present gate, #GP for a bad gate or limit, #PF for an unmapped IDT or
   * handler, error code vector*8+2+EXT), delivered normally after a benign
   * first event, or turned into #DF after a contributory one or a #PF
   * (SDM §6.15, tables 6-4 and 6-5); a failure during #DF is a triple fault.
   * `intOp` is the INT n op being executed (a #GP/#NP it raises is a fault: the INT re-executes).
   */
  deliver(vector: number, errorCode: number, kind: number, regs: SyscallRegs | null, intOp: OpRec | null = null): void {
    const f = this.stack.top;
    const gate = this.readGate(vector, kind === TrapKind.Software && f.cpl === 3);
    if ('fault' in gate || this.stack.trapDepth >= this.host.maxFrameDepth) {
      const g = 'fault' in gate ? gate : { fault: Vec.DF, code: 0, msg: `kernel stack overflow (${this.stack.trapDepth} nested interrupt frames)` };
      if (vector === Vec.DF) {
        this.host.tripleFault(this, `fault while delivering #DF: ${g.msg}`);
        return;
      }
      this.exceptions++;
      const code = g.code + (kind === TrapKind.External ? 1 : 0);
      if (intOp !== null) f.retry = intOp;
      const firstContributory = kind === TrapKind.Exception && CONTRIBUTORY.has(vector);
      const firstPf = kind === TrapKind.Exception && vector === Vec.PF;
      const secondContributory = CONTRIBUTORY.has(g.fault);
      const double = g.fault === Vec.DF || (firstContributory && secondContributory) || (firstPf && (secondContributory || g.fault === Vec.PF));
      if (double) {
        this.lastDeliveryFailure = `while delivering vector ${vector} (${VECTOR_NAMES[vector] ?? 'interrupt'}): ${g.msg}`;
        return this.deliver(Vec.DF, 0, TrapKind.Exception, null);
      }
      if (g.fault === Vec.PF) this.cr2 = this.mmu.fault.addr;
      return this.deliver(g.fault, code, TrapKind.Exception, null);
    }
    const tf: TrapFrame = {
      vector,
      errorCode,
      hasError: kind === TrapKind.Exception && HAS_ERROR_CODE.has(vector),
      kind,
      cpl: f.cpl,
      savedIF: this.IF,
      regs,
      cpu: this.index,
      from: f.name,
      userEntry: f.cpl === 3 ? this.userEntryOf() : 0,
    };
    if (!gate.trapGate) this.IF = false;
    this.stack.push(new Frame(gate.entry.name, 0, FrameKind.Trap, gate.entry.fn(tf), tf));
    this.stack.trapDepth++;
    this.time += this.host.costs.intDelivery;
    this.host.hash.add(kind === TrapKind.External ? HashKind.Interrupt : HashKind.Exception, this.time, vector | (this.index << 8), errorCode);
    this.host.onTrap(this, tf, gate.entry.name);
  }

  private userEntryOf(): number {
    const frames = this.stack.frames;
    for (let i = frames.length - 1; i >= 0; i--) if (frames[i].kind === FrameKind.User) return frames[i].entryVa;
    return 0;
  }

  /** Reads and checks IDT gate `vector`; returns the handler, or the exception that delivery raises instead. */
  /** readGate's answer for a usable gate (one object per CPU). */
  private readonly gateOk: { entry: CodeEntry; trapGate: boolean } = { entry: { fn: () => { throw new SimulatorError('no gate read yet'); }, name: '' } as CodeEntry, trapGate: false };

  private readGate(vector: number, fromUserSoftware: boolean): { entry: CodeEntry; trapGate: boolean } | { fault: number; code: number; msg: string } {
    const idtCode = vector * 8 + 2;
    if (vector * 16 + 15 > this.idtLimit) return { fault: Vec.GP, code: idtCode, msg: `vector ${vector} is beyond the IDT limit 0x${this.idtLimit.toString(16)}` };
    const gva = this.idtBase + vector * 16;
    const pa0 = this.mmu.translate(gva, Access.Read, false);
    // The gate's second quadword: in the same page unless the IDT base is misaligned enough for the gate to cross one.
    const pa1 = pa0 < 0 ? -1 : pageOffset(gva) <= 4096 - 16 ? pa0 + 8 : this.mmu.translate(gva + 8, Access.Read, false);
    if (pa0 < 0 || pa1 < 0) return { fault: this.mmu.fault.vector, code: this.mmu.fault.code, msg: `IDT entry ${vector} at ${hexVa(gva)} is not mapped (#PF err=0x${this.mmu.fault.code.toString(16)})` };
    const mem = this.host.mem;
    if (pa0 + 8 > mem.size || pa1 + 8 > mem.size) return { fault: Vec.GP, code: idtCode, msg: `IDT entry ${vector} is not in RAM` };
    const w0 = mem.read32(pa0);
    const w1 = mem.read32(pa0 + 4);
    const w2 = mem.read32(pa1);
    const attr = (w1 >>> 8) & 0xff;
    const present = (attr & 0x80) !== 0;
    const dpl = (attr >>> 5) & 3;
    const type = attr & 0xf;
    if (type !== 0xe && type !== 0xf && present) return { fault: Vec.GP, code: idtCode, msg: `IDT gate ${vector} has type 0x${type.toString(16)}, not an interrupt or trap gate` };
    if (fromUserSoftware && dpl < 3) return { fault: Vec.GP, code: idtCode, msg: `gate ${vector} has DPL ${dpl} < CPL 3` };
    if (!present) return { fault: Vec.NP, code: idtCode, msg: `IDT gate ${vector} is not present` };
    if ((w0 >>> 16) === 0) return { fault: Vec.GP, code: 0, msg: `IDT gate ${vector} has a null code selector` };
    const offLo = (w0 & 0xffff) | (w1 & 0xffff0000);
    const target = vaFromHalves(offLo >>> 0, w2);
    if (Number.isNaN(target)) return { fault: Vec.GP, code: 0, msg: `IDT gate ${vector} target is not canonical` };
    const pa = this.mmu.translate(target, Access.Exec, false);
    if (pa < 0) return { fault: Vec.PF, code: this.mmu.fault.code, msg: `handler for vector ${vector} at ${hexVa(target)} is not mapped executable (#PF err=0x${this.mmu.fault.code.toString(16)})` };
    const entry = this.host.lookupCode(pa);
    if (entry === undefined) return { fault: Vec.UD, code: 0, msg: `handler for vector ${vector} at ${hexVa(target)} is not code` };
    const ok = this.gateOk; // reused: deliver reads it before anything can read another gate
    ok.entry = entry;
    ok.trapGate = type === 0xf;
    return ok;
  }
}

/** Copies `len` bytes of RAM from `s` to `d` as memmove does (overlap allowed), marking the pages written. */
function copyInRam(mem: PhysicalMemory, d: number, s: number, len: number): void {
  mem.markDirty(d, len);
  const b = mem.bytes;
  if (len > 32) b.copyWithin(d, s, s + len);
  else if (d <= s || d >= s + len) for (let i = 0; i < len; i++) b[d + i] = b[s + i];
  else for (let i = len - 1; i >= 0; i--) b[d + i] = b[s + i]; // overlapping, destination above: copy downwards
}

/** The number an 8-byte load of the number forms resumes with (OpRec.x): loadU64's value, or loadPtr's canonical address. */
function read64As(as: unknown, lo: number, hi: number): number {
  return as === LOAD64_VA ? vaFromHalves(lo, hi) : hi * TWO_32 + lo;
}

function pageOffset(va: number): number {
  return va - Math.floor(va / 4096) * 4096; // in [0, 4096) for negative (canonical high-half) addresses too
}

function badSize(f: Frame, size: number): never {
  throw new SimulatorError(`frame ${f.name}: memory access of ${size} bytes (must be 1, 2, 4 or 8)`);
}

function describe(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (v === null) return 'null';
  if (typeof v === 'object') return `an object without a numeric op kind (${JSON.stringify(v)?.slice(0, 60)})`;
  return `${typeof v} ${String(v).slice(0, 40)}`;
}

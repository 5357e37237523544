// The op set: what code running on a simulated CPU hands the CPU at each
// instruction boundary (each `yield`). Kernel and user code are generator
// functions that yield ops; the CPU executes one op, charges its cost from
// the cost model, and resumes the generator with the op's result.
//
// Value conventions (DESIGN.md, "64-bit guest values"):
// - Virtual addresses are numbers in canonical form, sign-extended from bit 47
//   (0xffff800000000000 is -0x800000000000): always exact in a double.
// - Data values of 1, 2 and 4 bytes are unsigned numbers; 8-byte data values
//   are bigint (page-table entries with NX need bit 63).
// - Physical addresses are non-negative numbers below 2^52.

export const Op = {
  /** Runs `a` cycles of ALU work; interruptible at any cycle. */
  Compute: 0,
  /** Loads `b` bytes (1, 2, 4 or 8) from virtual address `a`. */
  Load: 1,
  /** Stores value `c` (bigint `x` when b = 8) of `b` bytes at virtual address `a`. */
  Store: 2,
  /** Atomic exchange of the 4-byte word at `a` with `c`; returns the old value (x86 XCHG). */
  Xchg: 3,
  /** Atomic compare-and-exchange of the 4-byte word at `a`: if it equals `b`, store `c`; returns the old value (LOCK CMPXCHG). */
  CmpXchg: 4,
  /** Atomic fetch-and-add of `c` to the 4-byte word at `a`; returns the old value (LOCK XADD). */
  FetchAdd: 5,
  /** Port input of `b` bytes from port `a` (IN). */
  In: 6,
  /** Port output of `b` bytes of `c` to port `a` (OUT); with `x` an array, dword outputs of its values from index `c` on (outsl). */
  Out: 7,
  /** Clears RFLAGS.IF (CLI). */
  Cli: 8,
  /** Sets RFLAGS.IF (STI). */
  Sti: 9,
  /** Halts until an interrupt (HLT). */
  Hlt: 10,
  /** Spin-wait hint (PAUSE). */
  Pause: 11,
  /** Software interrupt `a` (INT n; INT3 when a = 3). For int 0x80, `x` carries the syscall registers. */
  Int: 12,
  /** Switches this CPU to the stack `x` (swtch); resumes when someone switches back. */
  Switch: 13,
  /** Reads control register `a` (0, 2, 3, 4) or EFER (a = 0xC0000080 via Rdmsr). */
  ReadCr: 14,
  /** Writes control register `a` with `c`. */
  WriteCr: 15,
  /** Invalidates the TLB entry for virtual address `a` (INVLPG). */
  Invlpg: 16,
  /** Loads the IDT register: base `a`, limit `b` (LIDT). */
  Lidt: 17,
  /** Reads the time-stamp counter (RDTSC). */
  Rdtsc: 18,
  /** Reads MSR `a` (RDMSR); values are numbers (MSRs modelled here fit in 53 bits). */
  Rdmsr: 19,
  /** Writes MSR `a` with `c` (WRMSR). */
  Wrmsr: 20,
  /** Drops to ring 3: runs the user code at virtual address `a` with stack pointer `b` and argument `c` (IRETQ to CPL 3). */
  EnterUser: 21,
  /** Fills `b` bytes at virtual address `a` with byte `c` (REP STOSB). */
  RepStos: 22,
  /** Copies `b` bytes from virtual address `c` to virtual address `a` (REP MOVSB). */
  RepMovs: 23,
  /** Returns from an interrupt or exception handler (IRETQ); same as the handler returning. */
  Iret: 24,
  /** Reads the IDT register: returns { base, limit } (SIDT). */
  Sidt: 25,
  /** Raises #UD (UD2). */
  Ud2: 26,
  /** Jumps to the code at virtual address `a` with argument `c` (JMP; the current generator is abandoned). */
  Jump: 27,
  /** Reads RFLAGS (PUSHFQ; POP): bit 9 is IF, bit 1 is always set. */
  Pushf: 28,
  /** Reads the GS base (RDGSBASE): kernels keep per-CPU data there (Rugo keeps its CPU index). */
  Rdgsbase: 29,
  /** Unsigned integer division `a` / `b` (DIV): resumes with the quotient; #DE when `b` is 0 (SDM vol. 2, DIV). */
  Div: 30,
  /**
   * Saves RFLAGS, disables interrupts and reads the GS base (PUSHFQ; CLI;
   * RDGSBASE: the body of xv6's push_off, or Linux's local_irq_save and its
   * first per-CPU access): resumes with an IrqSaveResult. Three instruction
   * boundaries and the three instructions' cycles, as if yielded one by
   * one (interrupts and other CPUs can come between them), but the code is
   * resumed once: the CPU runs the CLI and the read as the op's later steps.
   */
  IrqSave: 31,
  /**
   * Reads RFLAGS, then sets IF when bit 9 of `a` is set (PUSHFQ, then STI if
   * restoring: the tail of xv6's pop_off): resumes with RFLAGS as it was
   * before, so the caller can check the state it restores from. One
   * boundary, or two with the STI (whose interrupt shadow applies), and the
   * code is resumed once.
   */
  IrqRestore: 32,
} as const;

export type OpKind = (typeof Op)[keyof typeof Op];

/** One op. Fields are positional to keep every op the same shape (fast property access). */
export interface OpRec {
  k: number;
  a: number;
  b: number;
  c: number;
  x: unknown;
}

/**
 * Code that runs on a simulated CPU: a generator yielding ops, resumed with
 * their results. It may also yield another such generator to call it (the
 * CPU runs it as a call frame and resumes the caller with its return value);
 * `yield sub()` and `yield* sub()` run the same ops at the same boundaries,
 * but a call keeps each resume O(1) however deep the chain is.
 */
export type Code<R = unknown> = Generator<OpRec | Generator<any, any, any> | StepCode<any>, R, any>;

/** What a StepCode's step returns when it has finished (its value is in `result`). */
export const STEPS_DONE: unique symbol = Symbol('steps done');

/**
 * Code written out by hand as a state machine instead of a generator, for
 * the hottest short routines (the kernel's lock paths): yielded like a
 * generator (`yield acquire(k, lk)`), it runs on the caller's frame and
 * hands back `result`. The CPU calls `step` with the result of the previous
 * op (undefined the first time) and executes the op it returns, at an
 * instruction boundary of its own, exactly as for a generator's yield; or
 * it gets STEPS_DONE, or a generator to tail-call (whose return value is
 * then the result, e.g. a kernel assertion that never returns). The ops,
 * their boundaries and everything between them are those the same routine
 * written as a generator would give; only the host cost differs (a step is
 * a method call, a generator call costs an allocation and resumes).
 */
export interface StepCode<R = unknown> {
  step(v: unknown): OpRec | Code | typeof STEPS_DONE;
  result: R;
}

/**
 * The class every op is an instance of: the CPU tells an op from a call by
 * `instanceof` (one prototype check) rather than by reading a field, which
 * on generator objects (a hidden class per generator function) made the
 * check megamorphic for every op.
 */
export class OpObj implements OpRec {
  constructor(
    public k: number,
    public a: number,
    public b: number,
    public c: number,
    public x: unknown,
  ) {}
}

/** Makes an op (the factories below, and the CPU's own internal ops). */
export function op(k: number, a: number, b: number, c: number, x: unknown): OpRec {
  return new OpObj(k, a, b, c, x);
}
// Ops without operands are shared objects (nothing writes an op once made; not frozen, which would give them
// another hidden class than the other ops): no allocation per use.

const COMPUTE_CACHE: (OpRec | undefined)[] = new Array<OpRec | undefined>(1024).fill(undefined);
/** Compute ops of small cycle counts are shared (kernel code yields the same few again and again). */
export const compute = (cycles: number): OpRec => {
  if (cycles >= 0 && cycles < 1024 && Number.isInteger(cycles)) return (COMPUTE_CACHE[cycles] ??= op(Op.Compute, cycles, 0, 0, null));
  return op(Op.Compute, cycles, 0, 0, null);
};
export const load8 = (va: number): OpRec => op(Op.Load, va, 1, 0, null);
export const load16 = (va: number): OpRec => op(Op.Load, va, 2, 0, null);
export const load32 = (va: number): OpRec => op(Op.Load, va, 4, 0, null);
/** 8-byte load; resumes with a bigint. */
export const load64 = (va: number): OpRec => op(Op.Load, va, 8, 0, null);
/** OpRec.x of an 8-byte load that resumes with a number instead of a bigint: see loadU64, loadPtr. */
export const LOAD64_U53 = 1;
export const LOAD64_VA = 2;
/**
 * 8-byte load (one MOV r64) of an unsigned value known to fit in 53 bits
 * (lengths, counts, physical addresses); resumes with the number
 * hi * 2^32 + lo (rounded like any double above 2^53).
 */
export const loadU64 = (va: number): OpRec => op(Op.Load, va, 8, 0, LOAD64_U53);
/** 8-byte load of a pointer; resumes with the canonical virtual address in signed form, or NaN if it is not canonical. */
export const loadPtr = (va: number): OpRec => op(Op.Load, va, 8, 0, LOAD64_VA);
export const store8 = (va: number, v: number): OpRec => op(Op.Store, va, 1, v, null);
export const store16 = (va: number, v: number): OpRec => op(Op.Store, va, 2, v, null);
export const store32 = (va: number, v: number): OpRec => op(Op.Store, va, 4, v, null);
/** 8-byte store of a bigint. */
export const store64 = (va: number, v: bigint): OpRec => op(Op.Store, va, 8, 0, v);
/** 8-byte store (one MOV r64) of the value given as unsigned 32-bit halves. */
export const store64Halves = (va: number, lo: number, hi: number): OpRec => op(Op.Store, va, 8, lo >>> 0, hi >>> 0);
export const xchg = (va: number, v: number): OpRec => op(Op.Xchg, va, 4, v, null);
export const cmpxchg = (va: number, expected: number, v: number): OpRec => op(Op.CmpXchg, va, expected, v, null);
export const fetchAdd = (va: number, delta: number): OpRec => op(Op.FetchAdd, va, 4, delta, null);
export const inb = (port: number): OpRec => op(Op.In, port, 1, 0, null);
export const inw = (port: number): OpRec => op(Op.In, port, 2, 0, null);
export const inl = (port: number): OpRec => op(Op.In, port, 4, 0, null);
export const outb = (port: number, v: number): OpRec => op(Op.Out, port, 1, v, null);
export const outw = (port: number, v: number): OpRec => op(Op.Out, port, 2, v, null);
export const outl = (port: number, v: number): OpRec => op(Op.Out, port, 4, v, null);
/**
 * Dword OUTs of every value of `words` to `port`, as REP OUTSD would send
 * them (the data rides in the op instead of memory): one instruction
 * boundary per word, as REP's iterations have, but the code resumes once,
 * after the last. Only the paravirtual trace port takes it (trace-port.ts).
 * Do not change `words` before the code resumes.
 */
export const outsl = (port: number, words: readonly number[]): OpRec => op(Op.Out, port, 4, 0, words);
const CLI_OP: OpRec = op(Op.Cli, 0, 0, 0, null);
export const cli = (): OpRec => CLI_OP;
const STI_OP: OpRec = op(Op.Sti, 0, 0, 0, null);
export const sti = (): OpRec => STI_OP;
const HLT_OP: OpRec = op(Op.Hlt, 0, 0, 0, null);
export const hlt = (): OpRec => HLT_OP;
const PAUSE_OP: OpRec = op(Op.Pause, 0, 0, 0, null);
export const pause = (): OpRec => PAUSE_OP;
export const int = (vector: number, regs: unknown = null): OpRec => op(Op.Int, vector, 0, 0, regs);
const INT3_OP: OpRec = op(Op.Int, 3, 0, 0, null);
export const int3 = (): OpRec => INT3_OP;
export const switchTo = (stack: unknown): OpRec => op(Op.Switch, 0, 0, 0, stack);
export const readCr = (n: number): OpRec => op(Op.ReadCr, n, 0, 0, null);
export const writeCr = (n: number, v: number): OpRec => op(Op.WriteCr, n, 0, v, null);
export const invlpg = (va: number): OpRec => op(Op.Invlpg, va, 0, 0, null);
export const lidt = (base: number, limit: number): OpRec => op(Op.Lidt, base, limit, 0, null);
const SIDT_OP: OpRec = op(Op.Sidt, 0, 0, 0, null);
export const sidt = (): OpRec => SIDT_OP;
const RDTSC_OP: OpRec = op(Op.Rdtsc, 0, 0, 0, null);
export const rdtsc = (): OpRec => RDTSC_OP;
export const rdmsr = (msr: number): OpRec => op(Op.Rdmsr, msr, 0, 0, null);
export const wrmsr = (msr: number, v: number): OpRec => op(Op.Wrmsr, msr, 0, v, null);
export const enterUser = (entryVa: number, stackVa: number, arg: number): OpRec => op(Op.EnterUser, entryVa, stackVa, arg, null);
export const repStos = (va: number, len: number, byte: number): OpRec => op(Op.RepStos, va, len, byte, null);
export const repMovs = (dstVa: number, srcVa: number, len: number): OpRec => op(Op.RepMovs, dstVa, len, srcVa, null);
const IRET_OP: OpRec = op(Op.Iret, 0, 0, 0, null);
export const iret = (): OpRec => IRET_OP;
const PUSHF_OP: OpRec = op(Op.Pushf, 0, 0, 0, null);
export const pushf = (): OpRec => PUSHF_OP;
const IRQSAVE_OP: OpRec = op(Op.IrqSave, 0, 0, 0, null);
export const irqSave = (): OpRec => IRQSAVE_OP;

/** What IrqSave resumes with: two registers' worth, valid until the same code's next IrqSave (read it at once). */
export interface IrqSaveResult {
  /** RFLAGS before the CLI (bit 9 is IF). */
  rflags: number;
  /** The GS base (the kernel's per-CPU index). */
  gsBase: number;
}
/** Restores IF from bit 9 of `rflags` (0x200 = on). */
const IRQRESTORE_ON: OpRec = op(Op.IrqRestore, 0x200, 0, 0, null);
const IRQRESTORE_OFF: OpRec = op(Op.IrqRestore, 0, 0, 0, null);
export const irqRestore = (rflags: number): OpRec => ((rflags & 0x200) !== 0 ? IRQRESTORE_ON : IRQRESTORE_OFF); // only bit 9 matters
export const div = (dividend: number, divisor: number): OpRec => op(Op.Div, dividend, divisor, 0, null);
const RDGSBASE_OP: OpRec = op(Op.Rdgsbase, 0, 0, 0, null);
export const rdgsbase = (): OpRec => RDGSBASE_OP;
const UD2_OP: OpRec = op(Op.Ud2, 0, 0, 0, null);
export const ud2 = (): OpRec => UD2_OP;
export const jump = (va: number, arg: number): OpRec => op(Op.Jump, va, 0, arg, null);

/** MSR numbers (Intel SDM vol. 4). */
export const Msr = {
  EFER: 0xc0000080,
  GS_BASE: 0xc0000101,
  KERNEL_GS_BASE: 0xc0000102,
  APIC_BASE: 0x1b,
  TSC: 0x10,
} as const;

/** Syscall registers for int 0x80 (the seed's ABI: number in rax; rdi, rsi, rdx, r10, r8, r9; result in rax). */
export interface SyscallRegs {
  rax: number;
  rdi: number;
  rsi: number;
  rdx: number;
  r10: number;
  r8: number;
  r9: number;
}

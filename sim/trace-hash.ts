// Running trace hash over everything architecturally visible (serial bytes,
// interrupts, exceptions, context switches, device events), each with its
// cycle stamp. Two independent 32-bit multiplicative lanes give a 64-bit
// digest; no allocation per event. Same run => same hash, on any machine.

/** Kinds of hashed events (stable numbers: changing one changes every hash). */
export const HashKind = {
  Serial: 1,
  Interrupt: 2,
  Exception: 3,
  Switch: 4,
  Device: 5,
  Halt: 6,
  Exit: 7,
  Irq: 8,
  User: 9,
} as const;

export class TraceHash {
  private h1 = 0x811c9dc5 | 0;
  private h2 = 0x1b873593 | 0;
  /** Number of events hashed. */
  events = 0;

  /** Mixes one event (kind, cycle stamp, two integer payloads) into the hash. */
  add(kind: number, cycles: number, a: number, b: number): void {
    this.events++;
    this.word(kind);
    this.word(cycles | 0);
    this.word(Math.floor(cycles / 4294967296) | 0);
    this.word(a | 0);
    this.word(Math.floor(a / 4294967296) | 0);
    this.word(b | 0);
  }

  private word(w: number): void {
    this.h1 = Math.imul(this.h1 ^ w, 0x01000193);
    this.h1 ^= this.h1 >>> 15;
    this.h2 = Math.imul(this.h2 ^ w, 0x5bd1e995);
    this.h2 ^= this.h2 >>> 13;
  }

  /** The digest as 16 hex digits. */
  hex(): string {
    const f1 = Math.imul(this.h1 ^ (this.h1 >>> 16), 0x85ebca6b) >>> 0;
    const f2 = Math.imul(this.h2 ^ (this.h2 >>> 16), 0xc2b2ae35) >>> 0;
    return f1.toString(16).padStart(8, '0') + f2.toString(16).padStart(8, '0');
  }
}

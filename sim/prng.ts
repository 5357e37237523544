// Seeded pseudo-random streams built on seedrandom (Alea). One stream per
// decision-site family, forked from the run seed by name, so consuming from
// one stream never changes another (TigerBeetle: the PRNG is passed
// explicitly, never global).
import seedrandom from 'seedrandom';

/** A stream of floats in [0, 1) from a seed string. */
export interface Stream {
  (): number;
}

/** Forks an independent stream for `family` from `runSeed`. */
export function forkStream(runSeed: number | string, family: string): Stream {
  const st = new AleaStream(runSeed, family);
  return () => st.next();
}

/**
 * One forked stream as an object whose next() the JIT inlines (the decision
 * path asks for one number per memory access): seedrandom's Alea seeds it,
 * and next() steps the same recurrence as seedrandom's lib/alea.js, so the
 * numbers are seedrandom's (tests/unit/prng.test.ts compares them).
 */
export class AleaStream {
  // Initialized with numbers of their kind (not left undefined, as a bare class field would be), so V8 keeps
  // them unboxed: c a small integer, s0..s2 doubles.
  private c = 0;
  private s0 = 0.5;
  private s1 = 0.5;
  private s2 = 0.5;

  constructor(runSeed: number | string, family: string) {
    const st = seedrandom.alea(`rugo-sim/${String(runSeed)}/${family}`, { state: true }).state() as { c: number; s0: number; s1: number; s2: number };
    this.c = st.c;
    this.s0 = st.s0;
    this.s1 = st.s1;
    this.s2 = st.s2;
  }

  /** The next number in [0, 1). */
  next(): number {
    const t = 2091639 * this.s0 + this.c * 2.3283064365386963e-10; // 2^-32
    this.s0 = this.s1;
    this.s1 = this.s2;
    this.c = t | 0;
    this.s2 = t - this.c;
    return this.s2;
  }
}

/** Uniform integer in [0, n) from `stream`. */
export function below(stream: Stream, n: number): number {
  return Math.floor(stream() * n);
}

/** Parses a user-supplied seed: a non-negative safe integer (decimal or 0x hex). Returns null when invalid. */
export function parseSeed(text: string): number | null {
  const t = text.trim();
  if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(t)) return null;
  const v = Number(t);
  return Number.isSafeInteger(v) && v >= 0 ? v : null;
}

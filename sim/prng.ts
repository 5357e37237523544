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
  const rng = seedrandom.alea(`rugo-sim/${String(runSeed)}/${family}`);
  return () => rng();
}

/** Baagoe's Mash (the hash Alea seeds with): folds `data` into the running state `m.n`; returns a number in [0, 1). */
function mash(m: { n: number }, data: string): number {
  let n = m.n;
  for (let i = 0; i < data.length; i++) {
    n += data.charCodeAt(i);
    let h = 0.02519603282416938 * n;
    n = h >>> 0;
    h -= n;
    h *= n;
    n = h >>> 0;
    h -= n;
    n += h * 0x100000000; // 2^32
  }
  m.n = n;
  return (n >>> 0) * 2.3283064365386963e-10; // 2^-32
}

/** Mash's state after Alea's three mashes of ' ', and their values (the same for every seed). */
const SPACE_STATE = { n: 0xefc8249d };
const SPACE_MASHES = [mash(SPACE_STATE, ' '), mash(SPACE_STATE, ' '), mash(SPACE_STATE, ' ')] as const;
const MASH_AFTER_SPACES = SPACE_STATE.n;

/**
 * The stream forkStream gives, as an object whose next() the JIT inlines
 * (the decision path asks for one number per memory access): Baagoe's Alea,
 * seeded and stepped as seedrandom's lib/alea.js does, so the numbers are
 * identical (tests/unit/prng.test.ts compares them).
 */
export class AleaStream {
  // Initialized with numbers of their kind (not left undefined, as a bare class field would be), so V8 keeps
  // them unboxed: c a small integer, s0..s2 doubles.
  private c = 0;
  private s0 = 0.5;
  private s1 = 0.5;
  private s2 = 0.5;

  constructor(runSeed: number | string, family: string) {
    // Alea's seeding: three mashes of ' ' (the same for every seed, so done once below), then the seed
    // subtracted three times, the mash state running on; c starts at 1.
    const seed = `rugo-sim/${String(runSeed)}/${family}`;
    const m = { n: MASH_AFTER_SPACES };
    this.c = 1;
    this.s0 = SPACE_MASHES[0] - mash(m, seed);
    if (this.s0 < 0) this.s0 += 1;
    this.s1 = SPACE_MASHES[1] - mash(m, seed);
    if (this.s1 < 0) this.s1 += 1;
    this.s2 = SPACE_MASHES[2] - mash(m, seed);
    if (this.s2 < 0) this.s2 += 1;
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

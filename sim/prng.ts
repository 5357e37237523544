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

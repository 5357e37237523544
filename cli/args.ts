// Argument parsers for the CLI: each refuses bad input with a one-line
// message that says which option and what is accepted.
import { InvalidArgumentError } from 'commander';
import { parseSeed } from '../sim/prng.ts';

export function seedArg(v: string): number {
  const s = parseSeed(v);
  if (s === null) throw new InvalidArgumentError(`must be a non-negative integer (decimal or 0x-hex), got '${v}'`);
  return s;
}

export function intArg(lo: number, hi: number): (v: string) => number {
  return (v: string) => {
    const t = v.trim().replace(/_/g, '');
    const n = /^(0x[0-9a-f]+|[0-9]+(e[0-9]+)?)$/i.test(t) ? Number(t) : NaN;
    if (!Number.isSafeInteger(n) || n < lo || n > hi) throw new InvalidArgumentError(`must be an integer in ${lo}..${hi}, got '${v}'`);
    return n;
  };
}

export function choiceArg<T extends string>(choices: readonly T[]): (v: string) => T {
  return (v: string) => {
    if (!(choices as readonly string[]).includes(v)) throw new InvalidArgumentError(`must be one of ${choices.join(', ')}, got '${v}'`);
    return v as T;
  };
}

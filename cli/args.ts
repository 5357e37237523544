// Argument parsers for the CLI: each refuses bad input with a one-line
// message that says which option and what is accepted.
import { InvalidArgumentError } from 'commander';
import { parseSeed } from '../sim/prng.ts';
import { INT_KEYS, KNOWN_KEYS } from '../os/options.ts';

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

/**
 * A kernel option `key=value` for --option (repeatable: the values gather
 * in order). The key must be one the kernel knows; integer keys need an
 * integer. `bug` has its own flag (--bug), which also sets the bug's workload.
 */
export function kernelOptionArg(v: string, previous: string[] = []): string[] {
  const m = /^([a-z_]+)=(\S+)$/.exec(v);
  if (m === null) throw new InvalidArgumentError(`must be key=value without spaces (a kernel option such as arg=50), got '${v}'`);
  const [, key, value] = m;
  if (key === 'bug') throw new InvalidArgumentError(`use --bug ${value} to plant a bug (it also sets the bug's workload options)`);
  if (!KNOWN_KEYS.has(key)) throw new InvalidArgumentError(`unknown kernel option '${key}' (known: ${[...KNOWN_KEYS].filter((k) => k !== 'bug').sort().join(', ')})`);
  if (INT_KEYS.includes(key) && !/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(value)) throw new InvalidArgumentError(`${key} takes a non-negative integer, got '${value}'`);
  return [...previous, `${key}=${value}`];
}

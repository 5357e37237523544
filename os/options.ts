// Kernel options, parsed from the kernel command line that the bootloader
// hands over (Limine's executable cmdline response). The seed's build
// features (panic_test, pf_test, ...) are options here, so one kernel image
// serves every scenario. Unknown words are kept and reported, never ignored
// silently.

export interface KernelOptions {
  /** Panic on purpose after boot (seed: the panic ISO). */
  panicTest: boolean;
  /** Touch an unmapped address after paging is on (M1 page-fault report). */
  pfTest: boolean;
  /** Execute int3 after the IDT is installed (M1 IDT smoke test). */
  trapTest: boolean;
  /** Key=value options (scheduler policy, tick rate, planted bugs, scenario programs, ...). */
  values: Map<string, string>;
  /** Words the kernel did not understand. */
  unknown: string[];
}

const FLAGS: Record<string, keyof Pick<KernelOptions, 'panicTest' | 'pfTest' | 'trapTest'>> = {
  panic_test: 'panicTest',
  pf_test: 'pfTest',
  trap_test: 'trapTest',
};

/** Keys the kernel understands as key=value. */
export const KNOWN_KEYS = new Set(['test', 'sched', 'hz', 'bug', 'threads', 'iters', 'watchdog', 'prog', 'msgs', 'procs', 'quantum', 'stress', 'ticks', 'lines', 'work', 'prio', 'arg', 'ipcq', 'failalloc', 'blk', 'case']);

export function parseCmdline(cmdline: string): KernelOptions {
  const o: KernelOptions = { panicTest: false, pfTest: false, trapTest: false, values: new Map(), unknown: [] };
  for (const word of cmdline.split(/\s+/)) {
    if (word === '') continue;
    const eq = word.indexOf('=');
    if (eq > 0) {
      const key = word.slice(0, eq);
      if (KNOWN_KEYS.has(key)) o.values.set(key, word.slice(eq + 1));
      else o.unknown.push(word);
      continue;
    }
    const flag = FLAGS[word];
    if (flag !== undefined) o[flag] = true;
    else o.unknown.push(word);
  }
  return o;
}

/** Keys whose values must be integers (checked at boot so a typo is reported before anything runs). */
export const INT_KEYS = ['hz', 'watchdog', 'quantum', 'ticks', 'lines', 'work', 'threads', 'iters', 'arg', 'ipcq', 'prio', 'msgs', 'procs'];

/** Moves malformed integer values to `unknown` (they then take their defaults). */
export function validateInts(o: KernelOptions): void {
  for (const key of INT_KEYS) {
    const v = o.values.get(key);
    if (v !== undefined && !/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(v)) {
      o.values.delete(key);
      o.unknown.push(`${key}=${v}`);
    }
  }
}

/** Integer option with a default and bounds; out-of-range or malformed values give the default and are reported. */
export function intOption(o: KernelOptions, key: string, dflt: number, lo: number, hi: number): number {
  const s = o.values.get(key);
  if (s === undefined) return dflt;
  const v = Number(s);
  if (!Number.isInteger(v) || v < lo || v > hi) {
    o.unknown.push(`${key}=${s}`);
    return dflt;
  }
  return v;
}

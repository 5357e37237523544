// Time units. Simulated time is an integer count of CPU cycles; it becomes
// nanoseconds or microseconds only at the edges (reports, traces, summaries),
// through the machine's frequency.

/** Default core clock: 1 GHz, so one cycle is one nanosecond (an assumption chosen for readable figures; configurable). */
export const DEFAULT_CPU_HZ = 1_000_000_000;

/** Converts cycles to nanoseconds at `cpuHz` (edge use only: a float). */
export function cyclesToNs(cycles: number, cpuHz: number): number {
  return (cycles * 1e9) / cpuHz;
}

/** Converts cycles to microseconds at `cpuHz` (edge use only: a float). */
export function cyclesToUs(cycles: number, cpuHz: number): number {
  return (cycles * 1e6) / cpuHz;
}

/** Exact integer floor(count * num / den) for counts that may overflow 2^53 when multiplied. */
export function mulDivFloor(count: number, num: number, den: number): number {
  const p = count * num;
  if (Number.isSafeInteger(p)) return Math.floor(p / den);
  return Number((BigInt(count) * BigInt(num)) / BigInt(den));
}

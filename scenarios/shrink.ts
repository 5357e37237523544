// Schedule shrinking for failures found by any strategy: a greedy
// delta-debugging pass (Zeller's ddmin, simplified) over the recorded
// non-zero decisions. Removing a decision makes it nominal (0); a candidate
// is kept when the run still fails with the same kind. Replays during
// shrinking answer by ordinal without site checks (timing may move sites);
// the result is the shrunk run's own recording, which replays exactly.
import { ReplaySource, type Decision } from '../sim/decisions.ts';
import type { Scenario } from './scenario.ts';
import { runScenario, type RunOptions, type ScenarioResult } from './runner.ts';
import { failureKind } from './fuzz.ts';

export interface ShrinkResult {
  /** The minimal run's recorded decisions (exact replay list). */
  decisions: Decision[];
  result: ScenarioResult;
  /** Runs spent shrinking. */
  runs: number;
}

/** Shrinks `decisions` (a failing run's recording) keeping failure kind `kind`; at most `budget` runs. */
export function shrinkSchedule(sc: Scenario, base: RunOptions, decisions: readonly Decision[], kind: string, budget = 200): ShrinkResult {
  let runs = 0;
  const tryList = (list: readonly Decision[]): ScenarioResult | null => {
    runs++;
    const r = runScenario(sc, { ...base, strategy: undefined, source: new ReplaySource(list, false) });
    return r.verdict === 'fail' && failureKind(r) === kind ? r : null;
  };
  let cur = [...decisions];
  let best = tryList(cur);
  if (best === null) return { decisions: [...decisions], result: runScenario(sc, { ...base, strategy: 'replay', decisions }), runs };
  // First: does the nominal run already fail?
  const none = tryList([]);
  if (none !== null) return { decisions: [...none.run.decisions], result: none, runs };
  let chunk = Math.max(1, Math.floor(cur.length / 2));
  while (chunk >= 1 && runs < budget) {
    let removed = false;
    for (let i = 0; i < cur.length && runs < budget; ) {
      const cand = [...cur.slice(0, i), ...cur.slice(i + chunk)];
      const r = tryList(cand);
      if (r !== null) {
        cur = cand;
        best = r;
        removed = true;
      } else i += chunk;
    }
    if (!removed) chunk = Math.floor(chunk / 2);
  }
  // Lower the remaining values toward 1.
  for (let i = 0; i < cur.length && runs < budget; i++) {
    if (cur[i].value <= 1) continue;
    const cand = cur.map((d, j) => (j === i ? { ...d, value: 1 } : d));
    const r = tryList(cand);
    if (r !== null) {
      cur = cand;
      best = r;
    }
  }
  return { decisions: [...best.run.decisions], result: best, runs };
}

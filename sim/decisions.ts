// Every chance is a decision (DESIGN.md): whatever a real machine leaves to
// chance is asked of one source, decide(site, n) -> 0..n-1, where 0 always
// means nominal. The Decider numbers every decision it is asked, records the
// non-zero ones (the schedule), and can replay a recorded list bit for bit.
import { AleaStream } from './prng.ts';

/** One decision site: a place where the machine asks for a choice. */
export interface SiteInfo {
  readonly id: number;
  readonly name: string;
  /** Stream family for the random source: sites of one family share a stream. */
  readonly family: string;
  /** Probability that the random source answers non-zero (nominal is 0). */
  readonly randomRate: number;
}

const sites: SiteInfo[] = [];

/** Registers a decision site; ids are dense and stable in registration order. */
function site(name: string, family: string, randomRate: number): number {
  const id = sites.length;
  sites.push({ id, name, family, randomRate });
  return id;
}

/** The machine's decision sites. Append only: ids appear in replay tokens. */
export const Site = {
  /** Extra cycles on a memory, port or atomic op (cache, TLB and bus effects). */
  Jitter: site('jitter', 'cpu', 1 / 48),
  /** How long a deliverable interrupt waits before it lands (instruction boundaries). */
  IrqDelay: site('irq-delay', 'irq', 1 / 3),
  /** Which of the CPUs that are ready within the pick window runs next (0 = earliest). */
  Pick: site('pick', 'sched', 1 / 24),
  /** Device service latency choice (0 = the device's nominal latency). */
  DeviceLatency: site('device-latency', 'device', 1 / 8),
  /** Injected fault choice at a fault site (0 = no fault). */
  Fault: site('fault', 'fault', 0),
  /** virtio-blk: fail this request with VIRTIO_BLK_S_IOERR (0 = no); asked only when the disk's fault plan has ioError. */
  BlkIoError: site('blk-io-error', 'fault', 1 / 16),
  /** virtio-blk: add a latency spike to this request (0 = no); asked only when the fault plan has latencySpike. */
  BlkLatencySpike: site('blk-latency-spike', 'fault', 1 / 32),
  /** virtio-blk: the device fails and needs a reset (0 = no); asked only when the fault plan has reset. */
  BlkReset: site('blk-reset', 'fault', 1 / 64),
  /** virtio-blk: bytes of the torn last sector at a planned power loss (0 = nominal: half the sector). */
  BlkTornWrite: site('blk-torn-write', 'fault', 1 / 2),
} as const;

export function siteInfo(id: number): SiteInfo | undefined {
  return sites[id];
}

export function siteByName(name: string): SiteInfo | undefined {
  return sites.find((s) => s.name === name);
}

export function allSites(): readonly SiteInfo[] {
  return sites;
}

/** Context for a pick decision: the candidates' thread ids (for priority-based sources such as PCT). Valid during choose() only: the machine refills one object. */
export interface PickContext {
  readonly candidates: readonly number[];
}

/** A source of answers. `index` is the decision's ordinal in the run. */
export interface DecisionSource {
  readonly kind: string;
  choose(index: number, site: number, n: number, ctx?: PickContext): number;
  /** Called by the machine when a thread switch or op boundary matters to the source (PCT counts steps). */
  onStep?(): void;
  /** True for a source that never reads the pick context: the machine then does not fill it (a pick is asked before nearly every SMP op). */
  readonly ignoresPickContext?: boolean;
}

/** Always nominal: the undisturbed run. */
export class NominalSource implements DecisionSource {
  readonly kind = 'nominal';
  readonly ignoresPickContext = true;
  choose(): number {
    return 0;
  }
}

/** Random answers from a seed: one seedrandom stream per site family. */
export class RandomSource implements DecisionSource {
  readonly kind = 'random';
  readonly ignoresPickContext = true;
  /** Per site: its family's stream, forked on first use (a run asks few families; forking hashes the seed). */
  private readonly streams: (AleaStream | null)[] = [];
  private readonly byFamily = new Map<string, AleaStream>();
  private readonly rates: number[] = [];

  constructor(
    private readonly seed: number | string,
    rateScale = 1,
  ) {
    for (const s of sites) {
      this.streams[s.id] = null;
      this.rates[s.id] = Math.min(1, s.randomRate * rateScale);
    }
  }

  private fork(site: number): AleaStream {
    const family = sites[site].family;
    let st = this.byFamily.get(family);
    if (st === undefined) {
      st = new AleaStream(this.seed, `decisions/${family}`);
      this.byFamily.set(family, st);
    }
    this.streams[site] = st;
    return st;
  }

  choose(_index: number, site: number, n: number): number {
    const st = this.streams[site] ?? this.fork(site);
    if (st.next() >= this.rates[site]) return 0;
    return 1 + Math.floor(st.next() * (n - 1));
  }
}

/** One recorded non-zero decision. */
export interface Decision {
  /** Ordinal of the decision in the run (every decide() call with n > 1 counts). */
  readonly at: number;
  readonly site: number;
  readonly value: number;
}

/** Replays a recorded list: listed decisions get their value, all others are nominal. */
export class ReplaySource implements DecisionSource {
  readonly kind = 'replay';
  readonly ignoresPickContext = true;
  private readonly byIndex = new Map<number, Decision>();
  /** First decision whose site did not match the recording (the run diverged), or null. */
  divergence: { at: number; expectedSite: number; actualSite: number } | null = null;
  /** Whether recorded sites are checked (tokens carry sites; generated lists may not). */
  private readonly checkSites: boolean;

  constructor(list: readonly Decision[], checkSites = true) {
    for (const d of list) this.byIndex.set(d.at, d);
    this.checkSites = checkSites;
  }

  choose(index: number, site: number, n: number): number {
    const d = this.byIndex.get(index);
    if (d === undefined) return 0;
    if (this.checkSites && d.site !== site && d.site >= 0) {
      if (this.divergence === null) this.divergence = { at: index, expectedSite: d.site, actualSite: site };
      return 0;
    }
    return d.value % n;
  }
}

/** Numbers decisions, asks the source, and records every non-zero answer. */
export class Decider {
  /** Decisions asked so far (with n > 1). */
  count = 0;
  readonly recorded: Decision[] = [];
  /** Per-site count of decisions asked (for reports). */
  readonly perSite: number[] = [];

  constructor(readonly source: DecisionSource) {
    for (const s of sites) this.perSite[s.id] = 0;
  }

  /** Asks for a choice in 0..n-1 at `site`; 0 is nominal. */
  decide(site: number, n: number, ctx?: PickContext): number {
    if (n <= 1) return 0;
    const at = this.count++;
    this.perSite[site]++;
    const v = this.source.choose(at, site, n, ctx);
    if (v !== 0) {
      if (!(v > 0 && v < n && Number.isInteger(v))) throw new Error(`decision source ${this.source.kind} answered ${v} for ${sites[site]?.name} with n=${n}`);
      this.recorded.push({ at, site, value: v });
    }
    return v;
  }
}

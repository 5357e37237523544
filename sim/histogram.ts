// Cycle histograms for run metrics: log-linear buckets (exact below 32,
// then 16 buckets per power of two, so a bucket is at most 1/16 = 6.25% of
// its value wide), as HdrHistogram does with fewer significant bits. Fixed
// size, allocated on first use; add() never allocates. Exact count, sum,
// min and max are kept beside the buckets; quantiles are bucket midpoints
// clamped to [min, max].

const SUB_BITS = 4;
const SUB = 1 << SUB_BITS; // 16 buckets per octave
const LINEAR = 2 * SUB; // values below 32 have their own bucket
const FIRST_EXP = SUB_BITS + 1; // 2^5 = 32 starts the log part
/** Buckets: 32 exact + 16 per octave for 2^5 .. 2^53. */
export const HISTOGRAM_BUCKETS = LINEAR + (53 - FIRST_EXP) * SUB;

/** Bucket index of a non-negative integer value. */
export function bucketOf(v: number): number {
  if (v < LINEAR) return v < 0 ? 0 : Math.floor(v);
  const x = Math.floor(v);
  const e = x < 4294967296 ? 31 - Math.clz32(x) : Math.floor(Math.log2(x));
  const sub = Math.floor(x / 2 ** (e - SUB_BITS)) - SUB;
  return Math.min(HISTOGRAM_BUCKETS - 1, LINEAR + (e - FIRST_EXP) * SUB + sub);
}

/** Inclusive lower bound of bucket `i`. */
export function bucketLow(i: number): number {
  if (i < LINEAR) return i;
  const e = FIRST_EXP + Math.floor((i - LINEAR) / SUB);
  const sub = (i - LINEAR) % SUB;
  return (SUB + sub) * 2 ** (e - SUB_BITS);
}

/** Exclusive upper bound of bucket `i`. */
export function bucketHigh(i: number): number {
  return i + 1 < HISTOGRAM_BUCKETS ? bucketLow(i + 1) : Number.MAX_SAFE_INTEGER;
}

/** A histogram's figures, in cycles (JSON summaries). */
export interface HistogramSummary {
  count: number;
  min: number;
  max: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
}

export class Histogram {
  private counts: Float64Array | null = null;
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;

  /** Records one value (cycles; negative values count as 0). */
  add(v: number): void {
    const x = v < 0 ? 0 : v;
    if (this.counts === null) this.counts = new Float64Array(HISTOGRAM_BUCKETS);
    this.counts[bucketOf(x)]++;
    this.count++;
    this.sum += x;
    if (x < this.min) this.min = x;
    if (x > this.max) this.max = x;
  }

  /** Adds every value of `h` to this histogram. */
  merge(h: Histogram): void {
    if (h.counts === null) return;
    if (this.counts === null) this.counts = new Float64Array(HISTOGRAM_BUCKETS);
    for (let i = 0; i < HISTOGRAM_BUCKETS; i++) this.counts[i] += h.counts[i];
    this.count += h.count;
    this.sum += h.sum;
    if (h.min < this.min) this.min = h.min;
    if (h.max > this.max) this.max = h.max;
  }

  /** The q-quantile (0..1): the midpoint of the bucket that holds it, within [min, max]; NaN when empty. */
  quantile(q: number): number {
    if (this.counts === null || this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) {
        const mid = i < LINEAR ? i : Math.floor((bucketLow(i) + bucketHigh(i) - 1) / 2);
        return Math.min(this.max, Math.max(this.min, mid));
      }
    }
    return this.max;
  }

  get mean(): number {
    return this.count === 0 ? NaN : this.sum / this.count;
  }

  /** Non-empty buckets as [low, high (exclusive), count], ascending (for CDFs). */
  buckets(): [number, number, number][] {
    const out: [number, number, number][] = [];
    if (this.counts === null) return out;
    for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
      const n = this.counts[i];
      if (n > 0) out.push([bucketLow(i), Math.max(bucketLow(i) + 1, Math.min(bucketHigh(i), this.max + 1)), n]);
    }
    return out;
  }

  summary(): HistogramSummary {
    if (this.count === 0) return { count: 0, min: 0, max: 0, mean: 0, p50: 0, p90: 0, p99: 0 };
    return {
      count: this.count,
      min: this.min,
      max: this.max,
      mean: Math.round(this.mean * 10) / 10,
      p50: this.quantile(0.5),
      p90: this.quantile(0.9),
      p99: this.quantile(0.99),
    };
  }
}

/** Latency summaries: exact percentiles from samples, or from a 1 ms histogram for millions. */

export interface Summary {
  samples: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function summarize(values: Float64Array | number[]): Summary {
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    samples: sorted.length,
    p50: round(percentile(sorted, 50)),
    p95: round(percentile(sorted, 95)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.length ? sorted[sorted.length - 1]! : NaN),
    mean: round(sorted.length ? sum / sorted.length : NaN),
  };
}

/** Whole-millisecond histogram: constant memory per sample, for a million deliveries. */
export class MsHistogram {
  private counts: Uint32Array;
  private n = 0;
  private sum = 0;
  private top = 0;

  /** `size`: ms covered before the first growth (small for the receiver's many per-bucket ones). */
  constructor(size = 1024) {
    this.counts = new Uint32Array(size);
  }

  add(ms: number): void {
    const v = Math.max(0, Math.round(ms));
    if (v >= this.counts.length) {
      let size = this.counts.length;
      while (size <= v) size *= 2;
      const grown = new Uint32Array(size);
      grown.set(this.counts);
      this.counts = grown;
    }
    this.counts[v]!++;
    this.n++;
    this.sum += v;
    if (v > this.top) this.top = v;
  }

  private at(p: number): number {
    if (this.n === 0) return NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.n));
    let seen = 0;
    for (let v = 0; v < this.counts.length; v++) {
      seen += this.counts[v]!;
      if (seen >= rank) return v;
    }
    return this.top;
  }

  summary(): Summary {
    return { samples: this.n, p50: this.at(50), p95: this.at(95), p99: this.at(99), max: this.n ? this.top : NaN, mean: round(this.n ? this.sum / this.n : NaN) };
  }
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

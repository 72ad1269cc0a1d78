// Summaries of repeated measurements and the straight-line fits behind the growth figures.

export interface Summary {
  readonly n: number;
  readonly median: number;
  readonly p99: number;
  readonly min: number;
  readonly max: number;
  readonly mean: number;
}

/** Nearest-rank percentile (p in 0..100) of already sorted values: a value that was measured. */
function nearestRank(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? Number.NaN;
}

export function percentile(values: readonly number[], p: number): number {
  return nearestRank(
    [...values].sort((a, b) => a - b),
    p,
  );
}

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const mean = n === 0 ? Number.NaN : sorted.reduce((s, v) => s + v, 0) / n;
  return {
    n,
    median: nearestRank(sorted, 50),
    p99: nearestRank(sorted, 99),
    min: sorted[0] ?? Number.NaN,
    max: sorted[n - 1] ?? Number.NaN,
    mean,
  };
}

export interface LinearFit {
  /** y = intercept + coefficients[i] * x[i] */
  readonly intercept: number;
  readonly coefficients: readonly number[];
  /** Share of the variance the fit explains (1 = a perfect line). */
  readonly r2: number;
}

/** Ordinary least squares with an intercept, solved by Gaussian elimination (few variables). */
export function linearFit(xs: readonly (readonly number[])[], ys: readonly number[]): LinearFit {
  const k = (xs[0]?.length ?? 0) + 1;
  const rows = xs.map((x) => [1, ...x]);
  // Normal equations: (XᵀX) b = Xᵀy
  const a: number[][] = Array.from({ length: k }, () => new Array<number>(k + 1).fill(0));
  rows.forEach((row, i) => {
    const y = ys[i] ?? 0;
    for (let r = 0; r < k; r += 1) {
      const ar = a[r] as number[];
      for (let c = 0; c < k; c += 1) ar[c] = (ar[c] ?? 0) + (row[r] ?? 0) * (row[c] ?? 0);
      ar[k] = (ar[k] ?? 0) + (row[r] ?? 0) * y;
    }
  });
  for (let col = 0; col < k; col += 1) {
    let pivot = col;
    for (let r = col + 1; r < k; r += 1) {
      if (Math.abs(a[r]?.[col] ?? 0) > Math.abs(a[pivot]?.[col] ?? 0)) pivot = r;
    }
    [a[col], a[pivot]] = [a[pivot] as number[], a[col] as number[]];
    const pr = a[col] as number[];
    const pv = pr[col] ?? 0;
    if (pv === 0) continue;
    for (let r = 0; r < k; r += 1) {
      if (r === col) continue;
      const rr = a[r] as number[];
      const factor = (rr[col] ?? 0) / pv;
      for (let c = col; c <= k; c += 1) rr[c] = (rr[c] ?? 0) - factor * (pr[c] ?? 0);
    }
  }
  const b = a.map((row, i) => (row[k] ?? 0) / (row[i] || 1));
  const mean = ys.reduce((s, v) => s + v, 0) / Math.max(1, ys.length);
  let ssRes = 0;
  let ssTot = 0;
  rows.forEach((row, i) => {
    const predicted = row.reduce((s, v, j) => s + v * (b[j] ?? 0), 0);
    const y = ys[i] ?? 0;
    ssRes += (y - predicted) ** 2;
    ssTot += (y - mean) ** 2;
  });
  return {
    intercept: b[0] ?? 0,
    coefficients: b.slice(1),
    r2: ssTot === 0 ? 1 : 1 - ssRes / ssTot,
  };
}

/** A number for a table: fixed decimals that keep about three significant digits. */
export function fmt(value: number, decimals?: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  const d =
    decimals ??
    (Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : Math.abs(value) >= 1 ? 2 : 3);
  return value.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

/** `median (p99 x, min–max a–b)` */
export function spread(s: Summary, unit = 'ms'): string {
  return `${fmt(s.median)} ${unit} (p99 ${fmt(s.p99)}, min–max ${fmt(s.min)}–${fmt(s.max)}, n=${s.n})`;
}

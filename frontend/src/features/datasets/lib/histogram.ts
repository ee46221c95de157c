/**
 * Turns a power-of-two length histogram (`[lo, hi)` buckets) into bars scaled to the largest
 * count, with readable labels. Not responsible for drawing.
 */
import type { HistogramBucket } from "../types";

export type HistogramBar = { label: string; count: number; fraction: number };

export function bucketLabel({ lo, hi }: HistogramBucket): string {
  if (hi - lo <= 1) return String(lo);
  return `${lo}–${hi - 1}`;
}

export function histogramBars(buckets: readonly HistogramBucket[]): HistogramBar[] {
  const largest = Math.max(1, ...buckets.map((b) => b.count));
  return buckets.map((b) => ({ label: bucketLabel(b), count: b.count, fraction: b.count / largest }));
}

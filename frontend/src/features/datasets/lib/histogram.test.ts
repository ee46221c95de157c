import { describe, expect, it } from "vitest";
import { bucketLabel, histogramBars } from "./histogram";

describe("histogramBars", () => {
  it("scales bars to the largest bucket and labels ranges inclusively", () => {
    const bars = histogramBars([
      { lo: 0, hi: 1, count: 2 },
      { lo: 1, hi: 2, count: 0 },
      { lo: 2, hi: 4, count: 8 },
      { lo: 64, hi: 128, count: 4 },
    ]);
    expect(bars.map((b) => b.label)).toEqual(["0", "1", "2–3", "64–127"]);
    expect(bars.map((b) => b.fraction)).toEqual([0.25, 0, 1, 0.5]);
  });

  it("handles an empty histogram", () => {
    expect(histogramBars([])).toEqual([]);
    expect(bucketLabel({ lo: 8, hi: 16, count: 1 })).toBe("8–15");
  });
});

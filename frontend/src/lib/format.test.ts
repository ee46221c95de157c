import {
  formatBytes,
  formatCount,
  formatDoneOfTotal,
  formatEta,
  formatFraction,
  formatPrecision,
  formatRate,
  formatTimestamp,
} from "@/lib/format";
import byteCases from "./format-bytes-cases.json";

describe("formatEta", () => {
  it.each([
    [null, "—"],
    [Number.NaN, "—"],
    [-3, "—"],
    [0.4, "<1 s"],
    [42, "42 s"],
    [59.6, "1 m 00 s"],
    [185, "3 m 05 s"],
    [7_620, "2 h 07 m"],
    [273_600, "3 d 04 h"],
  ])("test_formats_eta_%s_seconds", (seconds, expected) => {
    expect(formatEta(seconds)).toBe(expected);
  });
});

describe("formatBytes", () => {
  it("test_formats_bytes_in_decimal_units_as_the_server_and_cli_do", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1500)).toBe("1.50 kB");
    expect(formatBytes(25e9)).toBe("25.0 GB");
    expect(formatBytes(855_534_080)).toBe("856 MB");  // a job message's "0.856 GB written"
    expect(formatBytes(null)).toBe("—");
  });

  it("test_formats_bytes_carrying_a_rounded_figure_to_the_next_digit_or_unit", () => {
    expect(formatBytes(999_999)).toBe("1.00 MB");  // was "1000 kB"
    expect(formatBytes(99_999)).toBe("100 kB");  // was "100.0 kB"
  });

  it("test_formats_bytes_as_the_server_does_for_the_shared_cases", () => {
    // core/units.format_bytes is tested on the same file (tests/core/test_units.py)
    for (const [bytes, text] of byteCases.cases as [number, string][]) {
      expect(formatBytes(bytes)).toBe(text);
    }
  });
});

describe("formatDoneOfTotal", () => {
  it("test_formats_counts_with_unit", () => {
    expect(formatDoneOfTotal(12, 40, "passes")).toBe("12 / 40 passes");
    expect(formatDoneOfTotal(1234, 5000, null)).toBe("1,234 / 5,000");
  });

  it("test_formats_byte_counts_as_sizes", () => {
    expect(formatDoneOfTotal(1e6, 3e6, "bytes")).toBe("1.00 MB / 3.00 MB");
  });

  it("test_formats_unknown_total_as_done_only", () => {
    expect(formatDoneOfTotal(7, null, "tokens")).toBe("7 tokens");
    expect(formatDoneOfTotal(null, null, "tokens")).toBe("");
    expect(formatDoneOfTotal(null, 16384, "tokens")).toBe("16,384 tokens in all");  // not "? / ..."
  });
});

describe("formatRate and formatFraction", () => {
  it("test_formats_rates_per_unit", () => {
    expect(formatRate(3.456, "passes")).toBe("3.46 passes/s");
    expect(formatRate(2048, "B")).toBe("2.05 kB/s");
    expect(formatRate(null, "passes")).toBe("—");
  });

  it("test_formats_fraction_as_percent", () => {
    expect(formatFraction(0.4213)).toBe("42.1 %");
  });
});

describe("formatTimestamp", () => {
  it("test_shows_time_only_for_today", () => {
    const now = new Date(2026, 0, 2, 18, 0, 0);
    expect(formatTimestamp(new Date(2026, 0, 2, 9, 5, 7).toISOString(), now)).toBe("09:05:07");
    expect(formatTimestamp(new Date(2025, 11, 31, 9, 5, 7).toISOString(), now)).toBe(
      "2025-12-31 09:05",
    );
    expect(formatTimestamp(null, now)).toBe("—");
  });
});

describe("formatCount", () => {
  it.each([
    [1, "batch", "batches", "1 batch"],
    [8, "batch", "batches", "8 batches"],
    [0, "shard", undefined, "0 shards"],
    [12_345, "sequence", undefined, "12,345 sequences"],
  ])("%s %s", (value, one, many, expected) => {
    expect(formatCount(value, one, many)).toBe(expected);
  });
});

describe("formatPrecision", () => {
  it("says what was asked only where it differs", () => {
    expect(formatPrecision("fp32", "fp32")).toBe("fp32");
    expect(formatPrecision("fp32", "fp16")).toBe("fp32 (asked fp16)");
    expect(formatPrecision("bf16", null)).toBe("bf16");
  });
});

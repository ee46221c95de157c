import { DEFAULT_BACKOFF, reconnectDelayMs } from "@/lib/backoff";

const options = { initialMs: 500, maxMs: 30_000, factor: 2, jitter: 0.3 };

describe("reconnectDelayMs", () => {
  it("test_doubles_per_attempt_without_jitter_draw", () => {
    const noJitter = () => 0;
    const schedule = [0, 1, 2, 3, 4, 5, 6, 7].map((a) => reconnectDelayMs(a, options, noJitter));
    expect(schedule).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  });

  it("test_caps_at_max_for_large_attempts", () => {
    expect(reconnectDelayMs(1000, options, () => 0)).toBe(30_000);
  });

  it("test_jitter_stays_within_bounds", () => {
    // random() -> 1 (just under) gives the smallest delay: base * (1 - jitter).
    expect(reconnectDelayMs(3, options, () => 0.999_999)).toBe(2800);
    for (let i = 0; i < 200; i += 1) {
      const delay = reconnectDelayMs(3, options);
      expect(delay).toBeGreaterThanOrEqual(2800);
      expect(delay).toBeLessThanOrEqual(4000);
    }
  });

  it("test_jitter_spreads_delays", () => {
    const delays = new Set(Array.from({ length: 50 }, () => reconnectDelayMs(4, options)));
    expect(delays.size).toBeGreaterThan(10);
  });

  it("test_default_schedule_reconnects_within_3_s_after_a_restart", () => {
    // the default grew to 30 s (~14 s waits by the 5th try): pages stayed stale after a restart
    const longest = () => 0;  // no jitter drawn: the longest delay of each attempt
    const schedule = [0, 1, 2, 3, 4, 5, 10, 100].map((a) => reconnectDelayMs(a, DEFAULT_BACKOFF, longest));
    expect(schedule).toEqual([500, 1000, 2000, 3000, 3000, 3000, 3000, 3000]);
    const shortest = () => 0.999_999;  // jitter still spreads the tabs below the cap
    expect(reconnectDelayMs(10, DEFAULT_BACKOFF, shortest)).toBe(2100);
  });

  it("test_negative_attempt_is_treated_as_first", () => {
    expect(reconnectDelayMs(-2, DEFAULT_BACKOFF, () => 0)).toBe(DEFAULT_BACKOFF.initialMs);
  });
});

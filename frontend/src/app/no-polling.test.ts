/**
 * Pitfall 3: no page polls beside the WebSocket. A scan of the app's own source (every page's
 * data hooks included), so a `refetchInterval` added to any query later fails here; the only
 * timers are the socket's ping, the connection indicator's clock and the ETA countdown's
 * second (`lib/eta-countdown.ts`: it redraws a job's ETA between events, fetching nothing).
 */
const sources = import.meta.glob<string>(["/src/**/*.ts", "/src/**/*.tsx", "!/src/**/*.test.*"], {
  query: "?raw",
  import: "default",
  eager: true,
});

describe("no polling", () => {
  it("test_no_query_in_the_app_has_a_refetch_interval_and_timers_are_only_the_known_three", () => {
    const files = Object.keys(sources);
    expect(files.length).toBeGreaterThan(50); // the scan really read the app
    expect(files.some((f) => f.includes("/features/models/"))).toBe(true);
    const polling = files.filter((f) => /refetchInterval/.test(sources[f] ?? ""));
    expect(polling).toEqual([]);
    const timers = files.filter((f) => /setInterval\(/.test(sources[f] ?? "")).sort();
    expect(timers).toEqual(["/src/components/connection-indicator.tsx", "/src/lib/eta-countdown.ts",
      "/src/lib/live-socket.ts"]);
  });
});

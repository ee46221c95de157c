/**
 * The System page names the host its metrics are from: `system.metrics` events carry `host`,
 * and with several API processes on several machines a reading without it is anyone's.
 */
import { act, screen } from "@testing-library/react";
import type { SystemStatus } from "@/api/types";
import { handleServerMessage } from "@/app/live-updates";
import { createTestQueryClient, renderWithProviders } from "@/test/render";
import { systemKeys } from "../api/get-system";
import { useMetricsHistoryStore } from "../stores/metrics-history-store";
import { SystemPage } from "./system-page";

function sample(host: string, second: number): SystemStatus {
  return {
    timestamp: `2026-01-01T12:00:${String(second).padStart(2, "0")}Z`,
    host,
    cpu: { percent: 12, count: 8 },
    memory: { total: 16, available: 8, used: 8, percent: 50 },
    disk: { path: "/data", total: 100, used: 40, free: 60, percent: 40 },
    gpus: [],
  };
}

describe("SystemPage", () => {
  it("test_system_page_names_the_host_of_its_metrics", async () => {
    useMetricsHistoryStore.getState().clear();
    const queryClient = createTestQueryClient();
    queryClient.setQueryData(systemKeys.current, sample("api-a.lab", 2));  // the first GET's
    renderWithProviders(<SystemPage />, { queryClient, path: "/system" });
    expect(screen.getByTestId("system-host")).toHaveTextContent("api-a.lab");

    await act(async () => {
      handleServerMessage(queryClient, { type: "system.metrics", host: "gpu-box-2",
        system: sample("gpu-box-2", 4) });
      await new Promise((resolve) => setTimeout(resolve, 0));
    });
    expect(screen.getByTestId("system-host")).toHaveTextContent("gpu-box-2");
  });
});

/**
 * `POST /selftest`: queues a self-test job (a short loop that exercises progress, cancel and
 * resume end to end). Not responsible for following its progress (WebSocket events do).
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import type { Job, SelftestCreate } from "@/api/types";
import { apiRequest } from "@/lib/api-client";
import { applyJobUpdate } from "../lib/job-cache";

export function createSelftest(body: SelftestCreate): Promise<Job> {
  return apiRequest<Job>("/selftest", { method: "POST", body });
}

export function useCreateSelftest() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: createSelftest,
    onSuccess: (job) => applyJobUpdate(queryClient, job),
  });
}

/**
 * The shared shape of `POST /jobs/{id}/cancel|resume|retry`: each returns the updated job, which
 * goes straight into the cache. Not responsible for deciding which transition a state allows
 * (see `lib/job-actions.ts`); the server answers 409 when the state does not allow it.
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import type { Job } from "@/api/types";
import { apiRequest } from "@/lib/api-client";
import { applyJobUpdate } from "../lib/job-cache";

export type JobTransition = "cancel" | "resume" | "retry";

export function postJobTransition(id: number, transition: JobTransition): Promise<Job> {
  return apiRequest<Job>(`/jobs/${id}/${transition}`, { method: "POST" });
}

export function useJobTransition(transition: JobTransition) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (id: number) => postJobTransition(id, transition),
    onSuccess: (job) => applyJobUpdate(queryClient, job),
  });
}

/**
 * `DELETE /jobs/{id}` (204), then drops the job from every cached list.
 * Not responsible for checking the job is finished (the server answers 409 otherwise).
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import { removeJobFromCache } from "../lib/job-cache";

export function deleteJob(id: number): Promise<void> {
  return apiRequest<void>(`/jobs/${id}`, { method: "DELETE" });
}

export function useDeleteJob() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: deleteJob,
    onSuccess: (_result, id) => removeJobFromCache(queryClient, id),
  });
}

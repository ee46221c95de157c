/**
 * The SAELens export (HF Arrow, written under the data dir): `POST /extractions/{id}/export-job`
 * queues it as an `extraction_export` job (the box follows it live; its `result` is the export's
 * answer), `POST /jobs/{id}/cancel` stops it between blocks (the previous export stays), and
 * `POST /extractions/{id}/export` is the same export inside one request.
 * Not responsible for following the job (`@/lib/live-job`) or for downloading the export.
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import type { Job } from "@/api/types";
import { apiRequest } from "@/lib/api-client";
import { FINISHED_JOB_STATES, liveJobKey } from "@/lib/live-job";
import type { ExportCreate, ExportResult } from "../types";

export function exportExtraction(id: number, body: ExportCreate): Promise<ExportResult> {
  return apiRequest<ExportResult>(`/extractions/${id}/export`, { method: "POST", body });
}

export function startExportJob(id: number, body: ExportCreate): Promise<Job> {
  return apiRequest<Job>(`/extractions/${id}/export-job`, { method: "POST", body });
}

export function useStartExport(id: number) {
  return useMutation({ mutationFn: (body: ExportCreate) => startExportJob(id, body) });
}

export function useCancelExport() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (jobId: number) => apiRequest<Job>(`/jobs/${jobId}/cancel`, { method: "POST" }),
    // the answer says "cancelling" at once; the worker's stop arrives as a pushed snapshot,
    // which may already be here: a finished job is not put back to running
    onSuccess: (job) => queryClient.setQueryData<Job>(liveJobKey(job.id),
      (cached) => (cached && FINISHED_JOB_STATES.has(cached.state) ? cached : job)),
  });
}

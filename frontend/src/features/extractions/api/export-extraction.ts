/**
 * `POST /extractions/{id}/export`: write the SAELens cached-activations layout (HF Arrow).
 * Not responsible for downloading it (it is written under the data dir).
 */
import { useMutation } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import type { ExportCreate, ExportResult } from "../types";

export function exportExtraction(id: number, body: ExportCreate): Promise<ExportResult> {
  return apiRequest<ExportResult>(`/extractions/${id}/export`, { method: "POST", body });
}

export function useExportExtraction(id: number) {
  return useMutation({ mutationFn: (body: ExportCreate) => exportExtraction(id, body) });
}

/**
 * `POST /extractions`: queue an extraction (the server runs the preflight again and refuses a
 * disk that is too small, or a copy of a configuration already underway). Not responsible for
 * following its progress.
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { ApiError, apiRequest } from "@/lib/api-client";
import type { Extraction, ExtractionCreate } from "../types";
import { extractionKeys } from "./extraction-keys";

export function createExtraction(body: ExtractionCreate): Promise<Extraction> {
  return apiRequest<Extraction>("/extractions", { method: "POST", body });
}

export function useCreateExtraction() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: createExtraction,
    onSuccess: () => queryClient.invalidateQueries({ queryKey: extractionKeys.lists() }),
  });
}

/** The extraction of the same configuration the server named when it refused a copy. */
export function underwayExtractionId(error: unknown): number | null {
  if (!(error instanceof ApiError) || error.code !== "extraction_already_underway") return null;
  const id = error.details.extraction_id;
  return typeof id === "number" ? id : null;
}

/**
 * `POST /extractions/preflight`: exact bytes, memory, free disk, projected time and bound,
 * measured on the real model before anything is written. Not responsible for starting the run.
 */
import { useMutation } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import type { ExtractionPreflight, ExtractionPreflightRequest } from "../types";

export function preflightExtraction(
  body: ExtractionPreflightRequest,
): Promise<ExtractionPreflight> {
  return apiRequest<ExtractionPreflight>("/extractions/preflight", { method: "POST", body });
}

export function usePreflightExtraction() {
  return useMutation({ mutationFn: preflightExtraction });
}

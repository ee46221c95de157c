/**
 * `POST /extractions`: queue an extraction (the server runs the preflight again and refuses a
 * disk that is too small). Not responsible for following its progress.
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
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

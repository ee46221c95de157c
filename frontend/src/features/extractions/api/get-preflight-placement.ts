/**
 * `GET /extractions/preflight?device=`: where the server measures a preflight of that device (in
 * the API process, or on a job worker the request first waits for, up to `wait_s`), so the form
 * can say what a long "Measuring…" is waiting on. Not responsible for the preflight itself
 * (`preflight-extraction.ts`).
 */
import { useQuery } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import type { PreflightPlacement } from "../types";
import { extractionKeys } from "./extraction-keys";

export function usePreflightPlacement(device: string) {
  return useQuery({
    queryKey: extractionKeys.preflightPlacement(device),
    queryFn: ({ signal }) =>
      apiRequest<PreflightPlacement>("/extractions/preflight", { query: { device }, signal }),
    staleTime: 60_000, // a server setting: it changes only with a restart
  });
}

/**
 * `POST /extractions/{id}/cancel|resume|retry` and `DELETE /extractions/{id}`: one mutation
 * hook per action. Not responsible for which action is allowed (the server answers 409).
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import type { Extraction } from "../types";
import { extractionKeys } from "./extraction-keys";

export type ExtractionAction = "cancel" | "resume" | "retry" | "delete";

export function postExtractionAction(action: ExtractionAction, id: number): Promise<unknown> {
  if (action === "delete") return apiRequest<void>(`/extractions/${id}`, { method: "DELETE" });
  return apiRequest<Extraction>(`/extractions/${id}/${action}`, { method: "POST" });
}

export function useExtractionAction(action: ExtractionAction) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (id: number) => postExtractionAction(action, id),
    onSuccess: (_data, id) => queryClient.invalidateQueries({
      queryKey: extractionKeys.all,
      // a deleted extraction's own queries are not asked again (they would only 404 while its
      // page moves away)
      predicate: (query) => action !== "delete" || !isOwnQuery(query.queryKey, id),
    }),
  });
}

/** `detail` / `stats` / `samples` of extraction `id`. */
function isOwnQuery(key: readonly unknown[], id: number): boolean {
  return ["detail", "stats", "samples"].includes(String(key[1])) && key[2] === id;
}

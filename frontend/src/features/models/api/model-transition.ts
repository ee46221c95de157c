/**
 * The shared shape of `POST /models/{id}/cancel|resume|retry`, used by the three operation
 * files. Not responsible for which action is allowed (the server answers 409 otherwise).
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { apiRequest, type QueryValue } from "@/lib/api-client";
import { upsertModel } from "../lib/model-cache";
import type { Model } from "../types";

export type ModelAction = "cancel" | "resume" | "retry";

export type ModelTransition = {
  id: number;
  query?: Record<string, QueryValue>;
  token?: string;
};

export function postModelTransition(
  action: ModelAction,
  { id, query, token }: ModelTransition,
): Promise<Model> {
  const body = action === "cancel" ? undefined : { token: token || null };
  return apiRequest<Model>(`/models/${id}/${action}`, { method: "POST", query, body });
}

export function useModelTransition(action: ModelAction) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (transition: ModelTransition) => postModelTransition(action, transition),
    onSuccess: (model) => upsertModel(queryClient, model),
  });
}

/**
 * `POST /models/preflight`: what a hub repo holds and costs before a weight byte moves. The token
 * goes in this request body only. Not responsible for starting the download.
 */
import { useMutation } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import type { ModelPreflight, ModelPreflightRequest } from "../types";

export function preflightModel(body: ModelPreflightRequest): Promise<ModelPreflight> {
  return apiRequest<ModelPreflight>("/models/preflight", { method: "POST", body });
}

export function usePreflightModel() {
  return useMutation({ mutationFn: preflightModel });
}

/**
 * `POST /datasets/upload`: sends files as multipart/form-data with XMLHttpRequest, because only
 * XHR reports upload progress (`xhr.upload.onprogress`); the server streams them to disk.
 * Not responsible for the import that follows (the dataset's job).
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { API_PREFIX, ApiError } from "@/lib/api-client";
import { useApiKeyStore } from "@/lib/api-key-store";
import type { Dataset } from "../types";
import { datasetKeys } from "./dataset-keys";

export type UploadRequest = {
  files: File[];
  name?: string;
  textColumn?: string;
  txtMode: "line" | "file";
  decode: "strict" | "replace";
  /** A longer line or record (a parquet value) is refused; the server's default when absent. */
  maxRecordBytes?: number;
};

/** Bytes of the chosen files sent so far, of their total (not of the multipart body, whose
 * boundaries and text fields the user never chose: "1.57 kB of 1.57 kB" for a 1.17 kB file). */
export type UploadProgress = { loaded: number; total: number };

export function buildUploadForm(request: UploadRequest): FormData {
  const form = new FormData();
  for (const file of request.files) form.append("files", file, file.name);
  if (request.name) form.append("name", request.name);
  if (request.textColumn) form.append("text_column", request.textColumn);
  form.append("txt_mode", request.txtMode);
  form.append("decode", request.decode);
  if (request.maxRecordBytes !== undefined) {
    form.append("max_record_bytes", String(request.maxRecordBytes));
  }
  return form;
}

function errorFrom(xhr: XMLHttpRequest): ApiError {
  try {
    const body = JSON.parse(xhr.responseText) as {
      error?: { code: string; message: string; details: Record<string, unknown> };
    };
    if (body.error) {
      return new ApiError(xhr.status, body.error.code, body.error.message, body.error.details);
    }
  } catch {
    // not JSON: fall through to a generic error
  }
  return new ApiError(xhr.status, `http_${xhr.status}`, `Upload failed with HTTP ${xhr.status}.`, {});
}

export function uploadDataset(
  request: UploadRequest,
  onProgress: (progress: UploadProgress) => void,
): Promise<Dataset> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `${API_PREFIX}/datasets/upload`);
    const apiKey = useApiKeyStore.getState().apiKey;
    if (apiKey) xhr.setRequestHeader("X-API-Key", apiKey);
    const filesTotal = request.files.reduce((sum, f) => sum + f.size, 0);
    xhr.upload.onprogress = (event) => {
      if (!event.lengthComputable || event.total <= 0) return;
      // the body's fraction sent, in the files' bytes
      const loaded = Math.round((filesTotal * Math.min(event.loaded, event.total)) / event.total);
      onProgress({ loaded, total: filesTotal });
    };
    xhr.onload = () => {
      if (xhr.status === 401) useApiKeyStore.getState().markKeyRequired();
      if (xhr.status >= 200 && xhr.status < 300) resolve(JSON.parse(xhr.responseText) as Dataset);
      else reject(errorFrom(xhr));
    };
    xhr.onerror = () =>
      reject(new ApiError(0, "network_error", "The upload could not reach the server.", {}));
    xhr.send(buildUploadForm(request));
  });
}

export function useUploadDataset(onProgress: (progress: UploadProgress) => void) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (request: UploadRequest) => uploadDataset(request, onProgress),
    onSuccess: (dataset) => {
      queryClient.setQueryData(datasetKeys.detail(dataset.id), dataset);
      void queryClient.invalidateQueries({ queryKey: datasetKeys.lists() });
    },
  });
}

/**
 * The extraction history's filters and page, kept in the URL (`?status=failed&model=3&q=demo&page=2`)
 * so a reload or a shared link shows the same view. Any filter change goes back to page 1.
 * Not responsible for fetching.
 */
import { useCallback, useMemo } from "react";
import { useSearchParams } from "react-router";

export const STATUS_FILTERS = ["", "running", "queued", "complete", "failed", "cancelled",
  "interrupted"] as const;
export const EXTRACTIONS_PAGE_SIZE = 50;

export type ExtractionFilters = {
  status: string;
  model: number | null;
  q: string;
  limit: number;
  offset: number;
};

export function useExtractionFilters(pageSize = EXTRACTIONS_PAGE_SIZE) {
  const [params, setParams] = useSearchParams();
  const asked = params.get("status") ?? "";
  const status = (STATUS_FILTERS as readonly string[]).includes(asked) ? asked : "";
  const modelParam = Number(params.get("model"));
  const model = Number.isInteger(modelParam) && modelParam > 0 ? modelParam : null;
  const q = params.get("q") ?? "";
  const page = Math.max(1, Number.parseInt(params.get("page") ?? "1", 10) || 1);
  const filters = useMemo<ExtractionFilters>(
    () => ({ status, model, q, limit: pageSize, offset: (page - 1) * pageSize }),
    [status, model, q, page, pageSize],
  );
  const update = useCallback(
    (change: (next: URLSearchParams) => void) =>
      setParams((current) => {
        const next = new URLSearchParams(current);
        change(next);
        return next;
      }, { replace: true }),
    [setParams],
  );
  const set = (key: string, value: string) => update((next) => {
    if (value) next.set(key, value);
    else next.delete(key);
    next.delete("page");
  });
  return {
    filters,
    filtered: status !== "" || model !== null || q !== "",
    setStatus: (value: string) => set("status", value),
    setModel: (value: number | null) => set("model", value === null ? "" : String(value)),
    setQuery: (value: string) => set("q", value),
    setPage: (next: number) => update((params) => {
      if (next > 1) params.set("page", String(next));
      else params.delete("page");
    }),
    clear: () => update((next) => {
      for (const key of ["status", "model", "q", "page"]) next.delete(key);
    }),
  };
}

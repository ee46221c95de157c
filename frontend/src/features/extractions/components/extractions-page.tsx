/**
 * The Extractions page: the configuration form (with preflight) and the history with live
 * progress, filtered by status, model and text (name or config hash), a page at a time; the
 * filters live in the URL. Not responsible for live events (the WebSocket feeds the jobs cache
 * that each row reads).
 */
import { Button } from "@/components/ui/button";
import { ErrorMessage } from "@/components/ui/error-message";
import { Pagination } from "@/components/ui/pagination";
import { useModelOptions } from "../api/get-picker-options";
import { useExtractions } from "../api/get-extractions";
import { STATUS_FILTERS, useExtractionFilters } from "../lib/use-extraction-filters";
import { DemoButton } from "./demo-button";
import { ExtractionRow } from "./extraction-row";
import { ActivationExtractionConfig } from "./extraction-config";
import "./extractions.css";

export function ExtractionsPage() {
  const view = useExtractionFilters();
  const { filters } = view;
  const extractions = useExtractions(filters);
  const models = useModelOptions().data?.items ?? [];
  const total = extractions.data?.total ?? 0;
  const onlyStatus = filters.status !== "" && filters.model === null && filters.q === "";
  return (
    <section className="page">
      <header className="page__header">
        <h1>Extractions</h1>
      </header>
      <DemoButton />
      <ActivationExtractionConfig />
      <h2 className="extraction-history__title">History</h2>
      <div className="extraction-filters" role="search" aria-label="Extraction history filters">
        <select aria-label="Filter by status" value={filters.status}
          onChange={(e) => view.setStatus(e.target.value)}>
          {STATUS_FILTERS.map((f) => <option key={f} value={f}>{f || "all statuses"}</option>)}
        </select>
        {/* every model, not only ready ones: an extraction outlives its model's status */}
        <select aria-label="Filter by model" value={filters.model ?? ""}
          onChange={(e) => view.setModel(e.target.value ? Number(e.target.value) : null)}>
          <option value="">all models</option>
          {models.map((m) => <option key={m.id} value={m.id}>{m.name} · #{m.id}</option>)}
        </select>
        <input type="search" aria-label="Search extractions" placeholder="name or config hash"
          value={filters.q} onChange={(e) => view.setQuery(e.target.value)} />
        {view.filtered && (
          <Button size="sm" variant="ghost" onClick={view.clear}>Clear filters</Button>
        )}
      </div>
      {extractions.error && (
        <ErrorMessage error={extractions.error} title="Could not load extractions:" />
      )}
      {extractions.data && extractions.data.items.length === 0 && (view.filtered ? (
        <p className="muted">
          {onlyStatus ? `No ${filters.status} extraction.` : "No extraction matches these filters."}{" "}
          <Button size="sm" variant="ghost" onClick={view.clear}>
            {onlyStatus ? "Show all statuses" : "Clear filters"}
          </Button>
        </p>
      ) : (
        <p className="muted">
          No extractions yet. Run the demo, pick a ready model and a tokenization above, or run
          <code> interpstudio demo</code> in a terminal.
        </p>
      ))}
      <div className="extraction-list">
        {extractions.data?.items.map((extraction) => (
          <ExtractionRow key={extraction.id} extraction={extraction} />
        ))}
      </div>
      {/* it listed the newest 200 and said nothing of the rest */}
      {total > filters.limit && (
        <Pagination offset={filters.offset} limit={filters.limit} total={total}
          onPageChange={view.setPage} />
      )}
    </section>
  );
}

/**
 * The Extractions page: the configuration form (with preflight) and the history with live
 * progress, filtered by status. Not responsible for live events (the WebSocket feeds the jobs
 * cache that each row reads).
 */
import { useSearchParams } from "react-router";
import { Button } from "@/components/ui/button";
import { ErrorMessage } from "@/components/ui/error-message";
import { useExtractions } from "../api/get-extractions";
import { DemoButton } from "./demo-button";
import { ExtractionRow } from "./extraction-row";
import { ActivationExtractionConfig } from "./extraction-config";
import "./extractions.css";

const FILTERS = ["", "running", "queued", "complete", "failed", "cancelled", "interrupted"];

export function ExtractionsPage() {
  // the filter lives in the URL (?status=failed), so a reload or a shared link keeps it
  const [params, setParams] = useSearchParams();
  const asked = params.get("status") ?? "";
  const status = FILTERS.includes(asked) ? asked : "";
  const setStatus = (value: string) => setParams(value ? { status: value } : {}, { replace: true });
  const extractions = useExtractions(status);
  return (
    <section className="page">
      <header className="page__header">
        <h1>Extractions</h1>
        <select aria-label="Filter by status" value={status}
          onChange={(e) => setStatus(e.target.value)}>
          {FILTERS.map((f) => <option key={f} value={f}>{f || "all statuses"}</option>)}
        </select>
      </header>
      <DemoButton />
      <ActivationExtractionConfig />
      {extractions.error && (
        <ErrorMessage error={extractions.error} title="Could not load extractions:" />
      )}
      {extractions.data && extractions.data.items.length === 0 && (status ? (
        <p className="muted">
          No {status} extraction.{" "}
          <Button size="sm" variant="ghost" onClick={() => setStatus("")}>Show all statuses</Button>
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
    </section>
  );
}

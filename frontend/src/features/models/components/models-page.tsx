/**
 * ModelsPanel (the Models page): the download and import forms, then one card per model with its
 * live status. Not responsible for receiving live events (the app wires the WebSocket into the
 * query cache, see `lib/model-cache.ts`).
 */
import { useState } from "react";
import { Button } from "@/components/ui/button";
import { ErrorMessage } from "@/components/ui/error-message";
import { useModels } from "../api/get-models";
import { DownloadForm } from "./download-form";
import { ImportForm } from "./import-form";
import { ModelCard } from "./model-card";
import "./models.css";

export function ModelsPage() {
  const [search, setSearch] = useState("");
  const models = useModels(search.trim());
  return (
    <section className="page">
      <header className="page__header">
        <h1>Models</h1>
        <input
          aria-label="Search models"
          placeholder="search"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
        />
      </header>
      <div className="models-forms">
        <DownloadForm />
        <ImportForm />
      </div>
      {models.error && <ErrorMessage error={models.error} title="Could not load models:" />}
      {models.isPending && <p className="muted">Loading models…</p>}
      {models.data && models.data.items.length === 0 && (search.trim() ? (
        <p className="muted">
          No model matches “{search.trim()}”.{" "}
          <Button size="sm" variant="ghost" onClick={() => setSearch("")}>Clear the search</Button>
        </p>
      ) : (
        <p className="muted">
          No models yet. Download one from the Hub, import one from disk, or import the bundled
          SmolLM2-135M-Instruct.
        </p>
      ))}
      <div className="model-list">
        {models.data?.items.map((model) => (
          <ModelCard key={model.id} model={model} />
        ))}
      </div>
    </section>
  );
}

/**
 * The Datasets section (DatasetsPanel): add a dataset (Hub, upload, bundled play), the list, and
 * the selected dataset's card (route `/datasets/:datasetId`). Not responsible for live events (the
 * app writes pushed jobs into the cache; cards read them).
 */
import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { ErrorMessage } from "@/components/ui/error-message";
import { Pagination } from "@/components/ui/pagination";
import { formatCount } from "@/lib/format";
import { parseRowId } from "@/lib/row-id";
import { useCreateDataset } from "../api/create-dataset";
import { useDatasets } from "../api/get-datasets";
import { statusTone } from "../lib/dataset-status";
import { type Dataset, DEFAULT_READ_OPTIONS, HUB_DEFAULTS } from "../types";
import { AddHubForm } from "./add-hub-form";
import { DatasetCard } from "./dataset-card";
import { UploadForm } from "./upload-form";
import "./datasets.css";

const PAGE = 20;
type Tab = "upload" | "hub" | "bundled";

function BundledForm({ onCreated }: { onCreated: (dataset: Dataset) => void }) {
  const create = useCreateDataset();
  return (
    <div className="form-grid">
      <p className="muted">
        Shakespeare's Macbeth (Project Gutenberg, public domain), one line per row.
      </p>
      <Button
        variant="primary"
        disabled={create.isPending}
        onClick={() => create.mutate(
            { source: "bundled", name: "macbeth", ...HUB_DEFAULTS, read: DEFAULT_READ_OPTIONS },
            { onSuccess: onCreated },
          )}
      >
        Add the bundled play
      </Button>
      {create.error && <ErrorMessage error={create.error} title="Not added:" />}
    </div>
  );
}

export function DatasetsPage() {
  const [tab, setTab] = useState<Tab>("upload");
  const [offset, setOffset] = useState(0);
  const datasets = useDatasets(offset, PAGE);
  const navigate = useNavigate();
  const { datasetId } = useParams();
  // an id the route cannot hold ("abc", "0") is said here, not sent (the API's 422 read as noise)
  const selected = parseRowId(datasetId);
  const valid = datasetId === undefined || selected !== null;
  const open = (dataset: Dataset) => navigate(`/datasets/${dataset.id}`);

  return (
    <section className="page">
      <header className="page__header">
        <h1>Datasets</h1>
      </header>
      <div className="datasets">
        <div className="datasets__side">
          <section className="panel" aria-label="Add a dataset">
            <h2>Add a dataset</h2>
            <div className="tabs" role="tablist">
              {(["upload", "hub", "bundled"] as const).map((name) => (
                <Button
                  key={name}
                  size="sm"
                  role="tab"
                  aria-selected={tab === name}
                  variant={tab === name ? "primary" : "default"}
                  onClick={() => setTab(name)}
                >
                  {name === "upload" ? "Upload" : name === "hub" ? "Hub" : "Bundled"}
                </Button>
              ))}
            </div>
            {tab === "upload" && <UploadForm onCreated={open} />}
            {tab === "hub" && <AddHubForm onCreated={open} />}
            {tab === "bundled" && <BundledForm onCreated={open} />}
          </section>
          <section className="panel" aria-label="Datasets">
            <h2>Datasets</h2>
            {datasets.error && <ErrorMessage error={datasets.error} />}
            {datasets.data?.items.length === 0 && <p className="muted">No datasets yet.</p>}
            {datasets.data?.items.map((d) => (
              <Link
                key={d.id}
                to={`/datasets/${d.id}`}
                className={`dataset-list__item${d.id === selected ? " dataset-list__item--active" : ""}`}
              >
                {d.name} <Badge tone={statusTone(d.status)}>{d.status}</Badge>{" "}
                <span className="muted num">{d.rows !== null ? formatCount(d.rows, "row") : ""}</span>
              </Link>
            ))}
            {datasets.data && datasets.data.total > PAGE && (
              <Pagination
                offset={offset}
                limit={PAGE}
                total={datasets.data.total}
                onPageChange={(page) => setOffset((page - 1) * PAGE)}
              />
            )}
          </section>
        </div>
        <div>
          {!valid ? (
            <p data-testid="no-such-dataset">
              &quot;{datasetId}&quot; is not a dataset id: choose a dataset from the list, or add
              one.
            </p>
          ) : selected !== null ? (
            <DatasetCard key={selected} datasetId={selected} onDeleted={() => navigate("/datasets")} />
          ) : (
            <p className="muted">Choose a dataset, or add one.</p>
          )}
        </div>
      </div>
    </section>
  );
}

/**
 * ImportForm: a local folder, `.safetensors` (+ its config.json) or `.gguf` path inside the
 * server's import roots, and the one-click "Import bundled SmolLM2" for a real model without any
 * network. Once the bundled model is on the list (`source` "bundled") that button is a secondary
 * one and the form says it is imported: it stayed the primary button, and clicking it only said
 * "Already imported". A path imported (queued) is cleared from its field, which kept it.
 * Not responsible for checking paths (the server refuses anything outside the roots).
 */
import { type FormEvent, useState } from "react";
import { Button } from "@/components/ui/button";
import { ErrorMessage } from "@/components/ui/error-message";
import { useModels } from "../api/get-models";
import { useImportBundledModel } from "../api/import-bundled-model";
import { useImportModel } from "../api/import-model";
import type { Model, Precision } from "../types";
import { DRIFT_PRECISIONS, DriftCheckbox, PrecisionSelect } from "./precision-select";

export function ImportForm() {
  const [path, setPath] = useState("");
  const [configPath, setConfigPath] = useState("");
  const [precision, setPrecision] = useState<Precision>("fp32");
  const [allDrift, setAllDrift] = useState(false);
  const drift = allDrift ? DRIFT_PRECISIONS : [];
  const importModel = useImportModel();
  const bundled = useImportBundledModel();
  // every model (the page's list may be searched): is the bundled one among them?
  const imported = useModels("").data?.items?.find((m) => m.source === "bundled");

  const submit = (event: FormEvent) => {
    event.preventDefault();
    importModel.mutate({
      path: path.trim(),
      config_path: configPath.trim() || null,
      precision,
      drift_precisions: drift,
    }, {
      // a new import is queued and shows in the list: the path is done with (an existing
      // model's answer keeps it, beside the note saying so)
      onSuccess: (model) => {
        if (model.status === "queued") {
          setPath("");
          setConfigPath("");
        }
      },
    });
  };

  return (
    <form className="model-form" onSubmit={submit} aria-label="Import a model">
      <h2>Import from this machine</h2>
      <label>
        <span>Folder, .safetensors or .gguf path</span>
        <input required value={path} onChange={(e) => setPath(e.target.value)} />
      </label>
      <div className="model-form__row">
        <label>
          <span>config.json (lone .safetensors only)</span>
          <input value={configPath} onChange={(e) => setConfigPath(e.target.value)} />
        </label>
        <PrecisionSelect value={precision} onChange={setPrecision} />
        <DriftCheckbox checked={allDrift} onChange={setAllDrift} />
      </div>
      <div className="model-form__row">
        <Button type="submit" disabled={importModel.isPending || !path.trim()}>
          {importModel.isPending ? "Checking…" : "Import"}
        </Button>
        <Button
          variant={imported ? "default" : "primary"}
          disabled={bundled.isPending}
          onClick={() => bundled.mutate({ precision, drift_precisions: drift })}
        >
          {bundled.isPending ? "Starting…" : "Import bundled SmolLM2"}
        </Button>
      </div>
      {imported && !bundled.data && (
        <p className="muted" data-testid="bundled-imported">
          The bundled SmolLM2 is imported as {imported.name} (#{imported.id}, {imported.status}).
        </p>
      )}
      {importModel.error && <ErrorMessage error={importModel.error} title="Not imported:" />}
      {bundled.error && <ErrorMessage error={bundled.error} title="Not imported:" />}
      <AlreadyThere model={importModel.data} asked={importModel.variables?.precision} />
      <AlreadyThere model={bundled.data} asked={bundled.variables?.precision} />
    </form>
  );
}

/** The server answers an import of a model it already has with that model (200), not a new one
 * (queued): say so, and that another precision was not applied (found by a tester: nothing
 * showed, so nobody could tell whether the click did anything). */
export function AlreadyThere({ model, asked }: { model: Model | undefined; asked?: string | null }) {
  if (!model || model.status === "queued") return null;
  const has = model.precision_used ?? model.precision_requested;
  return (
    <p className="muted" role="status" data-testid="import-existing">
      Already imported as {model.name} (#{model.id}, {has ?? "?"}, {model.status}).
      {asked && has && asked !== has
        && ` ${asked} was not applied: choose ${asked} when you start an extraction.`}
    </p>
  );
}

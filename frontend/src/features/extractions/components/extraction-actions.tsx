/**
 * Cancel / resume / retry / delete buttons for one extraction, offered by its job's state.
 * `onDeleted` runs after a successful delete (the results page leaves for the list). Delete, and
 * retry (it starts again from nothing: the whole shards a stopped run kept for Resume are
 * deleted; a complete run is not retried), ask first.
 * Not responsible for the rules (the server answers 409 for a refused action).
 */
import { Button } from "@/components/ui/button";
import { ErrorMessage } from "@/components/ui/error-message";
import { type ExtractionAction, useExtractionAction } from "../api/extraction-transition";
import { allowedActions } from "../lib/extraction-status";

const LABELS: Record<ExtractionAction, string> = {
  cancel: "Cancel",
  resume: "Resume",
  retry: "Retry",
  delete: "Delete",
};

/** The question asked before `action`, or null when it needs none. */
function confirmation(action: string, id: number): string | null {
  if (action === "delete") return `Delete extraction ${id} and its files?`;
  if (action === "retry")  // cancelled, failed, interrupted: Resume is offered beside it
    return `Retry extraction ${id} from the start? The rows its last run kept are deleted; ` +
      "Resume continues from them instead.";
  return null;
}

export function ExtractionActions({ id, jobState, onDeleted }: {
  id: number;
  jobState: string | null;
  onDeleted?: () => void;
}) {
  const cancel = useExtractionAction("cancel");
  const resume = useExtractionAction("resume");
  const retry = useExtractionAction("retry");
  const remove = useExtractionAction("delete");
  const mutations = { cancel, resume, retry, delete: remove };
  const error = Object.values(mutations).find((m) => m.error)?.error;
  return (
    <div className="extraction-actions">
      {allowedActions(jobState).map((action) => {
        const mutation = mutations[action as ExtractionAction];
        return (
          <Button key={action} size="sm" variant={action === "delete" ? "danger" : "default"}
            disabled={mutation.isPending}
            onClick={() => {
              const question = confirmation(action, id);
              if (question && !window.confirm(question)) return;
              mutation.mutate(id, action === "delete" ? { onSuccess: () => onDeleted?.() } : undefined);
            }}>
            {LABELS[action as ExtractionAction]}
          </Button>
        );
      })}
      {error && <ErrorMessage error={error} />}
    </div>
  );
}

/**
 * Filters for the jobs table: state toggles and a kind field (applied on Enter or blur).
 * Not responsible for where filters are stored (the URL, see `lib/use-job-list-filters.ts`).
 */
import { type FormEvent, useEffect, useState } from "react";
import { JOB_STATES, type JobState } from "@/api/types";
import { Button } from "@/components/ui/button";

type JobFiltersProps = {
  states: readonly JobState[];
  kind: string | null;
  knownKinds: readonly string[];
  onStatesChange: (states: JobState[]) => void;
  onKindChange: (kind: string | null) => void;
  onClear: () => void;
};

export function JobFilters({
  states,
  kind,
  knownKinds,
  onStatesChange,
  onKindChange,
  onClear,
}: JobFiltersProps) {
  const [kindDraft, setKindDraft] = useState(kind ?? "");
  useEffect(() => setKindDraft(kind ?? ""), [kind]);

  const toggle = (state: JobState) =>
    onStatesChange(
      states.includes(state) ? states.filter((s) => s !== state) : [...states, state],
    );
  const applyKind = (event?: FormEvent) => {
    event?.preventDefault();
    const next = kindDraft.trim() || null;
    if (next !== kind) onKindChange(next);
  };

  return (
    <div className="filters">
      <fieldset className="filters__states">
        <legend className="filters__legend">State</legend>
        {JOB_STATES.map((state) => (
          <label key={state} className={`chip${states.includes(state) ? " chip--on" : ""}`}>
            <input type="checkbox" checked={states.includes(state)} onChange={() => toggle(state)} />
            {state}
          </label>
        ))}
      </fieldset>
      <form className="filters__kind" onSubmit={applyKind}>
        <label>
          <span className="filters__legend">Kind</span>
          <input
            type="text"
            list="job-kinds"
            placeholder="any"
            value={kindDraft}
            onChange={(e) => setKindDraft(e.target.value)}
            onBlur={() => applyKind()}
          />
        </label>
        <datalist id="job-kinds">
          {knownKinds.map((k) => (
            <option key={k} value={k} />
          ))}
        </datalist>
      </form>
      {(states.length > 0 || kind) && (
        <Button size="sm" variant="ghost" onClick={onClear}>
          Clear filters
        </Button>
      )}
    </div>
  );
}

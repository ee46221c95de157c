/**
 * "Run selftest": queues a self-test job with a chosen number of iterations and delay per step
 * (a slow one makes progress, cancel and resume easy to watch). Not responsible for showing the
 * job (it appears in the table through the cache).
 */
import { type FormEvent, useState } from "react";
import { Button } from "@/components/ui/button";
import { ErrorMessage } from "@/components/ui/error-message";
import { useCreateSelftest } from "../api/create-selftest";

export function SelftestForm() {
  const [iterations, setIterations] = useState("20");
  const [stepDelay, setStepDelay] = useState("0");
  const create = useCreateSelftest();

  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate({ iterations: Number(iterations), step_delay_s: Number(stepDelay) });
  };

  return (
    <form className="selftest-form" onSubmit={submit} aria-label="Selftest">
      <label>
        <span>Iterations</span>
        <input
          type="number"
          min={1}
          step={1}
          required
          value={iterations}
          onChange={(e) => setIterations(e.target.value)}
        />
      </label>
      <label>
        <span>Step delay (s)</span>
        <input
          type="number"
          min={0}
          step={0.05}
          required
          value={stepDelay}
          onChange={(e) => setStepDelay(e.target.value)}
        />
      </label>
      <Button type="submit" variant="primary" disabled={create.isPending}>
        {create.isPending ? "Starting…" : "Run selftest"}
      </Button>
      {create.error && <ErrorMessage error={create.error} title="Selftest not started:" />}
    </form>
  );
}

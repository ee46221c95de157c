/**
 * "Run the demo": the first five minutes from the browser. Imports the bundled SmolLM2-135M and
 * the bundled public-domain text, tokenizes it, then starts an every-layer resid_post extraction
 * of 4,096 tokens (as the CLI's `interpstudio demo`), and opens the results page. The chain runs
 * outside this component (`lib/demo-runner.ts`): leaving the page does not stop it, and after a
 * reload it is picked up where it was; mounting the button shows its current step again.
 * While a step of the demo is queued or running on the server and this tab is not running the
 * demo itself (`interpstudio demo` started it, or another tab), the button gives way to "Follow
 * the running demo" with the step, its progress and a link to it (the extraction's page, else
 * the job's; `api/get-demo-underway.ts`): it stayed "Run the demo", whose click joined those
 * jobs and then raced the CLI to create the same extraction.
 * Not responsible for the steps (the runner) or their requests (`api/demo-steps.ts`).
 */
import { useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import { Link, useNavigate } from "react-router";
import type { Job } from "@/api/types";
import { Button } from "@/components/ui/button";
import { ErrorMessage } from "@/components/ui/error-message";
import { FINISHED_JOB_STATES, useLiveJob } from "@/lib/live-job";
import { useDemoUnderway } from "../api/get-demo-underway";
import {
  DEMO_STEP_LABELS,
  DEMO_STEPS,
  resumeDemo,
  startDemo,
  useDemoStore,
} from "../lib/demo-runner";

/** "convert gguf 31%": a job's stages each count from 0, so the percent alone went 100% -> 0%
 * -> 50% within one step (the model import's convert, then inspect) and read as going back. A
 * stage without a count by its name alone ("load converter"): the step said nothing for the
 * model import's seconds of importing and reading before its tensors count. */
function jobProgress(job: Pick<Job, "stage" | "progress">): string | null {
  if (job.progress === null) return job.stage;
  const percent = `${Math.round(job.progress * 100)}%`;
  return job.stage ? `${job.stage} ${percent}` : percent;
}

export function DemoButton() {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const { step, jobId, error, opened } = useDemoStore();
  const job = useLiveJob(jobId).data;
  // a step of the demo started elsewhere; not while this tab's own run says its steps
  const underway = useDemoUnderway(step === null).data ?? null;
  const underwayJob = useLiveJob(underway?.job.id, underway?.job).data;
  // its end shows the button again at once (the list is asked again on the job's event)
  const following = step === null && underway !== null
    && !(underwayJob && FINISHED_JOB_STATES.has(underwayJob.state));

  useEffect(() => resumeDemo(queryClient), [queryClient]);
  useEffect(() => {
    if (opened === null) return;
    useDemoStore.setState({ opened: null });
    void navigate(`/extractions/${opened}`);
  }, [opened, navigate]);

  if (following) {
    const progress = underwayJob ? jobProgress(underwayJob) : null;
    const what = underway.step === "extract"
      ? `extraction #${underway.job.owner?.id}` : DEMO_STEP_LABELS[underway.step];
    return (
      <div className="demo-button" data-testid="demo-underway">
        <Link to={underway.href} className="button button--primary button--md">
          Follow the running demo
        </Link>
        <span className="muted">
          demo running: step {DEMO_STEPS.indexOf(underway.step) + 1}/4: {what}{" "}
          {underwayJob?.state === "queued" ? "(queued)" : progress ? `(${progress})` : ""}
        </span>
      </div>
    );
  }

  return (
    <div className="demo-button">
      <Button variant="primary" disabled={step !== null}
        onClick={() => void startDemo(queryClient)}>
        {step === null ? "Run the demo" : "Demo running…"}
      </Button>
      {step !== null && (
        <span className="muted" data-testid="demo-step">
          step {DEMO_STEPS.indexOf(step) + 1}/4: {DEMO_STEP_LABELS[step]}
          {job && jobId !== null && jobProgress(job) ? ` (${jobProgress(job)})` : ""}
        </span>
      )}
      {error !== null && <ErrorMessage error={error} title="Demo stopped:" />}
      {step === null && error === null && (
        <span className="muted">
          bundled SmolLM2-135M + a public-domain text → every layer's residual stream
        </span>
      )}
    </div>
  );
}

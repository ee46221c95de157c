/**
 * "Run the demo": the first five minutes from the browser. Imports the bundled SmolLM2-135M and
 * the bundled public-domain text, tokenizes it, then starts an every-layer resid_post extraction
 * of a few thousand tokens, waiting for each job through the live job cache (no polling), and
 * opens the results page. Every step reuses what already exists.
 * Not responsible for the steps' rules (the server's) or their requests (`api/demo-steps.ts`).
 */
import { useEffect, useState } from "react";
import { useNavigate } from "react-router";
import { Button } from "@/components/ui/button";
import { ErrorMessage } from "@/components/ui/error-message";
import { useLiveJob } from "@/lib/live-job";
import { useCreateExtraction } from "../api/create-extraction";
import {
  type DemoStep,
  findOrAddBundledText,
  findOrTokenize,
  importBundledModel,
} from "../api/demo-steps";

const STEPS = ["model", "dataset", "tokenize", "extract"] as const;
type StepName = (typeof STEPS)[number];
const LABELS: Record<StepName, string> = {
  model: "importing the bundled model",
  dataset: "importing the bundled text",
  tokenize: "tokenizing with the model's tokenizer",
  extract: "starting the extraction",
};
const DEMO_TOKENS = 2048;

export function DemoButton() {
  const navigate = useNavigate();
  const create = useCreateExtraction();
  const [step, setStep] = useState<StepName | null>(null);
  const [ids, setIds] = useState<Partial<Record<StepName, number>>>({});
  const [waitingJob, setWaitingJob] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);
  const job = useLiveJob(waitingJob).data;

  async function run(name: StepName, known: Partial<Record<StepName, number>>) {
    setStep(name);
    try {
      if (name === "extract") {
        const extraction = await create.mutateAsync({
          model_id: known.model as number, tokenization_id: known.tokenize as number,
          hook_points: ["blocks.*.resid_post"], batch_size: 8, positions: "all", every_k: 1,
          dtype: "float16", max_tokens: DEMO_TOKENS, device: "auto", name: "demo: all layers",
        });
        setStep(null);
        void navigate(`/extractions/${extraction.id}`);
        return;
      }
      const result: DemoStep =
        name === "model" ? await importBundledModel()
        : name === "dataset" ? await findOrAddBundledText()
        : await findOrTokenize(known.dataset as number, known.model as number);
      const next = { ...known, [name]: result.id };
      setIds(next);
      if (result.ready || result.jobId === null) {
        await run(STEPS[STEPS.indexOf(name) + 1] as StepName, next);
      } else {
        setWaitingJob(result.jobId);
      }
    } catch (cause) {
      setError(cause);
      setStep(null);
    }
  }

  useEffect(() => {
    if (!job || waitingJob === null || step === null) return;
    if (job.state === "succeeded") {
      setWaitingJob(null);
      void run(STEPS[STEPS.indexOf(step) + 1] as StepName, ids);
    } else if (["failed", "cancelled", "interrupted"].includes(job.state)) {
      setWaitingJob(null);
      setError(new Error(`${LABELS[step]} ended ${job.state}: ${job.error_message ?? ""}`));
      setStep(null);
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [job?.state, waitingJob]);

  return (
    <div className="demo-button">
      <Button variant="primary" disabled={step !== null}
        onClick={() => {
          setError(null);
          void run("model", {});
        }}>
        {step === null ? "Run the demo" : "Demo running…"}
      </Button>
      {step !== null && (
        <span className="muted" data-testid="demo-step">
          step {STEPS.indexOf(step) + 1}/4: {LABELS[step]}
          {job && waitingJob !== null && job.progress !== null
            ? ` (${Math.round(job.progress * 100)}%)` : ""}
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

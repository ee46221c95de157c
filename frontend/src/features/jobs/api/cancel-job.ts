/**
 * `POST /jobs/{id}/cancel`. Not responsible for checking the job's state first (the server does).
 */
import { postJobTransition, useJobTransition } from "./job-transition";

export const cancelJob = (id: number) => postJobTransition(id, "cancel");

export const useCancelJob = () => useJobTransition("cancel");

/**
 * `POST /jobs/{id}/resume`. Not responsible for checking the job's state first (the server does).
 */
import { postJobTransition, useJobTransition } from "./job-transition";

export const resumeJob = (id: number) => postJobTransition(id, "resume");

export const useResumeJob = () => useJobTransition("resume");

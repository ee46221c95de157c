/**
 * `POST /jobs/{id}/retry`. Not responsible for checking the job's state first (the server does).
 */
import { postJobTransition, useJobTransition } from "./job-transition";

export const retryJob = (id: number) => postJobTransition(id, "retry");

export const useRetryJob = () => useJobTransition("retry");

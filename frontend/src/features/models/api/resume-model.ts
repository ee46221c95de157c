/**
 * `POST /models/{id}/resume`: continue from the bytes on disk (a gated repo needs its token
 * again). Not responsible for anything but the request.
 */
import { useModelTransition } from "./model-transition";

export const useResumeModel = () => useModelTransition("resume");

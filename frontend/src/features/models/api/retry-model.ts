/**
 * `POST /models/{id}/retry`: start the job again from scratch. Not responsible for anything but
 * the request.
 */
import { useModelTransition } from "./model-transition";

export const useRetryModel = () => useModelTransition("retry");

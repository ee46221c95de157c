/**
 * `POST /models/{id}/cancel[?keep_partial=true]`: stop (partial files removed) or pause (kept).
 * Not responsible for anything but the request.
 */
import { useModelTransition } from "./model-transition";

export const useCancelModel = () => useModelTransition("cancel");

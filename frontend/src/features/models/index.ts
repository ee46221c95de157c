/**
 * The models feature's public surface for the app layer (route and live-event handler).
 * Not responsible for anything else; other features never import it.
 */
export { ModelsPage } from "./components/models-page";
export { applyModelJobUpdate } from "./lib/model-cache";

/**
 * The system feature's public surface for the app layer. Other features never import it.
 */
export { SystemPage } from "./components/system-page";
export { applySystemMetrics } from "./lib/system-metrics";

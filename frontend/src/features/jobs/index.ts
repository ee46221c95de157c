/**
 * The jobs feature's public surface for the app layer (routes and live-event handlers).
 * Not responsible for anything else; other features never import it.
 */
export { JobDetailDrawer } from "./components/job-detail-drawer";
export { JobsPage } from "./components/jobs-page";
export { applyJobSnapshot, applyJobUpdate, removeJobFromCache } from "./lib/job-cache";

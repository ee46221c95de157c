/**
 * The placeholders feature's public surface for the app layer.
 */
export { PlaceholderPage } from "./components/placeholder-page";
export { PLANNED_SECTIONS, type PlannedSection } from "./planned-sections";

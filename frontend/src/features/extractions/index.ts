/**
 * The extractions feature's public surface for the app layer (routes). Not responsible for
 * anything else; other features never import it.
 */
export { ExtractionsPage } from "./components/extractions-page";
export { DemoButton } from "./components/demo-button";
export { ExtractionResultsPage } from "./components/extraction-results";

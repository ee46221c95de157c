/**
 * The datasets feature's public surface for the app layer (its route).
 * Not responsible for anything else; other features never import it.
 */
export { DatasetsPage } from "./components/datasets-page";

/**
 * The auth feature's public surface for the app layer. Other features never import it.
 */
export { ApiKeyPrompt } from "./components/api-key-prompt";

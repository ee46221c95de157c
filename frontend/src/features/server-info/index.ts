/**
 * The server-info feature's public surface for the app layer.
 */
export { ServerInfo } from "./components/server-info";

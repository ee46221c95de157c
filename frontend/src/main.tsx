/**
 * Browser entry point: mounts the app. Not responsible for anything else.
 */
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "@/app/app";
import "@/styles/global.css";

const root = document.getElementById("root");
if (!root) throw new Error("index.html has no #root element to mount the app into.");

createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);

/**
 * Vitest setup: jest-dom matchers and a clean DOM and storage after each test.
 * Not responsible for any server (tests that need one start a real one themselves).
 */
import "@testing-library/jest-dom/vitest";
import { cleanup } from "@testing-library/react";
import { afterEach } from "vitest";

afterEach(() => {
  cleanup();
  globalThis.localStorage?.clear(); // absent in node-environment tests
});

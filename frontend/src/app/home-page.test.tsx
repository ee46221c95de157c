import { screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { renderWithProviders } from "@/test/render";
import { HomePage } from "./home-page";

describe("HomePage", () => {
  it("offers the demo button and a way into every section", () => {
    renderWithProviders(<HomePage />);
    expect(screen.getByRole("heading", { name: "Welcome to Interp Studio" })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Run the demo" })).toBeEnabled();
    for (const name of ["Models", "Datasets", "Extractions", "Jobs"]) {
      expect(screen.getByRole("link", { name })).toBeInTheDocument();
    }
  });
});

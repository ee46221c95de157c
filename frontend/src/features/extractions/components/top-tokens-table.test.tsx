import { render, screen } from "@testing-library/react";
import type { ExtractionSample } from "../types";
import { formatNorm, TopTokensTable } from "./top-tokens-table";

describe("TopTokensTable", () => {
  it("test_norms_are_plain_numbers_not_exponents", () => {
    // SmolLM2's first-position rows in its middle layers: norm 22,676.89 (was "2.268e+4")
    const sample: ExtractionSample = { row: 0, norm: 22676.894687654378, sequence: 0, position: 0,
      token_id: 1, token: "MAC", before: "", after: "BETH" };
    render(<TopTokensTable samples={[sample]} />);
    expect(screen.getByRole("cell", { name: "22,680" })).toBeInTheDocument();
    expect(formatNorm(1549.34)).toBe("1,549");
    expect(formatNorm(3.14159)).toBe("3.142");
    expect(formatNorm(0.0012345)).toBe("1.234e-3");
  });
});

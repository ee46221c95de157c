import { render, screen } from "@testing-library/react";
import type { ExtractionSample } from "../types";
import { formatNorm, formatNorms, TopTokensTable } from "./top-tokens-table";

describe("TopTokensTable", () => {
  it("test_norms_are_plain_numbers_not_exponents", () => {
    // SmolLM2's first-position rows in its middle layers: norm 22,676.89 (was "2.268e+4")
    const sample: ExtractionSample = { row: 0, norm: 22676.894687654378, sequence: 0, position: 0,
      token_id: 1, token: "MAC", before: "", after: "BETH" };
    render(<TopTokensTable samples={[sample]} />);
    expect(screen.getByRole("cell", { name: "22,677" })).toBeInTheDocument();
    expect(formatNorm(1549.34)).toBe("1,549");
    expect(formatNorm(3.14159)).toBe("3.142");
    expect(formatNorm(0.0012345)).toBe("1.234e-3");
  });

  it("test_a_column_of_norms_has_one_precision", () => {
    // a UI tester: "147" under "154.3" in one column (each norm had its own 4 significant digits)
    const sample = (row: number, norm: number): ExtractionSample => ({
      row, norm, sequence: row, position: 1, token_id: 5, token: "the", before: "", after: "" });
    render(<TopTokensTable samples={[sample(0, 154.3), sample(1, 147), sample(2, 9.87654)]} />);
    const cells = screen.getAllByRole("row").slice(1).map((r) => r.querySelector("td")?.textContent);
    expect(cells).toEqual(["154.3", "147.0", "9.9"]);
    expect(formatNorms([22676.89, 1549.34, 3])).toEqual(["22,677", "1,549", "3"]);
    expect(formatNorms([0.5, 0.25])).toEqual(["0.5000", "0.2500"]);
    expect(formatNorms([2e6, 1.5e6])).toEqual(["2.000e+6", "1.500e+6"]);
    expect(formatNorms([0, Number.NaN])).toEqual(["0.000", "NaN"]);
  });
});

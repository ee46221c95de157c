import { screen } from "@testing-library/react";
import { renderWithProviders } from "@/test/render";
import { PreviewTable } from "./preview-table";

describe("PreviewTable", () => {
  it("test_a_row_cut_by_the_server_says_how_long_it_is", async () => {
    // the API cuts each row at max_chars (a whole-file row of a book is megabytes)
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockResolvedValue(new Response(JSON.stringify({
      items: [{ row: 0, text: "A".repeat(4000), chars: 2_000_000, truncated: true },
        { row: 1, text: "short", chars: 5, truncated: false }],
      total: 2, offset: 0, limit: 10, random: false }),
    { status: 200, headers: { "Content-Type": "application/json" } }));
    renderWithProviders(<PreviewTable datasetId={3} />);
    const cut = await screen.findAllByTestId("preview-cut");
    expect(cut).toHaveLength(1);
    expect(cut[0]).toHaveTextContent("first 4,000 of 2,000,000 characters");
    expect(screen.getByText("short")).toBeInTheDocument();
    // rows of a file are in file order: not "Newer / Older" (found by a tester)
    expect(screen.getByRole("button", { name: "Next →" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Older →" })).toBeNull();
    fetchSpy.mockRestore();
  });
});

import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { renderWithProviders } from "@/test/render";
import { makeModel } from "../lib/model-factory";
import { ModelsPage } from "./models-page";

describe("ModelsPage", () => {
  it("test_a_search_that_matches_nothing_says_so_and_offers_to_clear_it", async () => {
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async (url) => {
      const searching = /search=[^&]/.test(String(url));
      return new Response(JSON.stringify(searching ? { total: 0, items: [] }
        : { total: 1, items: [makeModel({ status: "ready", job: null, job_id: null })] }),
      { status: 200, headers: { "Content-Type": "application/json" } });
    });
    renderWithProviders(<ModelsPage />);
    expect(await screen.findByRole("article", { name: "Model org/tiny" })).toBeInTheDocument();
    await userEvent.type(screen.getByLabelText("Search models"), "zzz");
    expect(await screen.findByText(/No model matches “zzz”/)).toBeInTheDocument();
    expect(screen.queryByText(/No models yet/)).toBeNull();
    await userEvent.click(screen.getByRole("button", { name: "Clear the search" }));
    expect(screen.getByLabelText("Search models")).toHaveValue("");
    expect(await screen.findByRole("article", { name: "Model org/tiny" })).toBeInTheDocument();
    expect(screen.queryByText(/No model matches/)).toBeNull();
    fetchSpy.mockRestore();
  });
});

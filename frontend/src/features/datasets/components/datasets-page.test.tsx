import { QueryClientProvider } from "@tanstack/react-query";
import { render, screen } from "@testing-library/react";
import { createMemoryRouter, RouterProvider } from "react-router";
import { createTestQueryClient } from "@/test/render";
import { DatasetsPage } from "./datasets-page";

describe("DatasetsPage", () => {
  it.each(["abc", "99999999999"])("test_a_route_id_that_is_not_a_dataset_id_is_said_without_asking_the_server_%s", async (id) => {
    // found by a tester: /datasets/abc showed the API's raw 422 validation error
    const spy = vi.spyOn(globalThis, "fetch").mockResolvedValue(new Response(
      JSON.stringify({ total: 0, items: [] }),
      { status: 200, headers: { "Content-Type": "application/json" } }));
    const router = createMemoryRouter([{ path: "/datasets/:datasetId", element: <DatasetsPage /> }],
      { initialEntries: [`/datasets/${id}`] });
    render(<QueryClientProvider client={createTestQueryClient()}>
      <RouterProvider router={router} />
    </QueryClientProvider>);
    expect(await screen.findByTestId("no-such-dataset")).toHaveTextContent(
      `"${id}" is not a dataset id`);
    const asked = spy.mock.calls.map(([url]) => String(url));
    expect(asked.some((url) => url.includes(`/datasets/${id}`))).toBe(false);
    spy.mockRestore();
  });
});

describe("DatasetsPage list", () => {
  it("test_a_dataset_of_one_row_says_1_row", async () => {
    const spy = vi.spyOn(globalThis, "fetch").mockResolvedValue(new Response(
      JSON.stringify({ total: 1, items: [{ id: 1, name: "one line", status: "ready", rows: 1 }] }),
      { status: 200, headers: { "Content-Type": "application/json" } }));
    const router = createMemoryRouter([{ path: "/datasets", element: <DatasetsPage /> }],
      { initialEntries: ["/datasets"] });
    render(<QueryClientProvider client={createTestQueryClient()}>
      <RouterProvider router={router} />
    </QueryClientProvider>);
    expect(await screen.findByText("1 row")).toBeInTheDocument();
    spy.mockRestore();
  });
});

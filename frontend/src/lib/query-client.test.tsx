import { focusManager, QueryClientProvider, useQuery } from "@tanstack/react-query";
import { act, render, screen, waitFor } from "@testing-library/react";
import { createQueryClient, isListQueryKey } from "./query-client";

function Show({ queryKey }: { queryKey: readonly unknown[] }) {
  const query = useQuery({ queryKey, queryFn: async () => ({ total: 2, items: ["fresh"] }) });
  return <p>{query.data ? JSON.stringify(query.data) : "none"}</p>;
}

describe("createQueryClient", () => {
  it("test_a_list_refetches_when_shown_again_though_its_data_is_fresh_but_a_detail_does_not", async () => {
    const queryClient = createQueryClient();
    const list = ["extractions", "list", { status: "" }];
    const detail = ["extractions", "detail", 11];
    // what the tab cached a moment ago; the CLI has since made another extraction (no event)
    queryClient.setQueryData(list, { total: 1, items: ["cached"] });
    queryClient.setQueryData(detail, { id: 11 });
    const { unmount } = render(
      <QueryClientProvider client={queryClient}>
        <Show queryKey={list} />
        <Show queryKey={detail} />
      </QueryClientProvider>,
    );
    await waitFor(() => expect(screen.getByText(/fresh/)).toBeInTheDocument());
    expect(screen.getByText('{"id":11}')).toBeInTheDocument();
    unmount();
    queryClient.clear();
  });

  it("test_a_list_refetches_when_its_tab_is_back_in_front_but_a_detail_does_not", async () => {
    // a model deleted in another tab takes its extractions with it, and no event says so
    const queryClient = createQueryClient();
    queryClient.mount();  // subscribes to the focus manager, as the app's provider does
    const list = ["extractions", "list", { status: "" }];
    const detail = ["extractions", "detail", 11];
    let version = 0;
    function Counted({ queryKey }: { queryKey: readonly unknown[] }) {
      const query = useQuery({ queryKey, queryFn: async () => ({ version: (version += 1) }) });
      return <p data-testid={String(queryKey[1])}>{query.data?.version ?? "none"}</p>;
    }
    render(
      <QueryClientProvider client={queryClient}>
        <Counted queryKey={list} />
        <Counted queryKey={detail} />
      </QueryClientProvider>,
    );
    await waitFor(() => expect(screen.getByTestId("detail")).toHaveTextContent(/\d/));
    await waitFor(() => expect(screen.getByTestId("list")).toHaveTextContent(/\d/));
    const before = { list: screen.getByTestId("list").textContent,
      detail: screen.getByTestId("detail").textContent };
    await act(async () => {
      focusManager.setFocused(false);
      focusManager.setFocused(true);
    });
    await waitFor(() => expect(screen.getByTestId("list").textContent).not.toBe(before.list));
    expect(screen.getByTestId("detail").textContent).toBe(before.detail);
    focusManager.setFocused(undefined);
    queryClient.unmount();
    queryClient.clear();
  });

  it("test_list_keys_are_the_lists_and_pickers_not_details_or_hook_points", () => {
    for (const key of [["models", "list", { search: "" }], ["datasets", "list", {}],
      ["datasets", "tokenizations", 3], ["jobs", "list", {}], ["extractions", "list", {}],
      ["extractions", "pickers", "models"], ["extractions", "pickers", "tokenizations", 4]])
      expect(isListQueryKey(key), JSON.stringify(key)).toBe(true);
    for (const key of [["models", "detail", 1], ["jobs", "detail", 2],
      ["extractions", "pickers", "hook-points", 1], ["extractions", "stats", 1, "all"]])
      expect(isListQueryKey(key), JSON.stringify(key)).toBe(false);
  });
});

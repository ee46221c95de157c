/**
 * Renders components the way the app does (query client + router), for component tests.
 * Not responsible for seeding data (tests put it in the query client or run a real server).
 */
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render } from "@testing-library/react";
import type { ReactElement } from "react";
import { createMemoryRouter, RouterProvider } from "react-router";

/** A client that never refetches on its own, so tests see exactly what they put in it. */
export function createTestQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: { retry: false, staleTime: Number.POSITIVE_INFINITY, gcTime: Number.POSITIVE_INFINITY },
      mutations: { retry: false },
    },
  });
}

export function renderWithProviders(
  element: ReactElement,
  { queryClient = createTestQueryClient(), path = "/" }: { queryClient?: QueryClient; path?: string } = {},
) {
  const router = createMemoryRouter([{ path: "*", element }], { initialEntries: [path] });
  const result = render(
    <QueryClientProvider client={queryClient}>
      <RouterProvider router={router} />
    </QueryClientProvider>,
  );
  return { ...result, queryClient, router };
}

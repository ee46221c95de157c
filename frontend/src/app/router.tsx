/**
 * Client-side routes. The backend must answer unknown non-API paths with index.html so a reload on
 * `/system` or `/jobs/12` works. Not responsible for page content.
 */
import { createBrowserRouter, type RouteObject } from "react-router";
import { DatasetsPage } from "@/features/datasets";
import { ExtractionResultsPage, ExtractionsPage } from "@/features/extractions";
import { JobDetailDrawer, JobsPage } from "@/features/jobs";
import { ModelsPage } from "@/features/models";
import { PLANNED_SECTIONS, PlaceholderPage } from "@/features/placeholders";
import { SystemPage } from "@/features/system";
import { AppLayout } from "./app-layout";
import { HomePage } from "./home-page";

function NotFoundPage() {
  return (
    <section className="page">
      <h1>Page not found</h1>
      <p>
        There is nothing at this address. Use the navigation on the left, or go to{" "}
        <a href="/jobs">Jobs</a>.
      </p>
    </section>
  );
}

export const routes: RouteObject[] = [
  {
    element: <AppLayout />,
    children: [
      { index: true, element: <HomePage /> },
      {
        path: "jobs",
        element: <JobsPage />,
        children: [{ path: ":jobId", element: <JobDetailDrawer /> }],
      },
      { path: "system", element: <SystemPage /> },
      { path: "models", element: <ModelsPage /> },
      { path: "datasets", element: <DatasetsPage /> },
      { path: "datasets/:datasetId", element: <DatasetsPage /> },
      { path: "extractions", element: <ExtractionsPage /> },
      { path: "extractions/:extractionId", element: <ExtractionResultsPage /> },
      ...PLANNED_SECTIONS.map((section) => ({
        path: section.path,
        element: <PlaceholderPage section={section} />,
      })),
      { path: "*", element: <NotFoundPage /> },
    ],
  },
];

export function createAppRouter() {
  return createBrowserRouter(routes);
}

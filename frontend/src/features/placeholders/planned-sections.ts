/**
 * The sections of the workbench that are planned but not built, and what each will offer.
 * Not responsible for rendering (see `components/placeholder-page.tsx`).
 */

export type PlannedSection = {
  path: string;
  title: string;
  summary: string;
  plans: string[];
};

export const PLANNED_SECTIONS: readonly PlannedSection[] = [
  {
    path: "templates",
    title: "Templates",
    summary: "Saved extraction configurations to rerun or share.",
    plans: [
      "Create, edit, duplicate; names are unique.",
      "Export and import as JSON (an export always imports back).",
    ],
  },
];

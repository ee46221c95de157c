import { within } from "@testing-library/react";
import { makeJob } from "@/test/job-factory";
import { renderWithProviders } from "@/test/render";
import { makeExtraction } from "../lib/extraction-factory";
import { ExtractionResults } from "./extraction-results";
import { ExtractionRow } from "./extraction-row";

/** The facts list's `<dt>` -> `<dd>` pairs. */
function facts(container: HTMLElement): Record<string, string> {
  const list = container.querySelector("dl.extraction-row__facts");
  if (!list) throw new Error("no facts list");
  const pairs: Record<string, string> = {};
  for (const term of within(list as HTMLElement).getAllByRole("term")) {
    pairs[term.textContent ?? ""] = term.nextElementSibling?.textContent ?? "";
  }
  return pairs;
}

/** A complete run of the last position of 64 sequences: 16,384 tokens run, 64 rows stored. */
const lastPositions = () => makeExtraction({
  status: "complete",
  spec: { hook_points_expanded: ["blocks.0.resid_post"], positions: "last" },
  counts: { tokens_total: 16384, rows_total: 64, tokens: 16384, rows: 64, sequences: 64,
    bytes: 123_456, tokens_per_s: 240 },
  job: makeJob({ id: 70, kind: "extract", state: "succeeded" }),
});

describe("a run's counts", () => {
  beforeEach(() => {
    // the results page asks for statistics and samples: left unanswered, they are not what
    // this test reads
    vi.spyOn(globalThis, "fetch").mockImplementation(() => new Promise<Response>(() => {}));
  });

  it("test_history_card_and_results_page_name_tokens_and_rows_alike", () => {
    // the card said "tokens 4,096" where the results page said "rows 4,096" for one run (equal
    // only under positions "all"); each names what it counts, and both say the same
    const card = facts(renderWithProviders(<ExtractionRow extraction={lastPositions()} />)
      .container);
    const page = facts(renderWithProviders(<ExtractionResults extraction={lastPositions()} />)
      .container);
    for (const shown of [card, page]) {
      expect(shown).toMatchObject({ "tokens": "16,384", "rows per hook point": "64" });
      expect(shown).not.toHaveProperty("rows");
    }
  });

  it("test_a_run_not_complete_shows_only_its_planned_tokens_on_the_card", () => {
    const running = makeExtraction({ counts: { tokens_total: 8192, rows_total: 8192 } });
    const card = facts(renderWithProviders(<ExtractionRow extraction={running} />).container);
    expect(card).toMatchObject({ "tokens planned": "8,192" });
    expect(card).not.toHaveProperty("rows per hook point");
    const page = facts(renderWithProviders(<ExtractionResults extraction={running} />).container);
    expect(Object.keys(page)).not.toContain("tokens planned");  // its progress line says it
  });
});

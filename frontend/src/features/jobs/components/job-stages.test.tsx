import { render, screen, within } from "@testing-library/react";
import { JobStages } from "./job-stages";

describe("JobStages", () => {
  it("test_lists_each_finished_stage_with_its_final_count_and_time", () => {
    render(
      <JobStages
        stages={[
          { stage: "download", done: 1024 ** 2, total: 1024 ** 2, unit: "bytes", seconds: 4.2 },
          { stage: "inspect", done: 2, total: 2, unit: "steps", seconds: 0.4 },
          { stage: "summarize", done: null, total: null, unit: null, seconds: 75 },
        ]}
      />,
    );
    const rows = within(screen.getByRole("table", { name: "Finished stages" })).getAllByRole("row");
    expect(rows).toHaveLength(4); // header + 3
    expect(rows[1]).toHaveTextContent(/download.*1\.05 MB \/ 1\.05 MB.*4 s/);
    expect(rows[2]).toHaveTextContent(/inspect.*2 \/ 2 steps.*<1 s/);
    expect(rows[3]).toHaveTextContent(/summarize.*—.*1 m 15 s/);
  });

  it("test_renders_nothing_without_stages", () => {
    const { container } = render(<JobStages stages={null} />);
    expect(container).toBeEmptyDOMElement();
  });
});

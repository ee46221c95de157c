import { render, screen } from "@testing-library/react";
import { formatEdge, Histogram, layerTicks, LineChart, niceTicks } from "./charts";

describe("charts", () => {
  it("test_axis_ticks_are_round_numbers", () => {
    expect(niceTicks(0, 1010)).toEqual([0, 500, 1000]);
    expect(niceTicks(0, 1000)).toEqual([0, 250, 500, 750, 1000]);  // was 0/252/503/755/1010
    expect(niceTicks(0.1, 0.7)).toEqual([0.2, 0.4, 0.6]);
    expect(niceTicks(3, 3)).toEqual([3]);
  });

  it("test_the_line_charts_y_axis_is_labelled_with_round_ticks_up_to_its_top", () => {
    render(<LineChart title="curve" xLabel="layer" series={[{ name: "resid_post",
      points: [{ x: 0, y: 12 }, { x: 1, y: 1010 }] }]} />);
    const labels = Array.from(screen.getByRole("img", { name: "curve" })
      .querySelectorAll("text.chart__tick")).map((t) => t.textContent);
    expect(labels).toEqual(expect.arrayContaining(["0", "500", "1,000", "1,500"]));
    expect(labels).not.toContain("1,010");
  });

  it("test_histogram_bar_titles_show_the_bin_range_and_edge_ticks_are_not_cut", () => {
    render(<Histogram title="h" edges={[19000, 19012.5, 19025, 19037.5]} counts={[3, 1200, 7]} />);
    const titles = screen.getAllByTestId("histogram-bar").map((bar) => bar.textContent);
    expect(titles[1]).toBe("19,012.5..19,025: 1,200");  // was 1.9e+4..1.9e+4
    expect(formatEdge(0.000012345)).toBe("1.23450e-5");
  });

  it("test_the_histograms_rows_axis_starts_at_0_with_round_ticks_and_says_rows", () => {
    render(<Histogram title="h" edges={[40, 50, 60, 70]} counts={[12, 224, 90]} />);
    const figure = screen.getByRole("img", { name: "h" });
    const ticks = screen.getAllByTestId("histogram-y-tick").map((t) => t.textContent);
    expect(ticks).toEqual(["0", "100", "200", "300"]);  // was one label, "224", at the top
    expect(Array.from(figure.querySelectorAll("text")).map((t) => t.textContent)).toContain("rows");
    render(<Histogram title="few" edges={[0, 1, 2]} counts={[1, 3]} />);
    // a count axis has no half rows
    expect(screen.getAllByTestId("histogram-y-tick").slice(4).map((t) => t.textContent))
      .toEqual(["0", "1", "2", "3"]);
  });

  it("test_a_tick_on_the_right_edge_is_anchored_inside_the_figure", () => {
    render(<Histogram title="h" edges={[18000, 19000, 20000]} counts={[3, 5]} />);
    const ticks = Array.from(screen.getByRole("img", { name: "h" })
      .querySelectorAll("text.chart__tick")).filter((t) => t.textContent === "20,000");
    expect(ticks).toHaveLength(1);
    expect(ticks[0]?.getAttribute("text-anchor")).toBe("end");  // was "middle": half cut off
  });

  it("test_a_histogram_of_rows_with_one_norm_says_so_instead_of_a_hairline", () => {
    // the first-position rows of a BOS model are all the same row: 64 zero-width bins at one x
    const edges = Array.from({ length: 65 }, () => 61.994274283962405);
    const counts = Array.from({ length: 64 }, (_, i) => (i === 63 ? 123 : 0));
    render(<Histogram title="h" edges={edges} counts={counts} />);
    expect(screen.queryAllByTestId("histogram-bar")).toHaveLength(0);
    expect(screen.getByTestId("histogram-one-value")).toHaveTextContent("All 123 rows, L2 norm 61.99");
  });

  it("test_a_one_layer_curve_is_drawn_mid_axis_not_on_its_left_edge", () => {
    render(<LineChart title="one" xLabel="layer" series={[{ name: "mlp_act",
      points: [{ x: 5, y: 3.9 }] }]} />);
    const dot = screen.getByTestId("series-mlp_act").querySelector("circle");
    expect(Number(dot?.getAttribute("cx"))).toBeCloseTo((48 + 520 - 12) / 2);  // was 48, the edge
  });

  it("test_a_deep_models_layer_axis_labels_every_nth_layer_not_a_smear", () => {
    const curve = (layers: number) => [{ name: "resid_post",
      points: Array.from({ length: layers }, (_, i) => ({ x: i, y: 10 + i })) }];
    const labels = (title: string) => Array.from(screen.getByRole("img", { name: title })
      .querySelectorAll("text.chart__tick")).filter((t) => t.getAttribute("y") === "188")
      .map((t) => t.textContent ?? "");  // the x axis's (the y axis's are at their value)
    render(<LineChart title="80 layers" xLabel="layer" series={curve(80)} />);
    const deep = labels("80 layers").map(Number);
    expect(deep.length).toBeLessThanOrEqual(16);  // was 80 labels over 460 px
    expect(deep).toEqual(expect.arrayContaining([0, 10, 70]));
    render(<LineChart title="12 layers" xLabel="layer" series={curve(12)} />);
    expect(labels("12 layers")).toHaveLength(12);  // every layer, when there are few
    expect(layerTicks(Array.from({ length: 30 }, (_, i) => i))).toEqual(
      [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28]);
  });
});

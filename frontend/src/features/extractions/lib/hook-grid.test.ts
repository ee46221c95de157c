import {
  cellKey,
  compressLayers,
  selectionToPatterns,
  toggleCell,
  toggleKind,
  toggleLayer,
} from "./hook-grid";

describe("hook grid selection", () => {
  it("test_compress_layers_merges_runs_into_ranges", () => {
    expect(compressLayers([8, 0, 1, 2, 3])).toBe("0-3,8");
    expect(compressLayers([5])).toBe("5");
    expect(compressLayers([1, 3, 5])).toBe("1,3,5");
  });

  it("test_patterns_use_star_for_full_columns_and_braces_otherwise", () => {
    let selection = toggleKind(new Set(), "resid_post", 4);
    selection = toggleCell(selection, 2, "attn_out");
    selection = toggleCell(selection, 0, "mlp_out");
    selection = toggleCell(selection, 1, "mlp_out");
    selection = toggleCell(selection, 3, "mlp_out");
    expect(selectionToPatterns(selection, 4)).toEqual([
      "blocks.2.attn_out",
      "blocks.{0-1,3}.mlp_out",
      "blocks.*.resid_post",
    ]);
  });

  it("test_toggling_a_full_row_or_column_twice_clears_it", () => {
    const row = toggleLayer(new Set(), 1);
    expect(row.size).toBe(5);
    expect(toggleLayer(row, 1).size).toBe(0);
    const column = toggleKind(new Set([cellKey(0, "resid_pre")]), "resid_pre", 3);
    expect(column.size).toBe(3);
    expect(toggleKind(column, "resid_pre", 3).size).toBe(0);
  });

  it("test_header_clicks_skip_points_the_model_cannot_capture", () => {
    const unavailable = new Map([[cellKey(1, "mlp_act"), "mixture-of-experts MLP"]]);
    const column = toggleKind(new Set(), "mlp_act", 3, unavailable);
    expect([...column].sort()).toEqual([cellKey(0, "mlp_act"), cellKey(2, "mlp_act")]);
    expect(selectionToPatterns(column, 3)).toEqual(["blocks.{0,2}.mlp_act"]);
    // all the layers it has are selected: a second click clears them
    expect(toggleKind(column, "mlp_act", 3, unavailable).size).toBe(0);
    const row = toggleLayer(new Set(), 1, undefined, unavailable);
    expect(row.has(cellKey(1, "mlp_act"))).toBe(false);
    expect(row.size).toBe(4);
    // a kind no layer has selects nothing
    const none = new Map([0, 1, 2].map((l) => [cellKey(l, "mlp_act"), "moe"] as const));
    expect(toggleKind(new Set(), "mlp_act", 3, none).size).toBe(0);
  });
});

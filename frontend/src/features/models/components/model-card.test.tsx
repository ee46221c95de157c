import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { renderWithProviders } from "@/test/render";
import { makeModel, makeModelJob } from "../lib/model-factory";
import { formatCosine, ModelCard } from "./model-card";

describe("ModelCard", () => {
  it("test_shows_live_bytes_speed_and_eta_while_downloading", () => {
    renderWithProviders(<ModelCard model={makeModel()} />);
    expect(screen.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "25");
    expect(screen.getByTestId("model-progress-counts")).toHaveTextContent("2.62 MB / 10.5 MB");
    expect(screen.getByText(/1.05 MB\/s/)).toBeInTheDocument();
    expect(screen.getByText(/ETA 8 s/)).toBeInTheDocument();
    const labels = screen.getAllByRole("button").map((b) => b.textContent);
    expect(labels).toEqual(expect.arrayContaining(["Pause", "Cancel"]));
    expect(labels).not.toContain("Delete");
  });

  it("test_ready_model_shows_precision_reason_fidelity_and_drift", () => {
    const model = makeModel({
      status: "ready", job: makeModelJob({ state: "succeeded" }), precision_used: "q8",
      precision_requested: "fp32", precision_reason: "fp32 needs about 1,000 bytes; using q8",
      fidelity: { exact: true, max_abs: 0, cosine: 1 }, disk_bytes: 932_437,
      info: { drift: { q8: { min_layer_cosine: 0.9991, last_layer_cosine: 0.9995 } },
        resident_bytes: 2048, estimated_bytes: 3072 },
    });
    renderWithProviders(<ModelCard model={model} />);
    // measured first, the estimate named as such (the label said "estimated" over both)
    expect(screen.getByTestId("model-memory")).toHaveTextContent("2.05 kB (estimated 3.07 kB)");
    expect(screen.getByText("hooks exact")).toBeInTheDocument();
    expect(screen.getByText("q8 (asked fp32)")).toBeInTheDocument();
    expect(screen.getByText(/using q8/)).toBeInTheDocument();
    expect(screen.getByText("0.999100 / 0.999500")).toBeInTheDocument();
    expect(screen.queryByRole("progressbar")).toBeNull();
    expect(screen.getByRole("button", { name: "Architecture" })).toBeInTheDocument();
  });

  it("test_a_model_from_a_quantized_gguf_says_its_fp32_is_a_copy_of_4_bit_weights", () => {
    const note = "weights dequantized from a 4-bit GGUF (Q4_1) to float32: not the original "
      + "model's weights, and drift vs fp32 is measured against this copy";
    const fromGguf = makeModel({ status: "ready", job: makeModelJob({ state: "succeeded" }),
      source: "bundled", precision_requested: "fp32", precision_used: "fp32",
      source_quantization: { format: "gguf", type: "Q4_1", bits: 4,
        tensor_types: { F32: 61, Q4_1: 210, Q8_0: 1 }, note } });
    const { unmount } = renderWithProviders(<ModelCard model={fromGguf} />);
    expect(screen.getByText("(from Q4_1)", { exact: false })).toHaveAttribute("title", note);
    const line = screen.getByTestId("source-quantization");
    expect(line).toHaveTextContent(`source weights: ${note}`);
    expect(line).toHaveAttribute("title", "tensors by type: F32 61, Q4_1 210, Q8_0 1");
    unmount();

    // any other model: nothing new
    renderWithProviders(<ModelCard model={makeModel({ status: "ready", precision_used: "fp32",
      job: makeModelJob({ state: "succeeded" }) })} />);
    expect(screen.queryByTestId("source-quantization")).toBeNull();
    expect(screen.queryByText(/from Q4_1/)).toBeNull();
  });

  it("test_a_folder_import_says_which_files_it_left_out", async () => {
    const short = makeModel({ status: "ready", job: makeModelJob({ state: "succeeded" }),
      info: { import_skipped: ["README.md", "original/model.pth"], import_skipped_count: 2 } });
    const { unmount } = renderWithProviders(<ModelCard model={short} />);
    expect(screen.getByTestId("import-skipped")).toHaveTextContent(
      "2 files left out: README.md, original/model.pth");
    unmount();

    const names = ["pytorch_model.bin (its .safetensors weights are imported instead)",
      ...Array.from({ length: 99 }, (_, i) => `onnx/part-${i}.onnx`)];
    const long = makeModel({ status: "ready", job: makeModelJob({ state: "succeeded" }),
      info: { import_skipped: names, import_skipped_count: 140 } });
    renderWithProviders(<ModelCard model={long} />);
    const box = screen.getByTestId("import-skipped");
    expect(box.tagName).toBe("DETAILS");
    expect(box).not.toHaveAttribute("open");  // collapsed: one line until asked
    expect(box.querySelector("summary")).toHaveTextContent(
      "140 files left out: pytorch_model.bin (its .safetensors weights are imported instead), "
      + "onnx/part-0.onnx, onnx/part-1.onnx, …");
    await userEvent.click(screen.getByText(/140 files left out/));
    expect(box).toHaveAttribute("open");
    expect(screen.getByText("onnx/part-98.onnx")).toBeVisible();
    expect(box).toHaveTextContent("and 40 more, not listed");
  });

  it("test_a_model_that_left_nothing_out_says_nothing_of_it", () => {
    renderWithProviders(<ModelCard model={makeModel({ info: { import_skipped: [],
      import_skipped_count: 0 } })} />);
    expect(screen.queryByTestId("import-skipped")).toBeNull();
  });

  it("test_paused_gated_model_offers_resume_with_a_token_field", () => {
    const model = makeModel({ status: "paused", info: { gated: true },
      job: makeModelJob({ state: "cancelled" }) });
    renderWithProviders(<ModelCard model={model} />);
    expect(screen.getByLabelText("Access token for resume")).toHaveAttribute("type", "password");
    const labels = screen.getAllByRole("button").map((b) => b.textContent);
    expect(labels).toEqual(expect.arrayContaining(["Resume", "Retry", "Delete"]));
  });
});

describe("formatCosine", () => {
  it("test_drift_cosines_near_one_keep_the_digits_that_tell_precisions_apart", () => {
    // found by a tester: fp16, bf16 and q8 all read "1.0000 / 1.0000"
    expect(formatCosine(0.99996)).toBe("0.999960");
    expect(formatCosine(0.99999)).toBe("0.999990");
    expect(formatCosine(0.954)).toBe("0.9540");
    expect(formatCosine(1)).toBe("1.0000");
  });

  it("test_rename_focuses_the_name_and_escape_or_cancel_leave_it_unchanged", async () => {
    // found by a tester: Rename opened a field without focus and nothing but Save closed it
    const fetchSpy = vi.spyOn(globalThis, "fetch");
    const model = makeModel({ status: "ready", job: makeModelJob({ state: "succeeded" }) });
    renderWithProviders(<ModelCard model={model} />);
    await userEvent.click(screen.getByRole("button", { name: "Rename" }));
    expect(screen.getByRole("textbox", { name: "Model name" })).toHaveFocus();
    await userEvent.keyboard("{Escape}");
    expect(screen.queryByRole("textbox", { name: "Model name" })).toBeNull();
    await userEvent.click(screen.getByRole("button", { name: "Rename" }));
    await userEvent.click(screen.getByRole("button", { name: "Cancel" }));
    expect(screen.queryByRole("textbox", { name: "Model name" })).toBeNull();
    expect(screen.getByText(model.name)).toBeInTheDocument();
    expect(fetchSpy).not.toHaveBeenCalled();
    fetchSpy.mockRestore();
  });

  it("test_the_memory_estimate_shows_only_where_it_differs_from_the_measure", () => {
    // found by a walk: "memory 907 kB (estimated 907 kB)" said the same number twice
    const model = makeModel({ status: "ready", job: makeModelJob({ state: "succeeded" }),
      info: { resident_bytes: 907_000, estimated_bytes: 907_100 } });
    renderWithProviders(<ModelCard model={model} />);
    expect(screen.getByTestId("model-memory").textContent?.trim()).toBe("907 kB");
  });
});

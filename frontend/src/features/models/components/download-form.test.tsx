import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { renderWithProviders } from "@/test/render";
import { DownloadForm } from "./download-form";

describe("DownloadForm", () => {
  it("test_token_is_a_password_field_and_download_waits_for_preflight", async () => {
    renderWithProviders(<DownloadForm />);
    expect(screen.getByLabelText(/Access token/)).toHaveAttribute("type", "password");
    expect(screen.getByRole("button", { name: "Preflight" })).toBeDisabled();
    await userEvent.type(screen.getByLabelText("Repo id"), "org/tiny");
    expect(screen.getByRole("button", { name: "Preflight" })).toBeEnabled();
    expect(screen.getByRole("button", { name: "Download" })).toBeDisabled();
    expect(screen.getAllByRole("option").map((o) => o.textContent)).toEqual([
      "fp32", "fp16", "bf16", "q8", "q4", "q2",
    ]);
  });
});

describe("DownloadForm preflight", () => {
  it("test_asks_the_preflight_with_the_chosen_precision_and_shows_the_kept_layers", async () => {
    const preflight = {
      repo_id: "org/tiny", revision: "main", commit_sha: "abcdef0123456789", key: "org/tiny@abc",
      endpoint: "http://hub", gated: false, private: false, access_url: "http://hub/org/tiny",
      files: [], skipped_files: [], total_bytes: 1_000_000, model_type: "llama",
      architectures: [], n_layers: 2, d_model: 64, vocab_size: 1000, parameter_count: 226_624,
      safetensors_parameter_count: 226_624, memory_estimates: { q4: 300_000 },
      disk_needed_bytes: 1_300_000, quantized_cache_bytes: 300_000, disk_free_bytes: 10 ** 10,
      disk_path: "/data/models", config: {},
    };
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockResolvedValue(
      new Response(JSON.stringify(preflight), { status: 200, headers: { "Content-Type": "application/json" } }),
    );
    renderWithProviders(<DownloadForm />);
    await userEvent.type(screen.getByLabelText("Repo id"), "org/tiny");
    await userEvent.selectOptions(screen.getByRole("combobox", { name: /Precision/ }), "q4");
    await userEvent.click(screen.getByRole("button", { name: "Preflight" }));
    expect(await screen.findByText(/incl\. 300 kB of quantized layers kept/)).toBeInTheDocument();
    const body = JSON.parse(String(fetchSpy.mock.calls[0]?.[1]?.body));
    expect(body).toMatchObject({ repo_id: "org/tiny", precision: "q4", drift_precisions: [] });
    expect(screen.getByRole("button", { name: "Download" })).toBeEnabled();
    await userEvent.selectOptions(screen.getByRole("combobox", { name: /Precision/ }), "q2");
    expect(screen.getByRole("button", { name: "Download" })).toBeDisabled(); // preflight is stale
    fetchSpy.mockRestore();
  });
});

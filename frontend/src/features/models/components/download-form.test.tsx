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

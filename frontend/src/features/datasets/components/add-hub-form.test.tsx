import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { renderWithProviders } from "@/test/render";
import { AddHubForm } from "./add-hub-form";

describe("AddHubForm", () => {
  it("test_sends_the_longest_line_or_record_it_was_given", async () => {
    // a refusal names max_record_bytes; the Hub form sent the default only
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async () =>
      new Response(JSON.stringify({ id: 4, name: "ds", status: "queued" }),
        { status: 201, headers: { "Content-Type": "application/json" } }));
    const created = vi.fn();
    renderWithProviders(<AddHubForm onCreated={created} />);
    await userEvent.type(screen.getByLabelText("Dataset id"), "org/long");
    const limit = screen.getByLabelText("Longest line or record (MiB)");
    await userEvent.clear(limit);
    await userEvent.type(limit, "-1");
    expect(screen.getByRole("button", { name: "Add from the Hub" })).toBeDisabled();
    await userEvent.clear(limit);
    await userEvent.type(limit, "128");
    await userEvent.click(screen.getByRole("button", { name: "Add from the Hub" }));
    await vi.waitFor(() => expect(created).toHaveBeenCalled());
    const body = JSON.parse(String(fetchSpy.mock.calls[0]?.[1]?.body));
    expect(body.read.max_record_bytes).toBe(128 * 1024 * 1024);
    fetchSpy.mockRestore();
  });
});

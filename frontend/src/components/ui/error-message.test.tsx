import { render, screen, within } from "@testing-library/react";
import { ApiError, apiRequest } from "@/lib/api-client";
import { ErrorMessage, fieldOf } from "./error-message";

describe("ErrorMessage", () => {
  it("test_validation_error_lists_each_field_and_its_reason", async () => {
    // the body exactly as api/errors.py answers a RequestValidationError
    const body = { error: { code: "invalid_request", message: "the request is not valid",
      details: { errors: [
        { loc: ["body", "name"], msg: "String should have at least 1 character", type: "string_too_short" },
        { loc: ["body", "policy", "max_length"], msg: "Input should be greater than 0", type: "greater_than" },
        { loc: ["body", "hook_points", 0], msg: "Field required", type: "missing" },
      ] } } };
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockResolvedValue(new Response(
      JSON.stringify(body), { status: 422, headers: { "Content-Type": "application/json" } }));
    const error = await apiRequest("/datasets", { method: "POST", body: { name: "" } }).catch((e) => e);
    fetchSpy.mockRestore();
    expect(error).toBeInstanceOf(ApiError);
    render(<ErrorMessage error={error} title="Not added:" />);
    const alert = screen.getByRole("alert");
    expect(alert).toHaveTextContent("the request is not valid");
    expect(within(alert).getAllByRole("listitem").map((li) => li.textContent)).toEqual([
      "name: String should have at least 1 character",
      "policy.max_length: Input should be greater than 0",
      "hook_points[0]: Field required",
    ]);
  });

  it("test_other_errors_have_no_field_list", () => {
    render(<ErrorMessage error={new ApiError(409, "busy", "in use", {})} />);
    expect(screen.getByRole("alert")).toHaveTextContent("in use");
    expect(screen.queryByRole("list")).toBeNull();
    expect(fieldOf(["query", "limit"])).toBe("limit");
    expect(fieldOf(["body"])).toBe("body");
  });
});

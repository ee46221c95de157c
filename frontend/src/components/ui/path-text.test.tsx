import { render, screen } from "@testing-library/react";
import { PathText } from "./path-text";

describe("PathText", () => {
  it("test_wraps_after_slashes_not_inside_names_and_keeps_the_text", () => {
    const path = "/root/.local/share/interpstudio/extractions/12/store";
    render(<PathText path={path} testId="p" />);
    const code = screen.getByTestId("p");
    expect(code.textContent).toBe(path);  // copied as it is
    expect(code.querySelectorAll("wbr")).toHaveLength(7);  // a break allowed after each "/"
    for (const wbr of code.querySelectorAll("wbr")) {
      expect(wbr.previousSibling?.textContent?.endsWith("/")).toBe(true);
    }
  });
});

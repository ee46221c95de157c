import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { Drawer } from "./drawer";

function Page() {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button type="button" onClick={() => setOpen(true)}>Open job 11</button>
      {open && <Drawer title="Job 11" onClose={() => setOpen(false)}>details</Drawer>}
    </>
  );
}

describe("Drawer", () => {
  it("test_takes_the_focus_when_it_opens_and_gives_it_back_when_it_closes", async () => {
    // found by a tester: the focus stayed on the row link behind the open drawer
    render(<Page />);
    await userEvent.click(screen.getByRole("button", { name: "Open job 11" }));
    expect(screen.getByRole("dialog", { name: "Details" })).toHaveFocus();
    await userEvent.keyboard("{Escape}");
    expect(screen.getByRole("button", { name: "Open job 11" })).toHaveFocus();
  });
});

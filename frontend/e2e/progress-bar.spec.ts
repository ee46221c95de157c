/**
 * How an unknown-fraction progress bar draws in Chromium (layout only a browser computes): the
 * app's stylesheet on the markup `ProgressBar` renders for `value={null}` ("computing the first
 * batch…", an export's assembly, a job starting). Found by a browser walk: a 30 % block slid in
 * from the left edge, eased so that it lingered there, and most frames showed a bar 5-20 % full,
 * read as progress already made. No backend: the stylesheet is read from the source.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, test } from "@playwright/test";

const css = readFileSync(
  join(dirname(fileURLToPath(import.meta.url)), "..", "src", "styles", "global.css"), "utf8");

test("an indeterminate bar never draws a partial fill", async ({ page }) => {
  await page.setContent(`<style>${css}</style>
    <div style="width: 600px; padding: 20px">
      <div class="progress progress--active progress--indeterminate" role="progressbar"
        aria-label="first batch"><div class="progress__fill"></div></div>
    </div>`);
  const sample = () => page.evaluate(() => {
    const track = document.querySelector(".progress")!.getBoundingClientRect();
    const fill = document.querySelector(".progress__fill")!;
    const box = fill.getBoundingClientRect();
    return { left: box.left - track.left, right: track.right - box.right,
      moving: fill.getAnimations().length > 0,
      patterned: getComputedStyle(fill).backgroundImage !== "none" };
  });
  // frames over more than one cycle of the old 1.2 s slide: each one a full track, no level
  for (let frame = 0; frame < 16; frame += 1) {
    const drawn = await sample();
    expect(drawn.left, `frame ${frame}`).toBeCloseTo(0, 0);
    expect(drawn.right, `frame ${frame}`).toBeCloseTo(0, 0);
    await page.waitForTimeout(90);
  }
  // a full bar that neither moves nor differs from a finished one would read as 100 %
  expect(await sample()).toMatchObject({ moving: true, patterned: true });
});

/**
 * The Jobs table's columns, and the step at which a narrowing table leaves each out (as the CLI's
 * fitted tables leave out the least telling columns): 1 the times, 2 rate and ETA, 3 the message,
 * 4 the stage (then shown under the kind). The id, kind, state, progress and actions have none:
 * they always stay. The widths the steps happen at are CSS (`.jobs-table` container queries in
 * styles/global.css). Not responsible for rendering.
 */

/** The step at which each column is left out of a narrowing table (1: first); none: never. */
export const DROP = { times: 1, rate: 2, eta: 2, message: 3, stage: 4 } as const;

export const JOB_COLUMNS: readonly { label: string; drop?: number }[] = [
  { label: "ID" },
  { label: "Kind" },
  { label: "State" },
  { label: "Stage", drop: DROP.stage },
  { label: "Progress" },
  { label: "Actions" },  // before the wide columns: visible at a laptop's width without scrolling
  { label: "Rate", drop: DROP.rate },
  { label: "ETA", drop: DROP.eta },
  { label: "Created", drop: DROP.times },
  { label: "Started", drop: DROP.times },
  { label: "Finished", drop: DROP.times },
  { label: "Message", drop: DROP.message },
];


/**
 * The last ~60 system samples (about two minutes at one every 2 s), for sparklines.
 * Kept in Zustand rather than the query cache because it is UI history, not server state.
 * Not responsible for receiving samples (the app's live wiring and the initial GET record them).
 */
import { create } from "zustand";
import type { SystemStatus } from "@/api/types";

export const METRICS_HISTORY_SIZE = 60;

type MetricsHistoryState = {
  samples: SystemStatus[];
  record: (sample: SystemStatus) => void;
  clear: () => void;
};

export const useMetricsHistoryStore = create<MetricsHistoryState>()((set) => ({
  samples: [],
  record: (sample) =>
    set((state) => {
      const last = state.samples.at(-1);
      if (last && Date.parse(last.timestamp) >= Date.parse(sample.timestamp)) return state;
      return { samples: [...state.samples, sample].slice(-METRICS_HISTORY_SIZE) };
    }),
  clear: () => set({ samples: [] }),
}));

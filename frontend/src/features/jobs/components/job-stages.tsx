/**
 * The finished stages of a job's current attempt: each one's final count and how long it took
 * (the server keeps them on the job row, so a count the live feed coalesced away is still shown).
 * Not responsible for the running stage (`JobProgress` draws it).
 */
import type { Job } from "@/api/types";
import { formatDoneOfTotal, formatEta, MISSING } from "@/lib/format";

export function JobStages({ stages }: { stages: Job["stages"] }) {
  if (!stages || stages.length === 0) return null;
  return (
    <div className="table-scroll">
      <table className="table" aria-label="Finished stages">
        <thead>
          <tr>
            <th scope="col">Stage</th>
            <th scope="col">Count</th>
            <th scope="col">Took</th>
          </tr>
        </thead>
        <tbody>
          {stages.map((s, index) => (
            <tr key={`${index}-${s.stage}`}>
              <td className="mono">{s.stage}</td>
              <td className="num">
                {s.done === null && s.total === null ? MISSING : formatDoneOfTotal(s.done, s.total, s.unit)}
              </td>
              <td className="num">{formatEta(s.seconds)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

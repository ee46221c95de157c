/**
 * The rows of a ready dataset, a page at a time or as a random sample (new seed per click).
 * Not responsible for tokens (see `token-pieces.tsx`).
 */
import { useState } from "react";
import { Button } from "@/components/ui/button";
import { ErrorMessage } from "@/components/ui/error-message";
import { Pagination } from "@/components/ui/pagination";
import { formatExactInteger } from "@/lib/format";
import { useDatasetPreview } from "../api/get-dataset-preview";

const PAGE = 10;

export function PreviewTable({ datasetId }: { datasetId: number }) {
  const [offset, setOffset] = useState(0);
  const [random, setRandom] = useState(false);
  const [seed, setSeed] = useState(0);
  const preview = useDatasetPreview(datasetId, { offset, limit: PAGE, random, seed }, true);

  return (
    <section className="panel" aria-label="Rows">
      <div className="form-row">
        <h3>Rows</h3>
        <Button size="sm" variant={random ? "default" : "primary"} onClick={() => setRandom(false)}>
          In order
        </Button>
        <Button
          size="sm"
          variant={random ? "primary" : "default"}
          onClick={() => (setRandom(true), setSeed((s) => s + 1))}
        >
          Random sample
        </Button>
      </div>
      {preview.error && <ErrorMessage error={preview.error} />}
      <div className="table-scroll">
        <table className="table">
          <thead>
            <tr>
              <th>row</th>
              <th>text</th>
            </tr>
          </thead>
          <tbody>
            {preview.data?.items.map((item) => (
              <tr key={item.row}>
                <td className="num">{item.row}</td>
                <td>
                  <div className="preview-text">
                    {item.text === "" ? <em className="muted">(empty)</em> : item.text}
                    {item.truncated && (
                      <span className="muted" data-testid="preview-cut">
                        {" "}… (first {formatExactInteger(item.text.length)} of{" "}
                        {formatExactInteger(item.chars)} characters)
                      </span>
                    )}
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {!random && preview.data && (
        <Pagination
          ordered
          offset={offset}
          limit={PAGE}
          total={preview.data.total}
          onPageChange={(page) => setOffset((page - 1) * PAGE)}
        />
      )}
    </section>
  );
}

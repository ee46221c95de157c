/**
 * "1–50 of 123" with previous/next buttons: "← Newer / Older →" for lists newest first (the
 * default), "← Previous / Next →" for rows in file order (`ordered`). Not responsible for
 * fetching pages.
 */
import { Button } from "@/components/ui/button";
import { formatNumber } from "@/lib/format";

type PaginationProps = {
  offset: number;
  limit: number;
  total: number;
  onPageChange: (page: number) => void;
  /** Rows in their own order (a dataset's), not a list newest first. */
  ordered?: boolean;
};

export function Pagination({ offset, limit, total, onPageChange, ordered = false }: PaginationProps) {
  const page = Math.floor(offset / limit) + 1;
  const pages = Math.max(1, Math.ceil(total / limit));
  const first = total === 0 ? 0 : offset + 1;
  const last = Math.min(total, offset + limit);
  return (
    <nav className="pagination" aria-label="Pagination">
      <span className="pagination__range num">
        {total === 0 ? "none" : `${formatNumber(first)}–${formatNumber(last)} of ${formatNumber(total)}`}
      </span>
      <Button size="sm" disabled={page <= 1} onClick={() => onPageChange(page - 1)}>
        {ordered ? "← Previous" : "← Newer"}
      </Button>
      <span className="pagination__page num">
        page {page} / {pages}
      </span>
      <Button size="sm" disabled={page >= pages} onClick={() => onPageChange(page + 1)}>
        {ordered ? "Next →" : "Older →"}
      </Button>
    </nav>
  );
}

/**
 * Text beside its token pieces: the "before" (the row's text) and the "after" (each token as it
 * reads, `token-label.ts`, special tokens highlighted, the id and raw piece on hover). Not
 * responsible for fetching.
 */
import { formatCount } from "@/lib/format";
import { tokenLabel, tokenTitle } from "../lib/token-label";
import type { TokenView } from "../types";

export function isSpecialPiece(piece: string | null): boolean {
  return piece !== null && /^<[^<>\s]+>$|^<\|[^|]+\|>$/.test(piece);
}

export function TokenPieces({ view }: { view: TokenView }) {
  return (
    <div className="pieces" aria-label="Token pieces">
      {view.ids.map((id, index) => {
        const piece = view.pieces[index] ?? null;
        const text = view.token_texts[index];
        return (
          <span
            key={`${index}-${id}`}
            className={`piece${isSpecialPiece(piece) ? " piece--special" : ""}`}
            title={tokenTitle(id, piece, text)}
          >
            {tokenLabel(piece, text)}
          </span>
        );
      })}
      {view.n_tokens > view.ids.length && (
        <span className="muted">… {view.n_tokens - view.ids.length} more</span>
      )}
    </div>
  );
}

export function TextBesideTokens({
  text,
  view,
  note,
}: {
  text: string | null;
  view: TokenView;
  note?: string;
}) {
  return (
    <div className="side-by-side">
      <div className="preview-text">{text ?? <em className="muted">(packed window)</em>}</div>
      <div>
        <div className="muted num">
          {formatCount(view.n_tokens, "token")}{note ? ` — ${note}` : ""}
        </div>
        <TokenPieces view={view} />
      </div>
    </div>
  );
}

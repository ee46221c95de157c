/**
 * How a token reads on screen: the text the tokenizer's own decoder gives it (the server sends it
 * beside the raw piece), with whitespace made visible the way tokenizer viewers do: a space is
 * "␣", a newline "↵", a tab "⇥" ("Ġthe" shows "␣the", "Ċ" shows "↵"). The raw piece, the text and
 * the id are in the title, so two pieces that show alike (bytes of one character both read "�")
 * are told apart there. Not responsible for decoding (the server does, exactly).
 */

const VISIBLE: Record<string, string> = { " ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍" };

/** " the\n" -> "␣the↵"; other control characters as `\x1b`. */
export function visibleWhitespace(text: string): string {
  return text.replace(/[\u0000-\u0020\u007f]/g, (c) =>
    VISIBLE[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** What a token shows: its text with visible whitespace; the raw piece where there is no text (a
 * tokenization made before texts were stored), it is empty, or it is not whole characters. */
export function tokenLabel(piece: string | null, text: string | null | undefined): string {
  if (text == null || text === "" || text.includes("\uFFFD")) return piece ?? "";
  return visibleWhitespace(text);
}

/** `id 262 · piece "Ġthe" · text " the"`: the exact forms behind a label. */
export function tokenTitle(id: number, piece: string | null, text: string | null | undefined): string {
  const parts = [`id ${id}`, `piece ${JSON.stringify(piece)}`];
  if (text != null) parts.push(`text ${JSON.stringify(text)}`);
  return parts.join(" · ");
}

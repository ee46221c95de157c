/**
 * Which positions of each sequence an extraction keeps, in words, as `ml/extract_plan.py` plans
 * them: every_k keeps positions k-1, 2k-1, ... (every k-th token, counting from 1), exclude_bos
 * drops position 0 where it is the BOS token. Not responsible for the plan itself.
 */
function ordinal(n: number): string {
  const teen = n % 100 >= 11 && n % 100 <= 13;
  const suffix = teen ? "th" : ({ 1: "st", 2: "nd", 3: "rd" } as Record<number, string>)[n % 10] ?? "th";
  return `${n}${suffix}`;
}

export function positionsText(mode: string, k: number): string {
  if (mode === "every_k") {
    if (k === 1) return "every token";
    return `every ${ordinal(k)} token (positions ${k - 1}, ${2 * k - 1}, ${3 * k - 1}, …)`;
  }
  if (mode === "last") return "the last token of each sequence";
  if (mode === "exclude_bos") return "all but a leading BOS token";
  return "all";
}

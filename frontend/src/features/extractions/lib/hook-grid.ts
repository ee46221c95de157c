/**
 * The layer x hook-kind picker's selection and its translation into hook point patterns
 * (`blocks.*.resid_post`, `blocks.{0-3,8}.attn_out`), the grammar the backend expands.
 * Not responsible for rendering the grid.
 */
import { HOOK_KINDS, type HookKind } from "../types";

export type HookSelection = ReadonlySet<string>;
/** Cell key -> why the model cannot capture that point; such cells are never selected. */
export type Unavailable = ReadonlyMap<string, string>;
export const NONE_UNAVAILABLE: Unavailable = new Map();

/** The cells of `kind` the model has, layer by layer. */
export function availableCells(kind: HookKind, nLayers: number,
  unavailable: Unavailable = NONE_UNAVAILABLE): string[] {
  return Array.from({ length: nLayers }, (_, layer) => cellKey(layer, kind))
    .filter((key) => !unavailable.has(key));
}

export const cellKey = (layer: number, kind: HookKind) => `${layer}:${kind}`;

export function toggleCell(selection: HookSelection, layer: number, kind: HookKind): Set<string> {
  const next = new Set(selection);
  const key = cellKey(layer, kind);
  if (next.has(key)) next.delete(key);
  else next.add(key);
  return next;
}

/** Select every layer of `kind` the model has it in, or clear it when all were selected. */
export function toggleKind(
  selection: HookSelection,
  kind: HookKind,
  nLayers: number,
  unavailable: Unavailable = NONE_UNAVAILABLE,
): Set<string> {
  const keys = availableCells(kind, nLayers, unavailable);
  if (keys.length === 0) return new Set(selection);
  const all = keys.every((key) => selection.has(key));
  const next = new Set(selection);
  for (const key of keys) {
    if (all) next.delete(key);
    else next.add(key);
  }
  return next;
}

/** Select every kind `layer` has, or clear it when all were selected. */
export function toggleLayer(
  selection: HookSelection,
  layer: number,
  kinds: readonly HookKind[] = HOOK_KINDS,
  unavailable: Unavailable = NONE_UNAVAILABLE,
): Set<string> {
  const keys = kinds.map((kind) => cellKey(layer, kind)).filter((key) => !unavailable.has(key));
  const all = keys.every((key) => selection.has(key));
  const next = new Set(selection);
  for (const key of keys) {
    if (all) next.delete(key);
    else next.add(key);
  }
  return next;
}

/** `[0,1,2,3,8]` -> `"0-3,8"`. */
export function compressLayers(layers: readonly number[]): string {
  const sorted = [...new Set(layers)].sort((a, b) => a - b);
  const parts: string[] = [];
  let start = sorted[0];
  for (let i = 1; i <= sorted.length; i += 1) {
    const previous = sorted[i - 1] ?? 0;
    if (i === sorted.length || sorted[i] !== previous + 1) {
      parts.push(start === previous ? `${start}` : `${start}-${previous}`);
      start = sorted[i];
    }
  }
  return parts.join(",");
}

/** The shortest patterns naming exactly the selected points, one per hook kind. */
export function selectionToPatterns(selection: HookSelection, nLayers: number): string[] {
  const patterns: string[] = [];
  for (const kind of HOOK_KINDS) {
    const layers = Array.from({ length: nLayers }, (_, layer) => layer).filter((layer) =>
      selection.has(cellKey(layer, kind)),
    );
    if (layers.length === 0) continue;
    if (layers.length === nLayers) patterns.push(`blocks.*.${kind}`);
    else if (layers.length === 1) patterns.push(`blocks.${layers[0]}.${kind}`);
    else patterns.push(`blocks.{${compressLayers(layers)}}.${kind}`);
  }
  return patterns;
}

/**
 * The layer x hook-kind picker: one checkbox per (layer, kind); a column header selects the kind
 * in every layer, a row label every kind of that layer. Headers are the hook names themselves
 * (a "residual" label beside "resid_pre" left which residual unclear), described on hover.
 * Shows the patterns it will send.
 * Not responsible for the selection rules (see `lib/hook-grid.ts`).
 */
import { HOOK_KIND_DESCRIPTIONS, HOOK_KINDS } from "../types";
import {
  cellKey,
  type HookSelection,
  selectionToPatterns,
  toggleCell,
  toggleKind,
  toggleLayer,
} from "../lib/hook-grid";

export function HookGrid({ nLayers, selection, onChange }: {
  nLayers: number;
  selection: HookSelection;
  onChange: (next: Set<string>) => void;
}) {
  const patterns = selectionToPatterns(selection, nLayers);
  return (
    <div className="hook-grid">
      <div className="hook-grid__scroll">
        <table>
          <thead>
            <tr>
              <th>layer</th>
              {HOOK_KINDS.map((kind) => (
                <th key={kind}>
                  <button type="button" className="link-button"
                    onClick={() => onChange(toggleKind(selection, kind, nLayers))}
                    title={`blocks.*.${kind}: ${HOOK_KIND_DESCRIPTIONS[kind]}`}>
                    {kind}
                  </button>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {Array.from({ length: nLayers }, (_, layer) => (
              <tr key={layer}>
                <th>
                  <button type="button" className="link-button"
                    onClick={() => onChange(toggleLayer(selection, layer))}>
                    {layer}
                  </button>
                </th>
                {HOOK_KINDS.map((kind) => (
                  <td key={kind}>
                    <input type="checkbox" aria-label={`blocks.${layer}.${kind}`}
                      checked={selection.has(cellKey(layer, kind))}
                      onChange={() => onChange(toggleCell(selection, layer, kind))} />
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div className="muted" data-testid="hook-patterns">
        {selection.size} point(s): <code>{patterns.join("  ") || "none"}</code>
      </div>
    </div>
  );
}

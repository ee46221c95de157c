/**
 * The layer x hook-kind picker: one checkbox per (layer, kind); a column header selects the kind
 * in every layer, a row label every kind of that layer. Headers are the hook names themselves
 * (a "residual" label beside "resid_pre" left which residual unclear), described on hover. A point
 * the model has no module for (`mlp_act` of a mixture-of-experts block) is a disabled cell whose
 * hover says why; header clicks skip it. Shows the patterns it will send.
 * Not responsible for the selection rules (see `lib/hook-grid.ts`).
 */
import { HOOK_KIND_DESCRIPTIONS, HOOK_KINDS } from "../types";
import {
  availableCells,
  cellKey,
  type HookSelection,
  NONE_UNAVAILABLE,
  selectionToPatterns,
  type Unavailable,
  toggleCell,
  toggleKind,
  toggleLayer,
} from "../lib/hook-grid";

export function HookGrid({ nLayers, selection, onChange, unavailable = NONE_UNAVAILABLE }: {
  nLayers: number;
  selection: HookSelection;
  onChange: (next: Set<string>) => void;
  unavailable?: Unavailable;
}) {
  const patterns = selectionToPatterns(selection, nLayers);
  return (
    <div className="hook-grid">
      <div className="hook-grid__scroll">
        <table>
          <thead>
            <tr>
              <th>layer</th>
              {HOOK_KINDS.map((kind) => {
                // a kind no layer has (mlp_act of an all-MoE model): a disabled header saying why
                const none = nLayers > 0
                  && availableCells(kind, nLayers, unavailable).length === 0;
                return (
                  <th key={kind}>
                    <button type="button" className="link-button" disabled={none}
                      onClick={() => onChange(toggleKind(selection, kind, nLayers, unavailable))}
                      title={none ? unavailable.get(cellKey(0, kind))
                        : `blocks.*.${kind}: ${HOOK_KIND_DESCRIPTIONS[kind]}`}>
                      {kind}
                    </button>
                  </th>
                );
              })}
            </tr>
          </thead>
          <tbody>
            {Array.from({ length: nLayers }, (_, layer) => (
              <tr key={layer}>
                <th>
                  <button type="button" className="link-button"
                    onClick={() => onChange(toggleLayer(selection, layer, undefined, unavailable))}>
                    {layer}
                  </button>
                </th>
                {HOOK_KINDS.map((kind) => {
                  const reason = unavailable.get(cellKey(layer, kind));
                  return (
                    <td key={kind} title={reason}>
                      <input type="checkbox" aria-label={`blocks.${layer}.${kind}`}
                        checked={selection.has(cellKey(layer, kind))} disabled={reason !== undefined}
                        onChange={() => onChange(toggleCell(selection, layer, kind))} />
                    </td>
                  );
                })}
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

"""Naming a SAELens export's columns by module path (``column_names="module_paths"``).

SAELens's ``AutoModelForCausalLM`` path (``HookedProxyLM``) hooks a module by its
``named_modules()`` path and takes the module's output (element 0 of a tuple). A hook point read
at a module's output (resid_post, attn_out, mlp_out: ``hooks.py``) can be named so; a point read
at a module's input (resid_pre, mlp_act) cannot, and is refused (``NoModulePath``) with one reason
per kind and the points as patterns (``blocks.{0-29}.mlp_act``).

This module is NOT responsible for writing the export (``export.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, get_args

from interpstudio.core.errors import InvalidInput
from interpstudio.ml.hook_points import parse_hook_point

ColumnNames = Literal["hook_points", "module_paths"]


class NoModulePath(InvalidInput):
    """Hook points that no module outputs exactly, so a module path cannot name their column.

    The message names the points by kind, in the app's own pattern syntax
    (``blocks.{0-29}.mlp_act``), with one reason per kind: a store of every layer's resid_pre and
    mlp_act made a message of 60 reasons (12 KB in the export box). ``details`` keeps every
    point's own reason and the nameable points in full."""

    code = "no_module_path"

    def __init__(self, refused: dict[str, str], nameable: list[str],
                 modules: Mapping[str, str] | None = None) -> None:
        reasons = "; ".join(_refusal_lines(list(refused), nameable, modules or {}))
        can = compact_points(nameable) if nameable else "none of them"
        super().__init__(
            f"{len(refused)} hook point(s) cannot be named by a module path, which is what "
            "SAELens hooks with model_class_name='AutoModelForCausalLM' (a module's output, its "
            f"first element when it is a tuple): {reasons}. Stored points that can be: {can}. "
            "Export only those, or use column_names 'hook_points' (SAELens then needs "
            "override_model)",
            details={"refused": refused, "nameable": nameable},
        )


def compact_points(points: Sequence[str]) -> str:
    """``blocks.{0-2,5}.mlp_act, blocks.3.resid_post``: points grouped by kind (in first-seen
    order), layers as ranges, in the syntax ``expand_hook_points`` reads back."""
    layers: dict[str, list[int]] = {}
    for point in points:
        parsed = parse_hook_point(point)
        layers.setdefault(parsed.kind, []).append(parsed.layer)
    return ", ".join(_pattern(sorted(set(ls)), kind) for kind, ls in layers.items())


def _pattern(layers: list[int], kind: str) -> str:
    if len(layers) == 1:
        return f"blocks.{layers[0]}.{kind}"
    spans: list[str] = []
    start = prev = layers[0]
    for layer in [*layers[1:], None]:
        if layer is not None and layer == prev + 1:
            prev = layer
            continue
        spans.append(f"{start}-{prev}" if prev > start else f"{start}")
        if layer is not None:
            start = prev = layer
    return f"blocks.{{{','.join(spans)}}}.{kind}"


def _refusal_lines(refused: list[str], nameable: list[str],
                   modules: Mapping[str, str]) -> list[str]:
    """One reason per kind of refused point (``_why_no_module`` says it per point)."""
    by_kind: dict[str, list[int]] = {}
    for point in refused:
        parsed = parse_hook_point(point)
        by_kind.setdefault(parsed.kind, []).append(parsed.layer)
    lines: list[str] = []
    for kind, layers in by_kind.items():
        if kind == "resid_pre" and 0 in layers:
            lines.append(f"blocks.0.resid_pre: {_why_no_module('blocks.0.resid_pre', modules)}")
            layers = [layer for layer in layers if layer != 0]
        if not layers:
            continue
        points = _pattern(sorted(set(layers)), kind)
        if kind == "resid_pre":
            before = [f"blocks.{layer - 1}.resid_post" for layer in sorted(set(layers))]
            missing = [b for b in before if b not in nameable]
            if not missing:
                where = f"already stored here: export {'those' if len(before) > 1 else 'it'}"
            else:
                them = "them" if len(missing) > 1 else "it"
                where = f"extract {compact_points(missing)} to export {them} by module path"
                if len(missing) < len(before):
                    where += " (the others are stored here)"
            one = len(before) == 1 and before[0] in modules
            example = f" (module {modules[before[0]]})" if one else ""
            lines.append(
                f"{points}: a block's input, which no module outputs by definition; in a plain "
                f"stack block i's input equals blocks.(i-1).resid_post, the block before's output"
                f": {compact_points(before)}{example}, {where}")
        else:
            lines.append(f"{points}: {_why_no_module(f'blocks.{layers[0]}.{kind}', modules)}")
    return lines


def output_modules(layers: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Hook point -> the module whose output it is, for the points read at a module's output,
    from the per-layer records of ``model_inspect.hook_points_by_layer`` (a model's
    ``architecture.json`` ``layers``): the ``modules`` of a ``module_paths`` export."""
    return {point["name"]: point["module"] for layer in layers
            for point in layer.get("hook_points", ())
            if point.get("module") and point.get("phase") == "output"}


def column_map(hooks: list[str], column_names: str, modules: Mapping[str, str] | None,
             stored: Sequence[str]) -> dict[str, str]:
    """Dataset column -> hook point, in ``hooks`` order."""
    if column_names not in get_args(ColumnNames):
        raise InvalidInput(f"column_names must be one of {list(get_args(ColumnNames))}, got "
                           f"{column_names!r}", details={"column_names": column_names})
    if column_names == "hook_points":
        return {h: h for h in hooks}
    if modules is None:
        raise InvalidInput(
            "column_names 'module_paths' needs modules, each hook point's module in the model: "
            "modules=output_modules(hook_points_by_layer(resolve_architecture(model))) (from "
            "interpstudio.ml.export, .model_inspect and .architecture; model: the nn.Module, a "
            "LoadedModel's .model)", details={"column_names": column_names})
    refused = {h: _why_no_module(h, modules) for h in hooks if h not in modules}
    if refused:
        raise NoModulePath(refused, [h for h in stored if h in modules], modules)
    columns = {modules[h]: h for h in hooks}
    if len(columns) < len(hooks):  # two points of one module would be one column
        raise InvalidInput("two hook points name the same module; export them separately",
                           details={"modules": {h: modules[h] for h in hooks}})
    return columns


def _why_no_module(point: str, modules: Mapping[str, str]) -> str:
    """Why no module path names ``point``'s rows exactly (the hook contract of ``hooks.py``)."""
    parsed = parse_hook_point(point)
    if parsed.kind == "resid_pre" and parsed.layer == 0:
        return ("the first block's input, the embeddings as the model combines them (GPT-2 adds "
                "position embeddings, Gemma scales them), which no module outputs")
    if parsed.kind == "resid_pre":
        before = f"blocks.{parsed.layer - 1}.resid_post"
        return (f"block {parsed.layer}'s input, which no module outputs by definition (in a plain "
                f"stack it equals {before}, module {modules.get(before, '?')}; extract {before} "
                "to export it by module path)")
    if parsed.kind == "mlp_act":
        return ("the input of the MLP's down-projection, which no module outputs (a gated MLP "
                "multiplies act(gate) by up just before it)")
    return "this model has no module for it"

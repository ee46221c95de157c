"""Hook point names, the contract between extraction configs, activation stores and the UI.

A hook point is ``blocks.{i}.{kind}`` with ``i`` a decoder layer (0-based, as many as the config's
``num_hidden_layers``) and ``kind`` one of ``HOOK_KINDS``:

- ``resid_pre``: the block's input, equal to HF ``output_hidden_states[i]``;
- ``attn_out``: the raw output of the block's attention sub-module;
- ``mlp_act``: the MLP's hidden activation, the input of its down/out projection;
- ``mlp_out``: the raw output of the block's MLP sub-module;
- ``resid_post``: the block's output, equal to ``output_hidden_states[i + 1]`` (for the last
  layer, before the final norm; see ``fidelity.py``).

Patterns expand to names with ``expand_hook_points``: the layer may be ``*`` (every layer), a
number, or a brace list of numbers and inclusive ranges (``blocks.{0-3,8}.attn_out``); the kind
may be a name, ``*`` or a brace list (``blocks.5.{resid_pre,resid_post}``).

This module is pure string work (no torch): services may validate names with it. It is NOT
responsible for finding the module a point lives on (``hooks.resolve_hook_point``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from interpstudio.core.errors import InvalidInput

HOOK_KINDS: tuple[str, ...] = ("resid_pre", "attn_out", "mlp_act", "mlp_out", "resid_post")

HOOK_KIND_DESCRIPTIONS: dict[str, str] = {
    "resid_pre": "residual stream entering the block (HF hidden_states[i])",
    "attn_out": "raw output of the attention sub-module",
    "mlp_act": "MLP hidden activation (input of the down-projection)",
    "mlp_out": "raw output of the MLP sub-module",
    "resid_post": "residual stream leaving the block (HF hidden_states[i+1], before final norm)",
}

_POINT = re.compile(r"^blocks\.(?P<layer>\*|\d+|\{[^{}]*\})\.(?P<kind>\*|\w+|\{[^{}]*\})$")
_GRAMMAR = "blocks.<layer>.<kind>, layer = N | * | {N,N-M,...}, kind = name | * | {name,...}"


class UnknownHookPoint(InvalidInput):
    """A hook point name or pattern that does not follow the grammar or names no known kind."""

    code = "unknown_hook_point"

    def __init__(self, point: str, reason: str) -> None:
        super().__init__(
            f"unknown hook point {point!r}: {reason}. Write {_GRAMMAR}; "
            f"valid kinds: {', '.join(HOOK_KINDS)}",
            details={"point": point, "reason": reason, "valid_kinds": list(HOOK_KINDS)},
        )


class HookLayerOutOfRange(InvalidInput):
    """A hook point names a layer the model does not have."""

    code = "hook_layer_out_of_range"

    def __init__(self, point: str, layer: int, n_layers: int) -> None:
        super().__init__(
            f"hook point {point!r} names layer {layer}, but the model has {n_layers} layers: "
            f"use a layer in 0..{n_layers - 1}",
            details={
                "point": point,
                "layer": layer,
                "n_layers": n_layers,
                "valid_range": [0, n_layers - 1],
            },
        )


@dataclass(frozen=True, order=True)
class HookPoint:
    """One parsed point; orders by layer, then by position of ``kind`` in a forward pass."""

    layer: int
    kind_order: int
    kind: str

    @property
    def name(self) -> str:
        return f"blocks.{self.layer}.{self.kind}"

    @classmethod
    def of(cls, layer: int, kind: str) -> HookPoint:
        return cls(layer, HOOK_KINDS.index(kind), kind)

    def __str__(self) -> str:
        return self.name


# names other tools give these points (TransformerLens ``hook_*``, nnsight's module outputs)
_KIND_ALIASES: dict[str, str] = {
    "mlp_post": "mlp_act", "mlp.hook_post": "mlp_act", "mlp_hidden": "mlp_act",
    "attn_output": "attn_out", "mlp_output": "mlp_out", "hidden_states": "resid_post",
}
# a module path (``model.layers.3``) or TransformerLens's dotted names (``blocks.3.mlp.hook_post``)
_OTHER_NAMING = re.compile(r"^(?:model\.)?(?:blocks|layers|h)\.(?P<layer>\d+)(?:\.(?P<rest>.+))?$")


def _kind_suggestions(kind: str) -> list[str]:
    """The hook kinds a mistyped or foreign ``kind`` most likely means: one, every kind it begins
    (``resid``: ``resid_pre`` or ``resid_post``; naming the one nearer as text would guess), or
    none."""
    bare = kind.removeprefix("hook_")
    if bare in HOOK_KINDS:
        return [bare]
    if kind in _KIND_ALIASES or bare in _KIND_ALIASES:
        return [_KIND_ALIASES.get(kind) or _KIND_ALIASES[bare]]
    if bare == "resid_mid":  # between attention and MLP: not offered, and close to resid_pre
        return []
    begun = [k for k in HOOK_KINDS if bare and k.startswith(bare)]  # 'resid', 'mlp': a start
    return begun or difflib.get_close_matches(bare, HOOK_KINDS, n=1, cutoff=0.6)


def _either(names: list[str], template: str = "{}") -> str:
    return " or ".join(repr(template.format(name)) for name in names)


def _not_kinds(kinds: list[str]) -> str:
    """The reason for unknown kinds, with what each most likely means ("did you mean")."""
    reason = f"{', '.join(map(repr, kinds))} " + (
        "is not a hook kind" if len(kinds) == 1 else "are not hook kinds")
    meant = [(kind, guess) for kind in kinds if (guess := _kind_suggestions(kind))]
    if meant:
        reason += " (did you mean " + ", ".join(f"{_either(guess)} for {kind!r}" if len(kinds) > 1
                                                else _either(guess) for kind, guess in meant) + "?)"
    return reason


def _name_suggestion(name: str) -> str:
    """For a name outside the grammar that names a layer another way (``model.layers.3``,
    ``blocks.3.mlp.hook_post``), the hook point it most likely means."""
    other = _OTHER_NAMING.match(name.strip())
    if other is None:
        return ""
    rest = other["rest"]
    kinds = ["resid_post"] if rest is None else _kind_suggestions(rest)
    return (f" (did you mean {_either(kinds, 'blocks.' + other['layer'] + '.{}')}?)" if kinds
            else "")


def parse_hook_point(name: str) -> HookPoint:
    """Parse one exact name such as ``blocks.3.resid_post`` (no patterns)."""
    match = _POINT.match(name.strip())
    if match is None or not match["layer"].isdigit():
        raise UnknownHookPoint(
            name, "expected an exact name like blocks.3.resid_post" + _name_suggestion(name))
    kind = match["kind"]
    if kind not in HOOK_KINDS:
        raise UnknownHookPoint(name, _not_kinds([kind]))
    return HookPoint.of(int(match["layer"]), kind)


def _expand_layers(pattern: str, text: str, n_layers: int) -> list[int]:
    if text == "*":
        return list(range(n_layers))
    items = text.strip("{}").split(",") if text.startswith("{") else [text]
    layers: list[int] = []
    for item in (piece.strip() for piece in items):
        bounds = item.split("-")
        if not item or len(bounds) > 2 or not all(bound.strip().isdigit() for bound in bounds):
            raise UnknownHookPoint(pattern, f"layer {item!r} is not a number or a range N-M")
        first, last = int(bounds[0]), int(bounds[-1])
        if first > last:
            raise UnknownHookPoint(pattern, f"range {item!r} runs backwards")
        if last >= n_layers:  # checked before expanding: a range may be astronomically long
            raise HookLayerOutOfRange(pattern, max(first, n_layers), n_layers)
        layers.extend(range(first, last + 1))
    return layers


def _expand_kinds(pattern: str, text: str) -> list[str]:
    if text == "*":
        return list(HOOK_KINDS)
    kinds = [kind.strip() for kind in text.strip("{}").split(",")]
    unknown = [kind for kind in kinds if kind not in HOOK_KINDS]
    if unknown:
        raise UnknownHookPoint(pattern, _not_kinds(unknown))
    return kinds


def expand_hook_points(patterns: str | Iterable[str], n_layers: int) -> list[str]:
    """Expand names and patterns into exact names, deduplicated, in forward-pass order.

    Raises ``UnknownHookPoint`` for a malformed pattern or unknown kind and
    ``HookLayerOutOfRange`` for a layer outside ``0..n_layers-1``.
    """
    if isinstance(patterns, str):
        patterns = [patterns]
    patterns = list(patterns or ())  # None: nothing requested (it was a bare TypeError)
    points: set[HookPoint] = set()
    for pattern in patterns:
        if not isinstance(pattern, str):  # a layer number alone raised a bare AttributeError
            raise UnknownHookPoint(repr(pattern), f"a {type(pattern).__name__} is not a hook "
                                   "point name (a string such as 'blocks.3.resid_post')")
        match = _POINT.match(pattern.strip())
        if match is None:
            raise UnknownHookPoint(pattern, "it does not follow the grammar"
                                   + _name_suggestion(pattern))
        kinds = _expand_kinds(pattern, match["kind"])
        for layer in _expand_layers(pattern, match["layer"], n_layers):
            points.update(HookPoint.of(layer, kind) for kind in kinds)
    if not points:
        raise UnknownHookPoint(", ".join(patterns), "no hook point requested")
    return [point.name for point in sorted(points)]

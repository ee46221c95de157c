"""Capture activations at named hook points during ONE forward pass of an HF causal LM.

    with capture(model, ["blocks.*.resid_post", "blocks.3.attn_out"]) as acts:
        model(input_ids=ids, attention_mask=mask, use_cache=False)
    acts["blocks.3.attn_out"]  # (B, T, d_model), detached

or, equivalently, ``acts = run_and_capture(model, ids, points, attention_mask=mask)``.

Each point becomes one forward hook (``*_out``, ``resid_post``: the module's output, its first
element when it is a tuple or list such as ``(hidden, attn_weights)`` or
``(hidden, router_logits)``) or forward pre-hook (``resid_pre``, ``mlp_act``: the module's first
input, positional or keyword) on the module ``architecture.py`` found. Sub-modules that see tokens
flattened to (B*T, width) (OPT's ``fc2``) are reshaped back to (B, T, width).

A hook only stores a reference to the tensor (no copy). With ``stop_early`` the hook that
completes the set raises ``StopForward``, so the layers after the deepest requested point (and the
final norm and LM head) never run; ``capture`` swallows that exception, so put ONLY the forward
call inside the ``with`` block. Hooks are always removed on exit, also when the forward raises.

Because hooks keep references, a model that later modifies a captured tensor in place (Falcon adds
the attention output into the MLP output with ``+=``) would corrupt it. Every capture checks the
tensors' version counters on exit; a modified point raises ``ActivationModifiedInPlace`` and is
from then on copied when captured for that block class (``run_and_capture`` retries once, so
callers never see it). Version counters do not exist under ``torch.inference_mode``; use
``torch.no_grad`` (as ``run_and_capture`` does) to keep this guard.

This module is NOT responsible for batching, pad removal, dtype conversion or writing anything
(the extraction engine does that), nor for naming points (``hook_points.py``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from interpstudio.core.errors import AppError, InvalidInput, JobCancelled
from interpstudio.ml.architecture import Architecture, resolve_architecture
from interpstudio.ml.hook_points import (
    HOOK_KINDS,
    HookLayerOutOfRange,
    expand_hook_points,
    parse_hook_point,
)

# (block class name, hook kind) pairs seen modified in place after capture; copied from then on.
_COPY_ON_CAPTURE: set[tuple[str, str]] = set()


class UnresolvableHookPoint(InvalidInput):
    """A well-formed point that this model has no module for (e.g. attn_out on a Mamba block)."""

    code = "unresolvable_hook_point"

    def __init__(self, point: str, model_type: str, reason: str) -> None:
        super().__init__(
            f"hook point {point!r} cannot be captured on this {model_type} model: {reason}. "
            "Remove it from the request or choose another point kind.",
            details={"point": point, "model_type": model_type, "reason": reason},
        )


class HookPointNotReached(AppError, RuntimeError):
    """The forward pass ended without running the module of a requested point."""

    code = "hook_point_not_reached"

    def __init__(self, points: list[str]) -> None:
        super().__init__(
            f"the forward pass never reached hook point(s) {', '.join(points)}: the model did not "
            "call their module (a code path that bypasses it). Capture other points instead.",
            details={"points": points},
        )


class HookPointFiredTwice(AppError, RuntimeError):
    """A module ran twice in one capture (two forward calls in one block, or a shared module)."""

    code = "hook_point_fired_twice"

    def __init__(self, point: str) -> None:
        super().__init__(
            f"hook point {point!r} fired twice in one capture: run exactly one forward pass per "
            "capture; a module the model reuses across layers cannot be captured per layer",
            details={"point": point},
        )


class ActivationModifiedInPlace(AppError, RuntimeError):
    """The model modified a captured tensor in place after its hook ran."""

    code = "activation_modified_in_place"

    def __init__(self, points: list[str]) -> None:
        super().__init__(
            f"the model modified captured tensor(s) {', '.join(points)} in place after capture; "
            "they are now copied on capture: run the forward pass again",
            details={"points": points},
        )


class HookPointNotATensor(AppError, TypeError):
    """The module of a point returned (or received) something other than a tensor."""

    code = "hook_point_not_a_tensor"

    def __init__(self, point: str, found: type) -> None:
        super().__init__(
            f"hook point {point!r} got a {found.__name__}, not a tensor: this family's module "
            "returns another structure there; capture another point kind",
            details={"point": point, "found": found.__name__},
        )


class StopForward(Exception):
    """Internal: stops a forward pass once every requested point is captured."""

    def __init__(self, owner: ActivationCapture) -> None:
        super().__init__("all requested hook points captured")
        self.owner = owner


@dataclass(frozen=True)
class ResolvedHookPoint:
    """Where a point is read: the input or the output of one module."""

    name: str
    module_path: str
    phase: Literal["input", "output"]
    layer: int
    block_path: str
    block_class: str

    @property
    def copy_key(self) -> tuple[str, str]:
        return (self.block_class, self.name.rsplit(".", 1)[-1])


def resolve_hook_point(architecture: Architecture, name: str) -> ResolvedHookPoint:
    """The module and phase of an exact point name, or ``UnresolvableHookPoint``."""
    point = parse_hook_point(name)
    if point.layer >= architecture.n_layers:
        raise HookLayerOutOfRange(name, point.layer, architecture.n_layers)
    block = architecture.block(point.layer)
    where: dict[str, tuple[str | None, Literal["input", "output"]]] = {
        "resid_pre": (block.path, "input"),
        "resid_post": (block.path, "output"),
        "attn_out": (block.attn_out, "output"),
        "mlp_out": (block.mlp_out, "output"),
        "mlp_act": (block.down_proj, "input"),
    }
    module_path, phase = where[point.kind]
    if module_path is None:
        raise UnresolvableHookPoint(
            name, architecture.model_type, _missing_reason(block, point.kind)
        )
    return ResolvedHookPoint(name, module_path, phase, point.layer, block.path, block.class_name)


def available_hook_points(architecture: Architecture) -> list[str]:
    """Every point name this model can capture, in forward-pass order (for pickers and checks)."""
    names: list[str] = []
    for block in architecture.blocks:
        for kind in HOOK_KINDS:
            try:
                names.append(resolve_hook_point(architecture, f"blocks.{block.index}.{kind}").name)
            except UnresolvableHookPoint:
                continue
    return names


def _missing_reason(block: Any, kind: str) -> str:
    where = f"block {block.index} ({block.class_name})"
    if kind == "attn_out":
        return f"{where} has no attention sub-module (a recurrent/state-space or conv layer?)"
    if kind == "mlp_out":
        return f"{where} has no MLP sub-module"
    if block.moe:
        return (
            f"{where} has a mixture-of-experts MLP: each expert has its own hidden activation and "
            "there is no single down-projection input; use mlp_out"
        )
    return f"{where} has no MLP down-projection (no linear module writing d_model wide)"


@functools.cache
def _first_input_name(module_class: type[nn.Module]) -> str:
    """Name of the first parameter of ``forward`` after ``self``, for inputs passed by name."""
    try:
        parameters = list(inspect.signature(module_class.forward).parameters)
    except (TypeError, ValueError):
        return "hidden_states"
    return parameters[1] if len(parameters) > 1 else "hidden_states"


class ActivationCapture:
    """Context manager behind ``capture``; entering returns the dict it fills."""

    def __init__(
        self,
        model: nn.Module,
        points: str | Iterable[str],
        *,
        stop_early: bool = True,
        architecture: Architecture | None = None,
    ) -> None:
        architecture = architecture or resolve_architecture(model)
        names = expand_hook_points(points, architecture.n_layers)
        # Resolve everything before installing anything: a bad point fails with no hook left over.
        self.points = [resolve_hook_point(architecture, name) for name in names]
        self.model = model
        self.stop_early = stop_early
        self.activations: dict[str, torch.Tensor] = {}
        # set by a caller that takes each tensor as it is computed (the extraction engine on the
        # CPU casts it into its own memory while it is hot in the cache); what it returns is kept
        self.sink: Callable[[str, torch.Tensor], torch.Tensor] | None = None
        # set by a caller whose passes are long (the extraction engine): checked at every point
        # captured, it ends the pass with ``JobCancelled`` within one layer's compute
        self.should_stop: Callable[[], bool] | None = None
        self._versions: dict[str, int] = {}
        self._handles: list[RemovableHandle] = []
        # (B, T) of each block's input, for sub-modules that see tokens flattened (OPT's fc2).
        self._lead_shapes: dict[int, torch.Size] = {}
        self._sub_module_blocks = {
            point.layer: point.block_path
            for point in self.points
            if point.module_path != point.block_path
        }

    def __enter__(self) -> dict[str, torch.Tensor]:
        # A capture may be entered again for the next batch: each entry starts empty.
        self.activations = {}
        self._versions = {}
        self._lead_shapes = {}
        try:
            for layer, block_path in self._sub_module_blocks.items():
                self._install(block_path, "input", self._shape_recorder(layer))
            for point in self.points:
                self._install(point.module_path, point.phase, self._keeper(point))
        except BaseException:
            self._remove()
            raise
        return self.activations

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        self._remove()
        stopped = isinstance(exc, StopForward) and exc.owner is self
        if exc is not None and not stopped:
            return False
        self._check_complete()
        return stopped

    def _install(self, module_path: str, phase: str, keep: Callable[[torch.Tensor], None]) -> None:
        """Hook ``module_path`` to pass its first output (or first input) tensor to ``keep``."""
        module = self.model.get_submodule(module_path)
        if phase == "output":

            def output_hook(_module: nn.Module, _args: Any, output: Any) -> None:
                keep(output[0] if isinstance(output, (tuple, list)) else output)

            self._handles.append(module.register_forward_hook(output_hook))
        else:
            input_name = _first_input_name(type(module))

            def input_hook(
                _module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
            ) -> None:
                keep(args[0] if args else kwargs[input_name])

            self._handles.append(module.register_forward_pre_hook(input_hook, with_kwargs=True))

    def _shape_recorder(self, layer: int) -> Callable[[torch.Tensor], None]:
        lead_shapes = self._lead_shapes

        def record(block_input: torch.Tensor) -> None:
            lead_shapes[layer] = block_input.shape[:-1]  # (B, T)

        return record

    def _keeper(self, point: ResolvedHookPoint) -> Callable[[torch.Tensor], None]:
        """The few lines each hook runs: store a reference, note its version, maybe stop."""
        name, layer = point.name, point.layer
        copy = point.copy_key in _COPY_ON_CAPTURE
        store, versions, expected = self.activations, self._versions, len(self.points)
        lead_shapes = self._lead_shapes

        def keep(tensor: torch.Tensor) -> None:
            if self.should_stop is not None and self.should_stop():
                raise JobCancelled()
            if name in store:
                raise HookPointFiredTwice(name)
            if not isinstance(tensor, torch.Tensor):
                raise HookPointNotATensor(name, type(tensor))
            if tensor.dim() == 2 and layer in lead_shapes:  # (B*T, width) -> (B, T, width)
                tensor = tensor.reshape(*lead_shapes[layer], -1)
            if self.sink is not None:  # copied now: a later in-place change cannot reach it
                store[name] = self.sink(name, tensor.detach())
            else:
                tensor = tensor.clone() if copy else tensor.detach()
                store[name] = tensor
                if not tensor.is_inference():
                    versions[name] = tensor._version
            if self.stop_early and len(store) == expected:
                raise StopForward(self)

        return keep

    def _remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _check_complete(self) -> None:
        missing = [point.name for point in self.points if point.name not in self.activations]
        if missing:
            raise HookPointNotReached(missing)
        modified = [
            point
            for point in self.points
            if point.name in self._versions
            and self.activations[point.name]._version != self._versions[point.name]
        ]
        if modified:
            _COPY_ON_CAPTURE.update(point.copy_key for point in modified)
            raise ActivationModifiedInPlace([point.name for point in modified])


def capture(
    model: nn.Module,
    points: str | Iterable[str],
    *,
    stop_early: bool = True,
    architecture: Architecture | None = None,
) -> ActivationCapture:
    """Hooks for ``points`` (names or patterns) on ``model`` for one forward pass; see module doc.

    Point errors (``UnknownHookPoint``, ``HookLayerOutOfRange``, ``UnresolvableHookPoint``) are
    raised here, before any hook is installed.
    """
    return ActivationCapture(model, points, stop_early=stop_early, architecture=architecture)


def run_and_capture(
    model: nn.Module,
    input_ids: torch.Tensor,
    points: str | Iterable[str],
    *,
    attention_mask: torch.Tensor | None = None,
    stop_early: bool = True,
    architecture: Architecture | None = None,
) -> dict[str, torch.Tensor]:
    """Run ``model`` on ``input_ids`` (B, T) and return ``{point name: (B, T, width) tensor}``.

    Pad positions are captured like any other (the caller drops them using ``attention_mask``).
    """
    hooks = capture(model, points, stop_early=stop_early, architecture=architecture)
    try:
        return _forward_once(model, hooks, input_ids, attention_mask)
    except ActivationModifiedInPlace:  # those points are copied from now on: one retry suffices
        return _forward_once(model, hooks, input_ids, attention_mask)


def _forward_once(
    model: nn.Module,
    hooks: ActivationCapture,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
) -> dict[str, torch.Tensor]:
    with torch.no_grad(), hooks as activations:
        model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    return activations

"""What a model is made of: its module tree for the UI's architecture viewer, and TRUE parameter
counts (what the model has, not how many stored elements its packed quantized tensors hold).

A parameter's true count, in order of precedence:

1. the owning module declares ``original_parameter_count`` (``ORIGINAL_PARAMETER_COUNT_ATTR``):
   the loader's hook for any quantized format; it replaces all of that module's own parameters;
2. the parameter carries ``original_shape`` (``ORIGINAL_SHAPE_ATTR``) or a bitsandbytes-style
   ``quant_state.shape``;
3. integer-dtype (packed) parameters of a linear-like module (``in_features``/``out_features``:
   bitsandbytes 4/8-bit, HQQ ``W_q``) count as ``in_features * out_features`` together;
4. otherwise ``numel()`` (tensor subclasses such as optimum-quanto's report their logical shape).

Tied parameters (embedding = LM head) count once. ``count_parameters_from_config`` builds the model
on the meta device (no memory, no weights) and counts it.

This module is NOT responsible for memory estimates per precision (the loader multiplies these
counts) or for locating blocks (``architecture.py``; its names only label nodes here).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from interpstudio.ml.architecture import Architecture, output_features
from interpstudio.ml.model_build_lock import MODEL_BUILD

ORIGINAL_PARAMETER_COUNT_ATTR = "original_parameter_count"
ORIGINAL_SHAPE_ATTR = "original_shape"


@dataclass(frozen=True)
class ParameterInfo:
    name: str
    shape: list[int]  # logical shape (the unquantized one where known)
    dtype: str
    count: int  # true element count
    stored_shape: list[int] | None = None  # packed storage shape, when it differs


@dataclass(frozen=True)
class ModuleNode:
    name: str  # qualified name, "" for the root
    class_name: str
    role: (
        str | None
    )  # blocks, block, attention, mlp, down_proj, norm, final_norm, embedding, lm_head
    parameter_count: int  # true count of this module and everything below it
    parameters: list[ParameterInfo] = field(default_factory=list)  # this module's own
    children: list[ModuleNode] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _is_packed(parameter: torch.Tensor) -> bool:
    return not (parameter.dtype.is_floating_point or parameter.dtype.is_complex)


def _own_parameter_infos(module: nn.Module, seen: set[int]) -> list[ParameterInfo]:
    """True counts of the parameters ``module`` itself holds (not its children's)."""
    own = [
        (name, parameter)
        for name, parameter in module.named_parameters(recurse=False)
        if id(parameter) not in seen
    ]
    seen.update(id(parameter) for _, parameter in own)
    declared = getattr(module, ORIGINAL_PARAMETER_COUNT_ATTR, None)
    in_features = getattr(module, "in_features", None)
    out_features = output_features(module)
    packed_linear = isinstance(in_features, int) and out_features is not None
    packed_done = False
    infos: list[ParameterInfo] = []
    for name, parameter in own:
        stored = list(parameter.shape)
        shape = getattr(parameter, ORIGINAL_SHAPE_ATTR, None)
        quant_state = getattr(parameter, "quant_state", None)
        if shape is None and quant_state is not None:
            shape = getattr(quant_state, "shape", None)
        if shape is None and packed_linear and _is_packed(parameter):
            # Packed weights of a linear layer: together they are the (out, in) matrix.
            shape = [] if packed_done else [out_features, in_features]
            packed_done = True
        logical = list(shape) if shape is not None else stored
        count = math.prod(logical) if shape is not None else parameter.numel()
        infos.append(
            ParameterInfo(
                name=name,
                shape=logical,
                dtype=str(parameter.dtype).removeprefix("torch."),
                count=count,
                stored_shape=stored if logical != stored else None,
            )
        )
    if isinstance(declared, int) and infos:
        # The loader's word wins: spread it as one figure on the first parameter.
        infos = [
            ParameterInfo(
                info.name, info.shape, info.dtype, declared if i == 0 else 0, info.stored_shape
            )
            for i, info in enumerate(infos)
        ]
    return infos


def count_parameters(model: nn.Module) -> int:
    """True (unquantized) parameter count of ``model``; tied weights once."""
    seen: set[int] = set()
    return sum(
        info.count for module in model.modules() for info in _own_parameter_infos(module, seen)
    )


def count_parameters_from_config(config: Any) -> int:
    """True parameter count of the causal LM ``config`` describes, built on the meta device."""
    from transformers import AutoModelForCausalLM

    with MODEL_BUILD, torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return count_parameters(model)


def _roles(model: nn.Module, architecture: Architecture | None) -> dict[str, str]:
    roles: dict[str, str] = {}
    for name, module in model.named_modules():
        if isinstance(module, nn.Embedding):
            roles[name] = "embedding"
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    for name, module in model.named_modules():
        if head is not None and module is head:
            roles[name] = "lm_head"
    if architecture is None:
        return roles
    roles[architecture.blocks_path] = "blocks"
    if architecture.final_norm:
        roles[architecture.final_norm] = "final_norm"
    for block in architecture.blocks:
        roles[block.path] = "block"
        for norm in block.norms:
            roles[norm] = "norm"
        for role, path in (
            ("attention", block.attention),
            ("mlp", block.mlp),
            ("down_proj", block.down_proj),
        ):
            if path:
                roles[path] = role
    return roles


def describe_modules(model: nn.Module, architecture: Architecture | None = None) -> ModuleNode:
    """The module tree of ``model`` with true parameter counts and shapes, for a UI viewer.

    Pass ``architecture`` (from ``resolve_architecture``) to label blocks, attention, MLP, norms.
    """
    roles = _roles(model, architecture)
    seen: set[int] = set()

    def build(name: str, module: nn.Module) -> ModuleNode:
        parameters = _own_parameter_infos(module, seen)
        children = [
            build(f"{name}.{child_name}" if name else child_name, child)
            for child_name, child in module.named_children()
        ]
        total = sum(info.count for info in parameters) + sum(c.parameter_count for c in children)
        return ModuleNode(
            name=name,
            class_name=type(module).__name__,
            role=roles.get(name),
            parameter_count=total,
            parameters=parameters,
            children=children,
        )

    return build("", model)

"""Where things are inside a decoder-only HF model: its block list, and per block the attention,
MLP, norms and MLP down-projection, found STRUCTURALLY on the native module tree.

``resolve_architecture(model)`` does not keep a list of families. It finds the ``nn.ModuleList``
holding ``config.num_hidden_layers`` decoder blocks (preferring the class transformers itself
records ``hidden_states`` from, then the shallowest list), then reads each block's children:

- attention: the child whose name says ``attn``/``attention`` (``self_attn``, ``attn``,
  ``attention``, ``self_attention``, ``linear_attn``, ...) or whose class says ``Attention``;
- MLP: the child named ``mlp``/``ffn``/``feed_forward``/``mlp_block``/``block_sparse_moe``/... or
  whose class says MLP/MoE/FeedForward. Blocks without an MLP child (OPT, XGLM, BioGPT keep
  ``fc1``/``fc2`` directly in the block) use their one direct linear child that projects back to
  ``d_model`` as the MLP output;
- down-projection (its input is ``mlp_act``): the linear-like module inside the MLP whose output
  width is ``d_model`` (``down_proj``, ``fc2``, ``c_proj``, ``dense_4h_to_h``, ``w2`` ...). A
  mixture-of-experts MLP has none: its experts are fused 3-D weights;
- a sub-module whose ``forward`` takes a ``residual`` argument adds the residual itself (BLOOM,
  MPT): its raw contribution is the output of its output projection, which is what
  ``attn_out``/``mlp_out`` then point at;
- parallel residual (attention and MLP both read the block input: GPT-J, NeoX, Phi-1/2, Falcon,
  Cohere): the config flags ``use_parallel_residual``/``parallel_attn``/``parallel_residual``/
  ``new_decoder_architecture`` when the family has one, else a block with fewer than two norms.

The layer count is the config's (never the number of top-level modules: embeddings, final norm and
head are not layers). Families whose residual branch is normed AFTER the sub-module (Gemma-2/3/4,
OLMo-2, EXAONE-4, GLM-4 "sandwich" norms) still get the RAW sub-module output as
``attn_out``/``mlp_out``; their residual stream adds ``post_norm(attn_out)``.

This module is NOT responsible for installing hooks (``hooks.py``), naming hook points
(``hook_points.py``), counting parameters (``module_tree.py``) or deciding which configs are
supported before a model is built (``model_support.py``; re-exported here).
"""

from __future__ import annotations

import inspect
import re
import weakref
from dataclasses import asdict, dataclass
from typing import Any

from torch import nn

from interpstudio.ml.model_support import UnsupportedArchitecture, check_supported

__all__ = [
    "Architecture",
    "BlockModules",
    "UnsupportedArchitecture",
    "check_supported",
    "output_features",
    "resolve_architecture",
]

_NORM_CLASS = re.compile(r"norm", re.IGNORECASE)
_ATTENTION_NAME = re.compile(r"attn|attention", re.IGNORECASE)
_ATTENTION_CLASS = re.compile(r"attention", re.IGNORECASE)
_MLP_NAME = re.compile(
    r"^(mlp|mlp_block|ffn|feed_forward|feedforward|block_sparse_moe|moe|ff)$", re.IGNORECASE
)
_MLP_CLASS = re.compile(r"mlp|moe|feedforward", re.IGNORECASE)
_MOE_CLASS = re.compile(r"(experts|moe|moeblock)$", re.IGNORECASE)
_DOWN_PROJ_NAME = re.compile(
    r"^(down_proj|fc2|c_proj|dense_4h_to_h|fc_out|w2|wo|out_proj|dense_out)$", re.IGNORECASE
)
_NON_TEXT_PATH = re.compile(r"vision|visual|image|audio|speech|encoder", re.IGNORECASE)
_PARALLEL_FLAGS = (
    "use_parallel_residual",
    "parallel_attn",
    "parallel_residual",
    "new_decoder_architecture",
)
_LAYER_COUNT_FIELDS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers")
_WIDTH_FIELDS = ("hidden_size", "n_embd", "d_model", "dim")


@dataclass(frozen=True)
class BlockModules:
    """Qualified module names (``model.named_modules()`` keys) of one decoder block's parts."""

    index: int
    path: str
    class_name: str
    attention: str | None
    mlp: str | None
    attn_out: str | None  # module whose output is attn_out (the attention, or its out-projection)
    mlp_out: str | None  # module whose output is mlp_out (the MLP, or its down-projection)
    down_proj: str | None  # module whose input is mlp_act; None for mixture-of-experts MLPs
    norms: tuple[str, ...]
    parallel_residual: bool
    moe: bool


@dataclass(frozen=True)
class Architecture:
    """What ``resolve_architecture`` found; ``blocks[i]`` is decoder layer ``i``."""

    model_type: str
    model_class: str
    n_layers: int
    d_model: int
    d_mlp: int | None  # input width of block 0's down-projection, when it has one
    vocab_size: int | None
    blocks_path: str
    blocks: tuple[BlockModules, ...]
    final_norm: str | None
    parallel_residual: bool
    moe: bool

    def block(self, layer: int) -> BlockModules:
        return self.blocks[layer]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_CACHE: weakref.WeakKeyDictionary[nn.Module, Architecture] = weakref.WeakKeyDictionary()


def resolve_architecture(model: nn.Module, *, refresh: bool = False) -> Architecture:
    """Find the decoder blocks of an HF causal LM and the parts of each block.

    The result is cached per model object; pass ``refresh=True`` after replacing modules in a way
    that changes their names. Raises ``UnsupportedArchitecture`` when the block list cannot be
    found.
    """
    if not refresh and model in _CACHE:
        return _CACHE[model]
    config = getattr(model, "config", None)
    if config is None:
        raise UnsupportedArchitecture(None, f"{type(model).__name__} has no transformers config")
    model_type = check_supported(config)
    text_config = config.get_text_config(decoder=True)
    n_layers = _config_int(text_config, _LAYER_COUNT_FIELDS)
    d_model = _config_int(text_config, _WIDTH_FIELDS)
    if n_layers is None or d_model is None:
        raise UnsupportedArchitecture(
            model_type,
            "its config states no layer count (num_hidden_layers) or width (hidden_size)",
        )
    blocks_path = _find_block_list(model, model_type, n_layers)
    block_list = model.get_submodule(blocks_path)
    parallel_flag = _parallel_flag(text_config)
    blocks = tuple(
        _resolve_block(i, f"{blocks_path}.{i}", block_list[i], d_model, parallel_flag)
        for i in range(n_layers)
    )
    down_proj = blocks[0].down_proj
    architecture = Architecture(
        model_type=model_type,
        model_class=type(model).__name__,
        n_layers=n_layers,
        d_model=d_model,
        d_mlp=_input_features(model.get_submodule(down_proj)) if down_proj else None,
        vocab_size=_config_int(text_config, ("vocab_size",)),
        blocks_path=blocks_path,
        blocks=blocks,
        final_norm=_find_final_norm(model, blocks_path),
        parallel_residual=any(block.parallel_residual for block in blocks),
        moe=any(block.moe for block in blocks),
    )
    _CACHE[model] = architecture
    return architecture


def output_features(module: nn.Module) -> int | None:
    """Output width of a linear-like module (``nn.Linear``, GPT-2 ``Conv1D``, quantized linears)."""
    width = getattr(module, "out_features", None)
    if width is None:
        width = getattr(module, "nf", None)  # transformers.pytorch_utils.Conv1D
    return width if isinstance(width, int) else None


def _input_features(module: nn.Module) -> int | None:
    width = getattr(module, "in_features", None)
    if width is None:
        width = getattr(module, "nx", None)
    return width if isinstance(width, int) else None


def _config_int(config: Any, fields: tuple[str, ...]) -> int | None:
    for name in fields:
        value = getattr(config, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _decoder_layer_class_names(model: nn.Module) -> set[str]:
    """Class names transformers itself treats as decoder layers (output recorders, no-split)."""
    names: set[str] = set()
    for module in (model, getattr(model, "base_model", None)):
        recorders = getattr(module, "_can_record_outputs", None) or {}
        spec = recorders.get("hidden_states") if isinstance(recorders, dict) else None
        target = getattr(spec, "target_class", spec)
        if isinstance(target, type):
            names.add(target.__name__)
        elif isinstance(target, str):
            names.add(target)
        names.update(getattr(module, "_no_split_modules", None) or [])
    return names


def _find_block_list(model: nn.Module, model_type: str, n_layers: int) -> str:
    hinted = _decoder_layer_class_names(model)
    candidates: list[tuple[tuple[int, int, int], str]] = []
    lists_seen: list[str] = []
    for path, module in model.named_modules():
        if not isinstance(module, nn.ModuleList) or len(module) == 0:
            continue
        lists_seen.append(f"{path} ({len(module)} x {type(module[0]).__name__})")
        is_hinted = type(module[0]).__name__ in hinted
        # Exact length first; a longer list of real decoder layers (extra MTP layers) also works,
        # since HF loops over layers[:num_hidden_layers].
        if len(module) != n_layers and not (is_hinted and len(module) > n_layers):
            continue
        rank = (
            0 if is_hinted else 1,
            1 if _NON_TEXT_PATH.search(path) else 0,
            path.count("."),
        )
        candidates.append((rank, path))
    if not candidates:
        raise UnsupportedArchitecture(
            model_type,
            f"could not find its list of {n_layers} decoder layers "
            f"(module lists found: {', '.join(lists_seen) or 'none'})",
        )
    return min(candidates)[1]


def _parallel_flag(config: Any) -> bool | None:
    values = [getattr(config, flag) for flag in _PARALLEL_FLAGS if hasattr(config, flag)]
    if not values:
        return None
    return any(bool(value) for value in values)


def _owns_parameters(module: nn.Module) -> bool:
    return next(module.parameters(), None) is not None


def _is_norm(module: nn.Module) -> bool:
    return bool(_NORM_CLASS.search(type(module).__name__))


def _pick_child(
    children: list[tuple[str, nn.Module]],
    name_pattern: re.Pattern[str],
    class_pattern: re.Pattern[str],
) -> str | None:
    by_name = [name for name, child in children if name_pattern.search(name)]
    if by_name:
        return by_name[0]
    by_class = [name for name, child in children if class_pattern.search(type(child).__name__)]
    return by_class[0] if by_class else None


def _adds_residual_itself(module: nn.Module) -> bool:
    try:
        return "residual" in inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return False


def _is_moe(mlp: nn.Module) -> bool:
    if _MOE_CLASS.search(type(mlp).__name__):
        return True
    return any(
        name.rsplit(".", 1)[-1] == "experts" or _MOE_CLASS.search(type(sub).__name__)
        for name, sub in mlp.named_modules()
        if name
    )


def _projection_to_width(module: nn.Module, d_model: int) -> str | None:
    """Relative name of the linear-like module in ``module`` that writes back ``d_model`` wide."""
    found = [
        name for name, sub in module.named_modules() if name and output_features(sub) == d_model
    ]
    if not found:
        return None
    named = [name for name in found if _DOWN_PROJ_NAME.match(name.rsplit(".", 1)[-1])]
    return (named or found)[-1]


def _join(prefix: str, name: str | None) -> str | None:
    return f"{prefix}.{name}" if name else None


def _resolve_block(
    index: int, path: str, block: nn.Module, d_model: int, parallel_flag: bool | None
) -> BlockModules:
    children = [
        (name, child)
        for name, child in block.named_children()
        if not _is_norm(child) and _owns_parameters(child)
    ]
    norms = tuple(f"{path}.{name}" for name, child in block.named_children() if _is_norm(child))
    attention_name = _pick_child(children, _ATTENTION_NAME, _ATTENTION_CLASS)
    rest = [(name, child) for name, child in children if name != attention_name]
    mlp_name = _pick_child(rest, _MLP_NAME, _MLP_CLASS)

    attn_out = _join(path, attention_name)
    if attention_name and _adds_residual_itself(block.get_submodule(attention_name)):
        projection = _projection_to_width(block.get_submodule(attention_name), d_model)
        attn_out = _join(f"{path}.{attention_name}", projection)

    moe = False
    if mlp_name is not None:
        mlp = block.get_submodule(mlp_name)
        moe = _is_moe(mlp)
        down = None if moe else _projection_to_width(mlp, d_model)
        down_proj = _join(f"{path}.{mlp_name}", down)
        mlp_out = f"{path}.{mlp_name}"
        if _adds_residual_itself(mlp):
            mlp_out = down_proj
    else:  # fc1/fc2 kept directly in the block (OPT, XGLM, BioGPT)
        direct = [
            name
            for name, child in rest
            if output_features(child) == d_model and _input_features(child) != d_model
        ]
        down_proj = mlp_out = f"{path}.{direct[0]}" if len(direct) == 1 else None

    has_both = attn_out is not None and mlp_out is not None
    parallel = parallel_flag if parallel_flag is not None else len(norms) < 2
    return BlockModules(
        index=index,
        path=path,
        class_name=type(block).__name__,
        attention=_join(path, attention_name),
        mlp=_join(path, mlp_name),
        attn_out=attn_out,
        mlp_out=mlp_out,
        down_proj=down_proj,
        norms=norms,
        parallel_residual=bool(parallel and has_both),
        moe=moe,
    )


def _find_final_norm(model: nn.Module, blocks_path: str) -> str | None:
    """The final norm: a norm beside the block list (``model.norm``, ``transformer.ln_f``,
    ``model.decoder.final_layer_norm``). One registered after the list wins; before it, an
    embedding norm (BLOOM's ``word_embeddings_layernorm``) is never taken for the final one."""
    parent_path, _, list_name = blocks_path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    norms_before: list[str] = []
    norms_after: list[str] = []
    seen_list = False
    for name, child in parent.named_children():
        if name == list_name:
            seen_list = True
        elif seen_list and _is_norm(child):
            norms_after.append(name)
        elif _is_norm(child) and "emb" not in name.lower():
            norms_before.append(name)
    candidates = norms_after or norms_before
    if not candidates:
        return None
    return _join(parent_path, candidates[-1]) if parent_path else candidates[-1]

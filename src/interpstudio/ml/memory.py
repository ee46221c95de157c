"""What a model costs in memory at each precision, worked out from its config alone.

This module owns three torch-free facts that the rest of the product shows and relies on:

* the **storage plan** of every precision: which backend stores the weights, at how many bits,
  with which group size / axis and which compute dtype (``storage_plan``);
* the **fallback ladder**: the order in which loading steps down when a precision does not fit,
  always toward LESS memory (``fallback_ladder``);
* the **estimate** of resident bytes (parameters + buffers) of a model at a precision, from a
  ``ParameterInventory`` (true, unquantized parameter counts plus the shapes of the linear layers
  that quantization replaces) or from a transformers config (``estimate_memory``).

Quantized precisions (q8 / q4 / q2) quantize ONLY the ``nn.Linear`` layers inside the decoder
blocks; embeddings, the LM head, norms and biases stay in the compute dtype (bf16 by default).
The backend is HQQ (pure PyTorch, real bit-packing: 8 bits in a uint8, 4 bits two-per-uint8,
2 bits four-per-uint8) with one scale and one zero per group, both in the compute dtype.

This module is NOT responsible for applying a plan (``quantize.py``), loading a model
(``loading.py``) or measuring a loaded model (``quantize.measured_weight_bytes``). It imports
neither torch nor transformers at import time, so services can show estimates cheaply; passing a
transformers config to ``estimate_memory`` builds a meta-device model and does import them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from interpstudio.core.errors import InvalidInput

if TYPE_CHECKING:
    from transformers import PretrainedConfig

Precision = Literal["fp32", "fp16", "bf16", "q8", "q4", "q2"]
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "bf16", "q8", "q4", "q2")
FLOAT_PRECISIONS: dict[str, str] = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
QUANTIZED_BITS: dict[str, int] = {"q8": 8, "q4": 4, "q2": 2}
DTYPE_BYTES: dict[str, int] = {"float32": 4, "float16": 2, "bfloat16": 2}
DEFAULT_QUANTIZED_COMPUTE_DTYPE = "bfloat16"
HQQ_BACKEND = "hqq"
TORCH_BACKEND = "torch"


class UnsupportedPrecision(InvalidInput):
    code = "unsupported_precision"

    def __init__(self, precision: object) -> None:
        super().__init__(
            f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}",
            details={"precision": str(precision), "supported": list(PRECISIONS)},
        )


@dataclass(frozen=True)
class StoragePlan:
    """How the weights are stored at one precision on one kind of device."""

    precision: str
    backend: str  # "torch" (plain dtype) or "hqq" (packed integer codes + per-group scale/zero)
    compute_dtype: str  # dtype of activations and of everything that is not quantized
    bits: int | None = None  # None for float precisions
    group_size: int | None = None  # weights sharing one scale and one zero
    axis: int | None = None  # HQQ grouping axis: 1 = along input features, 0 = along outputs
    optimize: bool = False  # HQQ half-quadratic refinement of the zero points

    @property
    def is_quantized(self) -> bool:
        return self.bits is not None

    @property
    def codes_per_byte(self) -> int:
        return 8 // self.bits if self.bits else 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Chosen on SmolLM2-135M (layer-wise cosine of resid_post vs fp32, see benchmarks/quantize.py):
# q8 needs no refinement; q4 is best grouped along inputs (axis 1, group 64); at q2 grouping
# along outputs (axis 0) with groups of 32 and the HQQ optimizer is the best that still stores
# <= 0.10 of the fp32 weight bytes (2 bits + two bf16 per 32 weights = 3 bits/weight).
# One table per device type, so that a device can get its own backend in one place.
_QUANTIZED_PLANS: dict[str, dict[str, tuple[int, int, bool]]] = {
    # precision: (group_size, axis, optimize)
    "cpu": {"q8": (128, 1, False), "q4": (64, 1, True), "q2": (32, 0, True)},
    "cuda": {"q8": (128, 1, False), "q4": (64, 1, True), "q2": (32, 0, True)},
}


def check_precision(precision: object) -> str:
    """Return ``precision`` if it is one the product supports, else raise UnsupportedPrecision."""
    if precision not in PRECISIONS:
        raise UnsupportedPrecision(precision)
    return str(precision)


def storage_plan(
    precision: str,
    device_type: str = "cpu",
    *,
    compute_dtype: str | None = None,
    group_size: int | None = None,
) -> StoragePlan:
    """The storage plan of ``precision`` on ``device_type`` ("cpu" or "cuda").

    ``compute_dtype`` (a torch dtype name) and ``group_size`` override the defaults of quantized
    precisions; float precisions always compute in their own dtype.
    """
    check_precision(precision)
    if precision in FLOAT_PRECISIONS:
        return StoragePlan(precision, TORCH_BACKEND, FLOAT_PRECISIONS[precision])
    dtype = compute_dtype or DEFAULT_QUANTIZED_COMPUTE_DTYPE
    if dtype not in DTYPE_BYTES:
        raise InvalidInput(
            f"compute dtype {dtype!r} is not supported; use one of {', '.join(DTYPE_BYTES)}",
            details={"compute_dtype": dtype, "supported": list(DTYPE_BYTES)},
        )
    plans = _QUANTIZED_PLANS.get(device_type, _QUANTIZED_PLANS["cpu"])
    default_group, axis, optimize = plans[precision]
    group = group_size or default_group
    if group % 8:
        raise InvalidInput(
            f"group size {group} is not a multiple of 8; pick e.g. 16, 32, 64 or 128",
            details={"group_size": group},
        )
    return StoragePlan(
        precision, HQQ_BACKEND, dtype, QUANTIZED_BITS[precision], group, axis, optimize
    )


def fallback_ladder(requested: str, *, half_precision: str = "bf16") -> list[str]:
    """Precisions to try, in order, starting at ``requested`` and moving to LESS memory.

    ``fp32 -> half -> q8 -> q4 -> q2``. ``half_precision`` is bf16 by default (same exponent range
    as fp32, so large residual-stream activations do not overflow as they can in fp16); on a GPU
    without bf16 the caller passes "fp16". A requested fp16/bf16 goes straight to q8: the other
    16-bit format needs the same bytes.
    """
    check_precision(requested)
    if requested == "fp32":
        return ["fp32", half_precision, "q8", "q4", "q2"]
    if requested in ("fp16", "bf16"):
        return [requested, "q8", "q4", "q2"]
    order = ["q8", "q4", "q2"]
    return order[order.index(requested) :]


@dataclass(frozen=True)
class LinearShape:
    """A linear layer inside a decoder block: what q8/q4/q2 replace with packed codes."""

    out_features: int
    in_features: int

    @property
    def weight_count(self) -> int:
        return self.out_features * self.in_features


@dataclass(frozen=True)
class ParameterInventory:
    """True (unquantized) parameter counts of a model, independent of any precision."""

    parameter_count: int  # unique parameters (tied embeddings counted once)
    block_linears: tuple[LinearShape, ...]  # weights of decoder-block linear layers
    buffer_bytes: int = 0  # e.g. rotary inv_freq, kept as stored

    @property
    def block_linear_weight_count(self) -> int:
        return sum(shape.weight_count for shape in self.block_linears)


def is_quantizable(shape: LinearShape, plan: StoragePlan) -> bool:
    """Whether the backend can pack this weight with this plan (else it stays in compute dtype).

    HQQ reshapes the weight into groups and packs ``codes_per_byte`` rows into one byte, so the
    weight count must split into whole groups and the packed dimension into whole bytes.
    """
    if not plan.is_quantized or plan.group_size is None:
        return False
    count = shape.weight_count
    if count % plan.group_size:
        return False
    packed_rows = count // plan.group_size if plan.axis == 1 else plan.group_size
    return packed_rows % plan.codes_per_byte == 0


def quantized_weight_bytes(shape: LinearShape, plan: StoragePlan) -> int:
    """Bytes HQQ stores for one weight: packed codes plus a scale and a zero per group."""
    assert plan.bits is not None and plan.group_size is not None
    count = shape.weight_count
    codes = count // plan.codes_per_byte
    meta = 2 * (count // plan.group_size) * DTYPE_BYTES[plan.compute_dtype]
    return codes + meta


def estimate_from_inventory(inventory: ParameterInventory, plan: StoragePlan) -> int:
    """Resident bytes (parameters + buffers) of a model stored as ``plan`` says."""
    dense_bytes = DTYPE_BYTES[plan.compute_dtype]
    total = inventory.buffer_bytes
    dense_params = inventory.parameter_count
    if plan.is_quantized:
        for shape in inventory.block_linears:
            if is_quantizable(shape, plan):
                total += quantized_weight_bytes(shape, plan)
                dense_params -= shape.weight_count
    return total + dense_params * dense_bytes


def estimate_memory(
    source: ParameterInventory | PretrainedConfig,
    precision: str,
    *,
    device_type: str = "cpu",
    compute_dtype: str | None = None,
    group_size: int | None = None,
) -> int:
    """Estimated resident bytes of parameters + buffers at ``precision``.

    ``source`` is a ``ParameterInventory`` or a transformers config (then the model is built on
    the meta device, which allocates no weights, to count parameters exactly).
    """
    plan = storage_plan(precision, device_type, compute_dtype=compute_dtype, group_size=group_size)
    inventory = source if isinstance(source, ParameterInventory) else _inventory_of(source)
    return estimate_from_inventory(inventory, plan)


def estimate_all(
    source: ParameterInventory | PretrainedConfig,
    *,
    device_type: str = "cpu",
    compute_dtype: str | None = None,
) -> dict[str, int]:
    """``estimate_memory`` for every precision, in ``PRECISIONS`` order."""
    inventory = source if isinstance(source, ParameterInventory) else _inventory_of(source)
    return {
        precision: estimate_memory(
            inventory, precision, device_type=device_type, compute_dtype=compute_dtype
        )
        for precision in PRECISIONS
    }


def _inventory_of(config: PretrainedConfig) -> ParameterInventory:
    from interpstudio.ml.quantize import inventory_from_config  # torch-heavy: import on use

    return inventory_from_config(config)

"""Hook points on real tiny models of every test family: values, early stop, cleanup, errors."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import torch
from tiny_models import (
    EXTRA_TEST_FAMILIES,
    FAMILY_LAYOUTS,
    SUPPORTED_TEST_FAMILIES,
    tiny_causal_lm,
)
from torch import nn
from transformers import PreTrainedModel

from interpstudio.ml import hooks as hooks_module
from interpstudio.ml.architecture import resolve_architecture
from interpstudio.ml.fidelity import fidelity_probe
from interpstudio.ml.hook_points import HookLayerOutOfRange, UnknownHookPoint, expand_hook_points
from interpstudio.ml.hooks import (
    ActivationModifiedInPlace,
    HookPointFiredTwice,
    HookPointNotReached,
    UnresolvableHookPoint,
    available_hook_points,
    capture,
    run_and_capture,
)

ATOL = 1e-5
MOE_FAMILIES = {family for family, layout in FAMILY_LAYOUTS.items() if layout.down_proj is None}


@functools.cache
def model_of(family: str) -> PreTrainedModel:
    return tiny_causal_lm(family)


def token_batch(batch: int = 2, length: int = 7, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(3, 256, (batch, length), generator=generator)  # (B, T)


def all_points(family: str) -> list[str]:
    kinds = "{resid_pre,attn_out,mlp_out,resid_post}" if family in MOE_FAMILIES else "*"
    return [f"blocks.*.{kinds}"]


def first(output: Any) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output


@contextmanager
def plain_hooks(model: nn.Module, outputs: dict[str, str]) -> Iterator[dict[str, torch.Tensor]]:
    """The test's own oracle: forward hooks that CLONE each named module's output."""
    seen: dict[str, torch.Tensor] = {}
    handles = []
    for key, path in outputs.items():

        def hook(_m: nn.Module, _a: Any, output: Any, key: str = key) -> None:
            seen[key] = first(output).detach().clone()

        handles.append(model.get_submodule(path).register_forward_hook(hook))
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()


def hook_counts(model: nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._forward_hooks_with_kwargs)
        for m in model.modules()
    )


@pytest.mark.parametrize("family", SUPPORTED_TEST_FAMILIES)
def test_residual_points_equal_hidden_states(family: str) -> None:
    model = model_of(family)
    ids = token_batch()
    n = model.config.num_hidden_layers
    acts = run_and_capture(model, ids, ["blocks.*.{resid_pre,resid_post}"], stop_early=False)
    with torch.no_grad():
        hidden = model(input_ids=ids, output_hidden_states=True, use_cache=False).hidden_states
        final_norm = model.get_submodule(FAMILY_LAYOUTS[family].final_norm)
        last = final_norm(acts[f"blocks.{n - 1}.resid_post"])

    assert len(hidden) == n + 1
    for i in range(n):
        torch.testing.assert_close(acts[f"blocks.{i}.resid_pre"], hidden[i], atol=ATOL, rtol=0)
    for i in range(n - 1):
        torch.testing.assert_close(acts[f"blocks.{i}.resid_post"], hidden[i + 1], atol=ATOL, rtol=0)
    # transformers puts last_hidden_state (final norm applied) in hidden_states[n].
    torch.testing.assert_close(last, hidden[n], atol=ATOL, rtol=0)


@pytest.mark.parametrize("family", SUPPORTED_TEST_FAMILIES)
def test_sub_module_points_equal_plain_hook_outputs(family: str) -> None:
    model = model_of(family)
    layout = FAMILY_LAYOUTS[family]
    ids = token_batch()
    oracle_paths = {}
    for i in range(model.config.num_hidden_layers):
        block = f"{layout.blocks}.{i}"
        oracle_paths[f"blocks.{i}.attn_out"] = f"{block}.{layout.attn_out}"
        oracle_paths[f"blocks.{i}.mlp_out"] = f"{block}.{layout.mlp_out}"
    with plain_hooks(model, oracle_paths) as expected:
        acts = run_and_capture(model, ids, all_points(family), stop_early=False)

    for name, tensor in expected.items():
        assert acts[name].shape == (2, 7, 64)
        torch.testing.assert_close(acts[name], tensor.reshape(2, 7, -1), atol=0, rtol=0, msg=name)


@pytest.mark.parametrize("family", SUPPORTED_TEST_FAMILIES)
def test_residual_stream_decomposes_into_attn_and_mlp_out(family: str) -> None:
    """resid_post = resid_pre + attn_out + mlp_out, via a family's post-norms."""
    model = model_of(family)
    layout = FAMILY_LAYOUTS[family]
    acts = run_and_capture(model, token_batch(), all_points(family))
    for i in range(model.config.num_hidden_layers):
        attn, mlp = acts[f"blocks.{i}.attn_out"], acts[f"blocks.{i}.mlp_out"]
        if layout.branch_norms:
            block = model.get_submodule(f"{layout.blocks}.{i}")
            with torch.no_grad():
                attn = block.get_submodule(layout.branch_norms[0])(attn)
                mlp = block.get_submodule(layout.branch_norms[1])(mlp)
        delta = acts[f"blocks.{i}.resid_post"] - acts[f"blocks.{i}.resid_pre"]
        torch.testing.assert_close(delta, attn + mlp, atol=ATOL, rtol=0)


@pytest.mark.parametrize("family", sorted(set(SUPPORTED_TEST_FAMILIES) - MOE_FAMILIES))
def test_mlp_act_is_input_of_down_projection(family: str) -> None:
    model = model_of(family)
    layout = FAMILY_LAYOUTS[family]
    acts = run_and_capture(model, token_batch(), ["blocks.1.{mlp_act,mlp_out}"])
    down = model.get_submodule(f"{layout.blocks}.1.{layout.down_proj}")
    with torch.no_grad():
        recomputed = down(acts["blocks.1.mlp_act"])
    assert acts["blocks.1.mlp_act"].shape[-1] == resolve_architecture(model).d_mlp
    torch.testing.assert_close(recomputed, acts["blocks.1.mlp_out"], atol=ATOL, rtol=0)


@pytest.mark.parametrize("family", SUPPORTED_TEST_FAMILIES)
def test_parallel_residual_flag_matches_behaviour(family: str) -> None:
    """Perturb attention's output: a parallel block's MLP input does not change."""
    model = model_of(family)
    block = resolve_architecture(model).blocks[0]
    mlp_entry = model.get_submodule(block.mlp or block.mlp_out)
    attn_module = model.get_submodule(block.attn_out)
    seen: list[torch.Tensor] = []

    def record(_m: nn.Module, args: tuple[Any, ...]) -> None:
        seen.append(args[0].clone())

    def perturb(_m: nn.Module, _a: Any, output: Any) -> Any:
        if isinstance(output, tuple):
            return (output[0] + 1.0, *output[1:])
        return output + 1.0

    ids = token_batch()
    entry_handle = mlp_entry.register_forward_pre_hook(record)
    try:
        with torch.no_grad():
            model(input_ids=ids, use_cache=False)
            with_perturbation = attn_module.register_forward_hook(perturb)
            try:
                model(input_ids=ids, use_cache=False)
            finally:
                with_perturbation.remove()
    finally:
        entry_handle.remove()
    mlp_input_unchanged = torch.equal(seen[0], seen[-1])
    assert mlp_input_unchanged is block.parallel_residual


@pytest.mark.parametrize("family", SUPPORTED_TEST_FAMILIES)
def test_stop_early_skips_later_layers_and_head(family: str) -> None:
    model = model_of(family)
    layout = FAMILY_LAYOUTS[family]
    calls: list[str] = []
    watched = {
        "last_block": model.get_submodule(f"{layout.blocks}.2"),
        "final_norm": model.get_submodule(layout.final_norm),
        "lm_head": model.get_output_embeddings(),
    }
    handles = [
        module.register_forward_hook(lambda *_, name=name: calls.append(name))
        for name, module in watched.items()
    ]
    try:
        acts = run_and_capture(model, token_batch(), ["blocks.{0-1}.resid_post"])
        assert calls == []
        run_and_capture(model, token_batch(), ["blocks.2.resid_post"])
        assert calls == ["last_block"]
        run_and_capture(model, token_batch(), ["blocks.0.resid_post"], stop_early=False)
    finally:
        for handle in handles:
            handle.remove()
    assert calls == ["last_block", "last_block", "final_norm", "lm_head"]
    assert set(acts) == {"blocks.0.resid_post", "blocks.1.resid_post"}


@pytest.mark.parametrize("family", ["llama", "gpt2", "falcon"])
def test_hooks_removed_after_exit_and_after_exception(family: str) -> None:
    model = model_of(family)
    before = hook_counts(model)
    with capture(model, all_points(family), stop_early=False) as acts:
        assert hook_counts(model) > before
        model(input_ids=token_batch(), use_cache=False)
    assert hook_counts(model) == before
    assert len(acts) == 15

    with pytest.raises(ValueError, match="boom"), capture(model, all_points(family)):
        raise ValueError("boom")
    assert hook_counts(model) == before

    with pytest.raises(IndexError), capture(model, "blocks.*.resid_post"):
        model(input_ids=torch.full((1, 4), 10_000), use_cache=False)  # id beyond the vocabulary
    assert hook_counts(model) == before


@pytest.mark.parametrize("family", SUPPORTED_TEST_FAMILIES)
def test_right_padded_batch_captures_same_real_tokens(family: str) -> None:
    model = model_of(family)
    ids = token_batch(batch=2, length=8)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0  # row 1 has 5 real tokens, then padding
    points = ["blocks.*.{resid_pre,resid_post,attn_out,mlp_out}"]
    padded = run_and_capture(model, ids, points, attention_mask=mask)
    alone = run_and_capture(model, ids[1:, :5], points, attention_mask=mask[1:, :5])
    for name, tensor in alone.items():
        assert padded[name].shape == (2, 8, 64)
        torch.testing.assert_close(padded[name][1:, :5], tensor, atol=1e-4, rtol=0, msg=name)


@pytest.mark.parametrize("family", SUPPORTED_TEST_FAMILIES)
def test_fidelity_probe_exact_in_fp32(family: str) -> None:
    ids = token_batch()
    mask = torch.ones_like(ids)
    mask[0, -2:] = 0
    report = fidelity_probe(model_of(family), ids, attention_mask=mask)
    assert report.max_abs <= ATOL
    assert report.cosine >= 1 - 1e-6
    assert len(report.per_layer) == 3
    assert report.per_layer[0].reference == "hidden_states[1]"
    assert report.last_layer_reference.startswith(f"{FAMILY_LAYOUTS[family].final_norm}(")


def test_in_place_modification_is_detected_then_copied_falcon() -> None:
    """Falcon adds attention into the MLP output with +=; a kept reference would be corrupted."""
    model = model_of("falcon")
    layout = FAMILY_LAYOUTS["falcon"]
    hooks_module._COPY_ON_CAPTURE.discard(("FalconDecoderLayer", "mlp_out"))
    ids = token_batch()
    hooks = capture(model, "blocks.0.mlp_out", stop_early=False)
    with (
        pytest.raises(ActivationModifiedInPlace, match=r"blocks\.0\.mlp_out"),
        torch.no_grad(),
        hooks,
    ):
        model(input_ids=ids, use_cache=False)
    oracle = plain_hooks(model, {"mlp": f"{layout.blocks}.0.mlp"})
    with oracle as expected, torch.no_grad(), hooks as acts:
        model(input_ids=ids, use_cache=False)
    torch.testing.assert_close(acts["blocks.0.mlp_out"], expected["mlp"], atol=0, rtol=0)


def test_a_sink_takes_each_point_as_computed_before_any_in_place_change_falcon() -> None:
    """With a sink (the extraction engine on the CPU), each point is handed over as its module
    returns it: Falcon's later += cannot reach what the sink copied, so no retry is needed even
    where a kept reference would be corrupted."""
    model = model_of("falcon")
    layout = FAMILY_LAYOUTS["falcon"]
    hooks_module._COPY_ON_CAPTURE.discard(("FalconDecoderLayer", "mlp_out"))
    ids = token_batch()
    hooks = capture(model, "blocks.0.mlp_out", stop_early=False)
    hooks.sink = lambda name, tensor: tensor.clone()
    oracle = plain_hooks(model, {"mlp": f"{layout.blocks}.0.mlp"})
    with oracle as expected, torch.no_grad(), hooks as acts:  # no ActivationModifiedInPlace
        model(input_ids=ids, use_cache=False)
    torch.testing.assert_close(acts["blocks.0.mlp_out"], expected["mlp"], atol=0, rtol=0)
    assert ("FalconDecoderLayer", "mlp_out") not in hooks_module._COPY_ON_CAPTURE


def test_capture_can_be_entered_once_per_batch() -> None:
    model = model_of("llama")
    hooks = capture(model, "blocks.1.resid_post")
    results = []
    for seed in (1, 2):
        with torch.no_grad(), hooks as acts:
            model(input_ids=token_batch(seed=seed), use_cache=False)
        results.append(acts["blocks.1.resid_post"])
    assert not torch.equal(results[0], results[1])
    torch.testing.assert_close(
        results[1],
        run_and_capture(model, token_batch(seed=2), "blocks.1.resid_post")["blocks.1.resid_post"],
    )


def test_resid_pre_read_from_keyword_argument() -> None:
    model = model_of("gpt2")
    hidden = torch.randn(1, 4, 64)  # (B, T, d_model)
    with torch.no_grad(), capture(model, "blocks.0.resid_pre") as acts:
        model.transformer.h[0](hidden_states=hidden)
    torch.testing.assert_close(acts["blocks.0.resid_pre"], hidden, atol=0, rtol=0)


def test_point_not_reached_is_an_error() -> None:
    model = model_of("gpt2")
    hooks = capture(model, "blocks.{0,1}.resid_post")
    with pytest.raises(HookPointNotReached, match=r"blocks\.1\.resid_post"), torch.no_grad(), hooks:
        model.transformer.h[0](torch.randn(1, 4, 64))  # only block 0 runs


def test_point_fired_twice_is_an_error() -> None:
    model = model_of("llama")
    hooks = capture(model, "blocks.0.resid_post", stop_early=False)
    with pytest.raises(HookPointFiredTwice, match=r"blocks\.0\.resid_post"), torch.no_grad(), hooks:
        model(input_ids=token_batch(), use_cache=False)
        model(input_ids=token_batch(), use_cache=False)


@pytest.mark.parametrize(
    ("points", "error", "message"),
    [
        ("blocks.0.resid_mid", UnknownHookPoint, "valid kinds: resid_pre, attn_out"),
        ("layers.0.resid_post", UnknownHookPoint, "does not follow the grammar"),
        ("blocks.3.resid_post", HookLayerOutOfRange, r"use a layer in 0\.\.2"),
        ("blocks.{1-5}.attn_out", HookLayerOutOfRange, "has 3 layers"),
    ],
)
def test_bad_points_fail_before_any_hook(points: str, error: type, message: str) -> None:
    model = model_of("llama")
    before = hook_counts(model)
    with pytest.raises(error, match=message):
        capture(model, points)
    assert hook_counts(model) == before


@pytest.mark.parametrize("points", [[0], ["blocks.0.resid_post", 3], None, []])
def test_points_that_are_not_names_say_what_to_write(points: Any) -> None:
    """A notebook's ``extract(model, tok, [0], ...)`` raised a bare AttributeError ('int' object
    has no attribute 'strip'), ``None`` a bare TypeError."""
    with pytest.raises(UnknownHookPoint, match=r"blocks\.<layer>\.<kind>"):
        expand_hook_points(points, n_layers=2)


def test_expand_huge_layer_range_is_refused_before_expanding() -> None:
    # expanding first built a list of 10**12 ints (MemoryError) before the range check
    with pytest.raises(HookLayerOutOfRange, match="has 2 layers") as raised:
        expand_hook_points("blocks.{0-999999999999}.resid_post", n_layers=2)
    assert raised.value.details["layer"] == 2
    with pytest.raises(HookLayerOutOfRange) as raised:
        expand_hook_points("blocks.{1,7-999999999999}.resid_post", n_layers=2)
    assert raised.value.details["layer"] == 7
    assert expand_hook_points("blocks.{0-1}.resid_post", n_layers=2) == [
        "blocks.0.resid_post", "blocks.1.resid_post"]


def test_mlp_act_on_mixture_of_experts_names_the_point() -> None:
    with pytest.raises(UnresolvableHookPoint, match="mixture-of-experts") as raised:
        capture(model_of("mixtral"), "blocks.1.mlp_act")
    assert raised.value.details["point"] == "blocks.1.mlp_act"
    assert raised.value.code == "unresolvable_hook_point"


def test_attn_out_on_state_space_model_is_unresolvable_but_residual_works() -> None:
    model = tiny_causal_lm("mamba", num_hidden_layers=2)
    with pytest.raises(UnresolvableHookPoint, match="no attention"):
        capture(model, "blocks.0.attn_out")
    acts = run_and_capture(model, token_batch(), "blocks.*.resid_post")
    assert acts["blocks.1.resid_post"].shape == (2, 7, 64)


# Extra families whose residual update is NOT resid_pre + attn_out + mlp_out, and why (read in
# their modeling files); attn_out/mlp_out are still the raw sub-module outputs.
NOT_ADDITIVE = {
    "exaone4": "post-norms on both branches (like OLMo-2)",
    "glm4": "post_self_attn_layernorm / post_mlp_layernorm on the branches",
    "minimax": "residual and branches scaled by per-layer alpha/beta factors",
    "openai-gpt": "post-LN block: the block output is ln_2(...), not a residual sum",
}


@pytest.mark.parametrize("family", EXTRA_TEST_FAMILIES)
def test_extra_family_fidelity_and_every_resolvable_point(family: str) -> None:
    model = tiny_causal_lm(family)
    ids = token_batch()
    architecture = resolve_architecture(model)
    assert architecture.n_layers == model.config.num_hidden_layers
    assert fidelity_probe(model, ids, architecture=architecture).max_abs <= ATOL

    wanted = {
        "attn_out": lambda block: block.attn_out,
        "mlp_out": lambda block: block.mlp_out,
        "mlp_act": lambda block: block.down_proj,
    }
    points = ["blocks.*.{resid_pre,resid_post}"] + [
        f"blocks.{block.index}.{kind}"
        for block in architecture.blocks
        for kind, module_of in wanted.items()
        if module_of(block)
    ]
    acts = run_and_capture(model, ids, points)
    assert all(tensor.shape[:2] == (2, 7) for tensor in acts.values())
    if family in NOT_ADDITIVE:
        return
    for block in architecture.blocks:
        i = block.index
        if block.attn_out and block.mlp_out:
            delta = acts[f"blocks.{i}.resid_post"] - acts[f"blocks.{i}.resid_pre"]
            summed = acts[f"blocks.{i}.attn_out"] + acts[f"blocks.{i}.mlp_out"]
            torch.testing.assert_close(delta, summed, atol=ATOL, rtol=0)


def test_capture_on_quantized_model_matches_hidden_states() -> None:
    quanto = pytest.importorskip("optimum.quanto")
    model = tiny_causal_lm("llama")
    # int8 weights are tensor subclasses too; int4's CPU forward first compiles quanto's C++
    # unpack extension (~50 s of a fresh venv, i.e. of every CI run)
    quanto.quantize(model, weights=quanto.qint8)
    quanto.freeze(model)
    assert isinstance(model.model.layers[1].mlp.down_proj.weight, quanto.QTensor)
    assert fidelity_probe(model, token_batch()).max_abs == 0.0
    acts = run_and_capture(model, token_batch(), "blocks.1.{mlp_act,mlp_out}")
    assert acts["blocks.1.mlp_act"].shape == (2, 7, 128)


def test_available_hook_points_lists_only_resolvable_ones() -> None:
    assert len(available_hook_points(resolve_architecture(model_of("llama")))) == 15
    moe = available_hook_points(resolve_architecture(model_of("mixtral")))
    assert "blocks.0.mlp_out" in moe
    assert not any(name.endswith("mlp_act") for name in moe)
    hybrid = resolve_architecture(tiny_causal_lm("jamba"))  # layer 0 is a Mamba layer
    names = available_hook_points(hybrid)
    assert "blocks.0.attn_out" not in names
    assert "blocks.0.mlp_out" in names
    assert names == expand_hook_points(names, hybrid.n_layers)  # forward-pass order


def test_the_architecture_page_marks_points_a_moe_block_lacks_with_why() -> None:
    """What the model page and the extraction picker read: a mixture-of-experts block has no
    single ``mlp_act`` (each expert has its own), so that point is listed as unavailable with the
    reason the engine would refuse it with; every other point has its module."""
    from interpstudio.ml.architecture import resolve_architecture
    from interpstudio.ml.model_inspect import hook_points_by_layer

    layers = hook_points_by_layer(resolve_architecture(tiny_causal_lm("mixtral")))
    for layer in layers:
        points = {p["kind"]: p for p in layer["hook_points"]}
        assert "mixture-of-experts" in points["mlp_act"]["unavailable"]
        assert points["mlp_act"]["module"] is None
        assert all(p["module"] and not p.get("unavailable")
                   for kind, p in points.items() if kind != "mlp_act")


@pytest.mark.parametrize(("family", "sandwich"), [("gemma2", True), ("olmo2", True),
                                                  ("llama", False), ("gpt2", False)])
def test_sandwich_normed_families_say_their_residual_adds_the_normed_output(
        family: str, sandwich: bool) -> None:
    """Found by a tester: for Gemma-2/3 and OLMo-2 attn_out + mlp_out differ from the residual
    update by ~100 % (the stream adds post_norm(attn_out)), and the descriptions did not say so
    (only a docstring did); Llama's post_attention_layernorm is a pre-norm and must not count."""
    from interpstudio.ml.architecture import resolve_architecture
    from interpstudio.ml.model_inspect import hook_points_by_layer

    layer = hook_points_by_layer(resolve_architecture(tiny_causal_lm(family)))[0]
    points = {p["kind"]: p["description"] for p in layer["hook_points"]}
    for kind in ("attn_out", "mlp_out"):
        assert (f"adds post_norm({kind})" in points[kind]) is sandwich, points[kind]
    assert "post_norm" not in points["resid_post"]

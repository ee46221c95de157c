"""An unknown hook point says what it most likely means: a typo, TransformerLens's names
(``hook_resid_post``, ``blocks.3.mlp.hook_post``) or a module path (``model.layers.3``) got only
the grammar and the list of kinds, and the researcher had to translate."""

from __future__ import annotations

import pytest

from interpstudio.ml.hook_points import UnknownHookPoint, expand_hook_points, parse_hook_point


@pytest.mark.parametrize(("pattern", "said"), [
    ("blocks.*.resid_pst", "'resid_pst' is not a hook kind (did you mean 'resid_post'?)"),
    ("blocks.3.hook_resid_post", "(did you mean 'resid_post'?)"),
    ("blocks.{1,2}.{mlp_post,attn}", "'mlp_post', 'attn' are not hook kinds (did you mean "
                                     "'mlp_act' for 'mlp_post', 'attn_out' for 'attn'?)"),
    ("model.layers.3", "it does not follow the grammar (did you mean 'blocks.3.resid_post'?)"),
    ("blocks.3.mlp.hook_post", "(did you mean 'blocks.3.mlp_act'?)"),
    # as close to one as to the other: both named (it said only 'resid_pre', a guess)
    ("blocks.*.resid", "'resid' is not a hook kind (did you mean 'resid_pre' or 'resid_post'?)"),
    ("layers.2.resid", "(did you mean 'blocks.2.resid_pre' or 'blocks.2.resid_post'?)"),
])
def test_an_unknown_point_says_what_it_most_likely_means(pattern: str, said: str) -> None:
    with pytest.raises(UnknownHookPoint) as refused:
        expand_hook_points(pattern, 4)
    assert said in refused.value.message
    assert refused.value.message.endswith(
        "valid kinds: resid_pre, attn_out, mlp_act, mlp_out, resid_post")


@pytest.mark.parametrize("pattern", ["blocks.3.foo", "blocks.*.resid_mid",
                                     "blocks.3.ln1.hook_normalized", "blocks.3.hook_"])
def test_no_guess_where_none_is_close_or_it_would_mislead(pattern: str) -> None:
    """resid_mid (between attention and MLP) is close to resid_pre as text, not as data."""
    with pytest.raises(UnknownHookPoint) as refused:
        expand_hook_points(pattern, 4)
    assert "did you mean" not in refused.value.message


def test_an_exact_name_gets_the_suggestion_too() -> None:
    with pytest.raises(UnknownHookPoint) as refused:
        parse_hook_point("blocks.3.hook_resid_pre")
    assert "(did you mean 'resid_pre'?)" in refused.value.message

"""A model preflight without a token uses none: it used ``token=None``, which huggingface_hub
reads as "the machine's own login" (``HF_TOKEN``, ``~/.cache/huggingface/token``), so on a shared
server a user who gave no token had the preflight of a gated repo answered with the server
operator's access, while the download itself (``token=False``) was refused. Datasets already
used ``False``."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub_server import HubServer
from interpstudio.ml.hub_errors import GatedRepo
from interpstudio.ml.hub_preflight import run_preflight


def test_a_preflight_without_a_token_never_uses_the_servers_own_login(
        hub: HubServer, tiny_llama_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    hub.add_model("org/gated", tiny_llama_dir, gated=True, token="hf_operator")
    monkeypatch.setenv("HF_TOKEN", "hf_operator")  # the operator's login on the server
    with pytest.raises(GatedRepo) as refused:
        run_preflight(repo_id="org/gated", revision=None, endpoint=hub.url, dest=tmp_path)
    assert refused.value.details["token_given"] is False
    assert run_preflight(repo_id="org/gated", revision=None, endpoint=hub.url, dest=tmp_path,
                         token="hf_operator").gated

"""A local, real-HTTP test double of the Hugging Face Hub, plus tiny models and datasets.

What it is: `HubServer` (a threaded HTTP server answering the read-only Hub subset that
huggingface_hub 2.4.0 uses, with fault injection and a request log), `build_tiny_model` /
`build_tiny_dataset` (offline builders of real HF-format folders), and pytest fixtures in
`hub_server.fixtures`. See README.md in this folder for the implemented subset.

What it is NOT: part of the application; it lives under tests/ and is imported as `hub_server`
(pytest runs with `pythonpath = ["tests"]`).
"""

from hub_server.faults import Faults, RequestRecord
from hub_server.server import HubServer
from hub_server.tiny_datasets import JSONL_FILE, PARQUET_FILE, build_tiny_dataset, tiny_dataset_rows
from hub_server.tiny_models import SUPPORTED_ARCHS, build_tiny_model, build_tiny_tokenizer

__all__ = [
    "JSONL_FILE",
    "PARQUET_FILE",
    "SUPPORTED_ARCHS",
    "Faults",
    "HubServer",
    "RequestRecord",
    "build_tiny_dataset",
    "build_tiny_model",
    "build_tiny_tokenizer",
    "tiny_dataset_rows",
]

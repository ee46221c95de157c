"""Interp Studio: a self-hosted workbench for mechanistic-interpretability research.

The package is layered (see docs/ARCHITECTURE.md): ``core`` <- ``db`` <- ``services`` <- ``api``;
``ml`` is a torch leaf that notebooks import alone; ``jobs`` runs ``ml`` work for the app.
Importing this package imports nothing heavy.
"""

__version__ = "0.1.0"

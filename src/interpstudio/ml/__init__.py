"""ml layer of Interp Studio; see docs/ARCHITECTURE.md."""

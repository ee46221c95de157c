"""Database queries, one module per table."""

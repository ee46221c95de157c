"""Task adapters: one function per job kind turning a JobContext into calls of ml/services code."""

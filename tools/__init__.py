"""Developer tools that are not part of `make test` or CI: `python -m tools.mutants` (mutation testing)."""

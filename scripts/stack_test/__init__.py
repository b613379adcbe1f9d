"""`make test-stack` in parts (run it with ``python -m scripts.stack_test``; see __main__.py)."""

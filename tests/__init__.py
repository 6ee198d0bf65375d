"""promkit's tests; ``tests.support`` is importable from the tests and from bench."""

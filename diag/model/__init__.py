"""The shared model: the topology, the compose model, edges, targets, probe tasks and their
typed observations, findings. Pure data and pure functions, no I/O: the only part of `diag`
that checks may import (tests/unit/test_import_rules.py enforces it)."""

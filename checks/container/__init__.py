"""container checks."""

"""port checks."""

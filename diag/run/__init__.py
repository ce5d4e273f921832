"""One diagnosis: settings merged from every layer, then plan → observe → evaluate until
nothing is missing or the deadline comes, and the report of it."""

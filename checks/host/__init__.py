"""host checks: what the Docker host itself must provide (forwarding, firewall rules)."""

"""swarm checks: nodes' ports, attachable overlays, VIP or DNS round-robin, the routing mesh,
overlay MTU."""

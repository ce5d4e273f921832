"""net checks: subnets, MTU, ARP, internal networks, egress."""

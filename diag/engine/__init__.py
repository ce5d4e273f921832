"""Engine reads: which engine to talk to, its containers and networks read once into a
`Topology`, the compose CLI's model, and the host's firewall where ddiag may read it.
Nothing here starts a container (see ARCHITECTURE.md, "Data flow")."""

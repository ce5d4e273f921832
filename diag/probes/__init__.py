"""Probe containers and the sessions that feed them tasks: their life cycle and limits, the
agent bundle they run, the shared and isolated probes, anchors, swarm node probes, and the
interactive `ddiag shell` probe."""

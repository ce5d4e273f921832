"""ddiag: diagnose Docker and Docker Compose networking with probe containers."""

__version__ = "0.1.0"

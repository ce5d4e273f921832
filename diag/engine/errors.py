"""What a call to an engine that went away raises, for every part that talks to the engine.

docker-py wraps HTTP errors, not the transport's: a refused or reset connection surfaces as
requests' or the socket's own error, so a `try` around an engine call names all three.
"""

from __future__ import annotations

import docker.errors
import requests.exceptions

ENGINE_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException, OSError)

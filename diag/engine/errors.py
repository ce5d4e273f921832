"""What a call to an engine that went away raises, for every part that talks to the engine.

docker-py wraps HTTP errors, not the transport's: a refused or reset connection surfaces as
requests' or the socket's own error, so a `try` around an engine call names all three.

Several ddiag runs, `ddiag cleanup` and the user's own `docker rm` may remove the same probe
at once: whoever comes second gets 404 (gone already) or 409 ("removal of container … is
already in progress"). Such a call lost a race, not a fight: what it wanted is happening.
"""

from __future__ import annotations

import docker.errors
import requests.exceptions

ENGINE_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException, OSError)
RACE_STATUSES = frozenset({404, 409})  # Not Found, Conflict


def lost_race(exc: docker.errors.APIError) -> bool:
    """Whether the engine refused because the object is gone or someone else is removing
    it (404, 409), rather than for a reason worth telling the user."""
    return exc.status_code in RACE_STATUSES


def describe(exc: BaseException) -> str:
    """An engine error in one line, for a person: the engine's own explanation and HTTP
    status when it answered (not docker-py's text, which repeats the request's URL), the
    transport's error when it did not, and a plain system error as one."""
    if isinstance(exc, docker.errors.APIError):
        explanation = str(exc.explanation or "").strip() or "no explanation"
        status = f"HTTP {exc.status_code}" if exc.status_code else "an error"
        return f"the Docker engine answered {status}: {explanation}"
    asked = isinstance(exc, docker.errors.DockerException | requests.exceptions.RequestException)
    what = "the Docker engine could not be asked" if asked else "a system call failed"
    text = (str(exc).strip().splitlines() or [""])[0]
    return f"{what} ({type(exc).__name__}{': ' if text else ''}{text})"

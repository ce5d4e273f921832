"""Which Docker engine to talk to: the docker CLI's decision, made without touching the engine.

The order is the docker CLI's own:

1. `DOCKER_HOST`, with TLS when `DOCKER_TLS_VERIFY` (verify) or `DOCKER_TLS` (no verify) is
   set, and the CA, certificate and key from `DOCKER_CERT_PATH` (default: the CLI config
   directory);
2. else the context named by `DOCKER_CONTEXT`, else the config's `currentContext`
   (`$DOCKER_CONFIG/config.json`, default `~/.docker/config.json`): its endpoint's host
   from `contexts/meta/<sha256 of the name>/meta.json` and its TLS material from
   `contexts/tls/<sha256 of the name>/docker/`;
3. else the local socket (the `default` context).

`ssh://` hosts go through the `ssh` binary when there is one (so `~/.ssh/config`, agents and
known hosts work as they do for the docker CLI), else through paramiko (which docker-py's ssh
transport needs installed in either case: `docker[ssh]` is a dependency).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diag.errors import DiagError

DEFAULT_CONTEXT = "default"
LOCAL_SOCKET = "unix:///var/run/docker.sock"


@dataclass(frozen=True)
class TLSMaterial:
    """TLS for a tcp:// engine: files that exist (or None), and whether to verify the server."""

    verify: bool
    ca: str | None = None
    cert: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class Endpoint:
    host: str | None  # None: the local socket
    tls: TLSMaterial | None = None
    context: str = DEFAULT_CONTEXT
    origin: str = "default"  # "DOCKER_HOST", "DOCKER_CONTEXT", "config.json" or "default"

    def describe(self) -> str:
        host = self.host or LOCAL_SOCKET
        if self.origin == "DOCKER_HOST":
            return f"{host} (DOCKER_HOST)"
        if self.context != DEFAULT_CONTEXT:
            return f"{host} (docker context {self.context!r})"
        return host


def config_dir(env: Mapping[str, str]) -> Path:
    """The docker CLI's config directory: `DOCKER_CONFIG`, else `~/.docker`."""
    if env.get("DOCKER_CONFIG"):
        return Path(env["DOCKER_CONFIG"])
    home = env.get("HOME") or str(Path.home())
    return Path(home) / ".docker"


def _existing(path: Path) -> str | None:
    return str(path) if path.is_file() else None


def _tls_files(directory: Path, verify: bool) -> TLSMaterial:
    return TLSMaterial(
        verify=verify,
        ca=_existing(directory / "ca.pem"),
        cert=_existing(directory / "cert.pem"),
        key=_existing(directory / "key.pem"),
    )


def _current_context(env: Mapping[str, str], directory: Path) -> tuple[str, str]:
    if env.get("DOCKER_CONTEXT"):
        return env["DOCKER_CONTEXT"], "DOCKER_CONTEXT"
    try:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):  # the docker CLI, too, goes on without a readable config
        return DEFAULT_CONTEXT, "default"
    name = config.get("currentContext") if isinstance(config, dict) else None
    return (name, "config.json") if isinstance(name, str) and name else (DEFAULT_CONTEXT, "default")


def _context_endpoint(name: str, origin: str, directory: Path) -> Endpoint:
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()
    meta_file = directory / "contexts" / "meta" / digest / "meta.json"
    where = "DOCKER_CONTEXT" if origin == "DOCKER_CONTEXT" else f"currentContext in {directory}"
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DiagError(
            f"The docker context {name!r} (from {where}) does not exist. `docker context ls` "
            "lists the contexts; `docker context use default` goes back to the local engine."
        ) from None
    except (OSError, ValueError) as exc:
        raise DiagError(f"Cannot read the docker context {name!r} ({meta_file}): {exc}") from None
    docker_endpoint: dict[str, Any] = ((meta or {}).get("Endpoints") or {}).get("docker") or {}
    host = docker_endpoint.get("Host") or None
    skip_verify = bool(docker_endpoint.get("SkipTLSVerify"))
    tls_dir = directory / "contexts" / "tls" / digest / "docker"
    tls = None
    if tls_dir.is_dir() or skip_verify:  # the docker CLI: TLS when there is material or a skip
        tls = _tls_files(tls_dir, verify=not skip_verify)
    return Endpoint(host=host, tls=tls, context=name, origin=origin)


def resolve_endpoint(env: Mapping[str, str]) -> Endpoint:
    """The engine the docker CLI would use with this environment (reads only CLI config files)."""
    directory = config_dir(env)
    if env.get("DOCKER_HOST"):
        verify = bool(env.get("DOCKER_TLS_VERIFY"))
        tls = None
        if verify or env.get("DOCKER_TLS"):
            tls = _tls_files(Path(env.get("DOCKER_CERT_PATH") or directory), verify=verify)
        return Endpoint(host=env["DOCKER_HOST"], tls=tls, origin="DOCKER_HOST")
    name, origin = _current_context(env, directory)
    if name == DEFAULT_CONTEXT:
        return Endpoint(host=None, origin=origin)
    return _context_endpoint(name, origin, directory)


def client_kwargs(
    endpoint: Endpoint, ssh_binary: bool | None = None, paramiko: bool | None = None
) -> dict[str, Any]:
    """Keyword arguments for `docker.DockerClient` that reach `endpoint`."""
    from docker.tls import TLSConfig

    kwargs: dict[str, Any] = {}
    if endpoint.host:
        kwargs["base_url"] = endpoint.host
    if endpoint.host and endpoint.host.startswith("ssh://"):
        # docker-py's ssh transport imports paramiko even when it shells out to `ssh`
        if paramiko is None:
            paramiko = importlib.util.find_spec("paramiko") is not None
        if ssh_binary is None:
            ssh_binary = shutil.which("ssh") is not None
        if not paramiko:
            raise DiagError(
                f"The engine is at {endpoint.describe()}, over ssh, which needs paramiko: "
                "`pip install paramiko` (or `pip install 'docker[ssh]'`)."
            )
        kwargs["use_ssh_client"] = ssh_binary  # the ssh binary reads ~/.ssh/config as docker does
    elif endpoint.tls is not None:
        tls = endpoint.tls
        try:
            kwargs["tls"] = TLSConfig(
                client_cert=(tls.cert, tls.key) if tls.cert and tls.key else None,
                ca_cert=tls.ca,
                verify=tls.verify,
            )
        except Exception as exc:  # docker.errors.TLSParameterError
            raise DiagError(f"Bad TLS material for {endpoint.describe()}: {exc}") from None
    return kwargs

"""Which Docker engine to talk to: the docker CLI's decision, made without touching the engine.

The order is the docker CLI's own (as `docker context use --help` states it, and as the CLI
applies it, DOCKER_HOST before DOCKER_CONTEXT): first the context's name,

1. `-c/--context NAME`;
2. `-H/--host` or `DOCKER_HOST`: the `default` context (giving both -H and -c is an error,
   as in the docker CLI: they name the engine two ways);
3. `DOCKER_CONTEXT`;
4. the config's `currentContext` (`$DOCKER_CONFIG/config.json`, default
   `~/.docker/config.json`);
5. else `default`;

then its endpoint. The `default` context is `-H`, else `DOCKER_HOST`, else the local socket,
with TLS when `DOCKER_TLS_VERIFY` (verify) or `DOCKER_TLS` (no verify) is set and the CA,
certificate and key from `DOCKER_CERT_PATH` (default: the CLI config directory); so
`--context default` still follows `DOCKER_HOST`, as it does for the docker CLI. Any other
context is read from the context store: its endpoint's host from
`contexts/meta/<sha256 of the name>/meta.json` and its TLS material from
`contexts/tls/<sha256 of the name>/docker/`.

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
class EngineChoice:
    """The engine as the command line names it (`-H/--host`, `-c/--context`); None: not named,
    so the environment and the CLI config decide."""

    host: str | None = None
    context: str | None = None

    def docker_args(self) -> list[str]:
        """The same choice as the docker CLI's global options (`ddiag shell` runs it)."""
        if self.host:
            return ["--host", self.host]
        return ["--context", self.context] if self.context else []


@dataclass(frozen=True)
class Endpoint:
    host: str | None  # None: the local socket
    tls: TLSMaterial | None = None
    context: str = DEFAULT_CONTEXT
    # "--host", "DOCKER_HOST", "--context", "DOCKER_CONTEXT", "config.json" or "default"
    origin: str = "default"

    def describe(self) -> str:
        host = self.host or LOCAL_SOCKET
        if self.origin in ("--host", "DOCKER_HOST"):
            return f"{host} ({self.origin})"
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


def _context_name(env: Mapping[str, str], directory: Path, choice: EngineChoice) -> tuple[str, str]:
    """The context's name, and what named it."""
    if choice.context:
        return choice.context, "--context"
    if choice.host:
        return DEFAULT_CONTEXT, "--host"
    if env.get("DOCKER_HOST"):
        return DEFAULT_CONTEXT, "DOCKER_HOST"
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
    where = origin if origin != "config.json" else f"currentContext in {directory}"
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


def _default_endpoint(
    env: Mapping[str, str], directory: Path, choice: EngineChoice, origin: str
) -> Endpoint:
    """The `default` context: -H, else DOCKER_HOST (TLS from the environment), else the socket."""
    host = choice.host or env.get("DOCKER_HOST")
    if not host:
        return Endpoint(host=None, origin=origin)
    verify = bool(env.get("DOCKER_TLS_VERIFY"))
    tls = None
    if verify or env.get("DOCKER_TLS"):
        tls = _tls_files(Path(env.get("DOCKER_CERT_PATH") or directory), verify=verify)
    return Endpoint(host=host, tls=tls, origin="--host" if choice.host else "DOCKER_HOST")


def resolve_endpoint(env: Mapping[str, str], choice: EngineChoice | None = None) -> Endpoint:
    """The engine the docker CLI would use with this environment and `-H`/`-c` (reads only CLI
    config files). Raises DiagError for both -H and -c, or for a context that does not exist."""
    choice = choice or EngineChoice()
    if choice.host and choice.context:
        raise DiagError(
            "-H/--host and -c/--context both name the engine: give one of them (the docker CLI "
            "refuses both, too). `docker context ls` lists the contexts."
        )
    directory = config_dir(env)
    name, origin = _context_name(env, directory, choice)
    if name == DEFAULT_CONTEXT:
        return _default_endpoint(env, directory, choice, origin)
    return _context_endpoint(name, origin, directory)


def context_names(env: Mapping[str, str]) -> list[str]:
    """The contexts `docker context ls` would list: `default` and those in the store."""
    names = [DEFAULT_CONTEXT]
    for meta in sorted((config_dir(env) / "contexts" / "meta").glob("*/meta.json")):
        try:
            name = json.loads(meta.read_text(encoding="utf-8")).get("Name")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(name, str) and name:
            names.append(name)
    return names


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

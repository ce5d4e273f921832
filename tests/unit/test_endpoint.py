"""Which engine ddiag talks to: DOCKER_HOST, the current docker context, the local socket."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import docker
import pytest

from diag.engine.endpoint import (
    Endpoint,
    EngineChoice,
    TLSMaterial,
    client_kwargs,
    context_names,
    resolve_endpoint,
)
from diag.errors import DiagError


def _context(config: Path, name: str, host: str, skip_verify: bool = False, tls: bool = False):
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = config / "contexts" / "meta" / digest
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(
        json.dumps(
            {
                "Name": name,
                "Metadata": {"Description": "test"},
                "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip_verify}},
            }
        )
    )
    if tls:
        material = config / "contexts" / "tls" / digest / "docker"
        material.mkdir(parents=True)
        for file in ("ca.pem", "cert.pem", "key.pem"):
            (material / file).write_text(f"-----BEGIN {file}-----\n")
        return material
    return None


def _use(config: Path, name: str) -> None:
    (config / "config.json").write_text(json.dumps({"currentContext": name}))


def test_nothing_set_is_the_local_socket(tmp_path) -> None:
    endpoint = resolve_endpoint({"HOME": str(tmp_path)})
    assert endpoint == Endpoint(host=None)
    assert client_kwargs(endpoint) == {}
    assert endpoint.describe() == "unix:///var/run/docker.sock"


def test_docker_host_wins_over_the_context(tmp_path) -> None:
    _context(tmp_path, "remote", "ssh://me@far")
    _use(tmp_path, "remote")
    env = {"DOCKER_CONFIG": str(tmp_path), "DOCKER_HOST": "tcp://10.0.0.1:2375"}
    endpoint = resolve_endpoint({**env, "DOCKER_CONTEXT": "remote"})
    assert endpoint.host == "tcp://10.0.0.1:2375" and endpoint.tls is None
    assert "DOCKER_HOST" in endpoint.describe()


def test_docker_host_with_tls_verify_and_cert_path(tmp_path) -> None:
    for file in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / file).write_text("x")
    env = {
        "DOCKER_HOST": "tcp://engine.example:2376",
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": str(tmp_path),
    }
    endpoint = resolve_endpoint(env)
    assert endpoint.tls == TLSMaterial(
        verify=True,
        ca=str(tmp_path / "ca.pem"),
        cert=str(tmp_path / "cert.pem"),
        key=str(tmp_path / "key.pem"),
    )
    api = docker.APIClient(version="1.41", **client_kwargs(endpoint))
    assert api.base_url == "https://engine.example:2376"
    assert api.verify == str(tmp_path / "ca.pem")
    assert api.cert == (str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"))


def test_docker_tls_without_verify(tmp_path) -> None:
    env = {"DOCKER_HOST": "tcp://engine.example:2376", "DOCKER_TLS": "1", "HOME": str(tmp_path)}
    endpoint = resolve_endpoint(env)
    assert endpoint.tls == TLSMaterial(verify=False)
    api = docker.APIClient(version="1.41", **client_kwargs(endpoint))
    assert api.base_url == "https://engine.example:2376" and api.verify is False


def test_current_context_over_ssh_uses_the_ssh_binary(tmp_path) -> None:
    _context(tmp_path, "prod", "ssh://deploy@prod.example:2222")
    _use(tmp_path, "prod")
    endpoint = resolve_endpoint({"DOCKER_CONFIG": str(tmp_path)})
    assert (endpoint.host, endpoint.context, endpoint.origin) == (
        "ssh://deploy@prod.example:2222",
        "prod",
        "config.json",
    )
    assert "docker context 'prod'" in endpoint.describe()
    kwargs = client_kwargs(endpoint, ssh_binary=True, paramiko=True)
    assert kwargs == {"base_url": "ssh://deploy@prod.example:2222", "use_ssh_client": True}
    api = docker.APIClient(version="1.41", **kwargs)  # shells out later: no connection yet
    assert api.base_url == "http+docker://ssh"
    assert api._custom_adapter.ssh_host == "deploy@prod.example:2222"


def test_ssh_without_paramiko_is_a_clear_error(tmp_path) -> None:
    endpoint = Endpoint(host="ssh://me@far", context="far", origin="DOCKER_CONTEXT")
    assert client_kwargs(endpoint, ssh_binary=False, paramiko=True)["use_ssh_client"] is False
    with pytest.raises(DiagError, match="paramiko"):
        client_kwargs(endpoint, ssh_binary=False, paramiko=False)


def test_docker_context_env_names_a_tcp_tls_context(tmp_path) -> None:
    material = _context(tmp_path, "secure", "tcp://10.9.9.9:2376", tls=True)
    _use(tmp_path, "other-one-not-used")
    endpoint = resolve_endpoint({"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "secure"})
    assert endpoint.origin == "DOCKER_CONTEXT"
    assert endpoint.tls == TLSMaterial(
        verify=True,
        ca=str(material / "ca.pem"),
        cert=str(material / "cert.pem"),
        key=str(material / "key.pem"),
    )
    api = docker.APIClient(version="1.41", **client_kwargs(endpoint))
    assert api.base_url == "https://10.9.9.9:2376"
    assert api.verify == str(material / "ca.pem")
    assert api.cert == (str(material / "cert.pem"), str(material / "key.pem"))


def test_context_with_skip_tls_verify(tmp_path) -> None:
    _context(tmp_path, "lab", "tcp://10.9.9.8:2376", skip_verify=True)
    endpoint = resolve_endpoint({"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "lab"})
    assert endpoint.tls == TLSMaterial(verify=False)
    api = docker.APIClient(version="1.41", **client_kwargs(endpoint))
    assert api.base_url == "https://10.9.9.8:2376" and api.verify is False


def test_plain_tcp_context_has_no_tls(tmp_path) -> None:
    _context(tmp_path, "plain", "tcp://10.9.9.7:2375")
    endpoint = resolve_endpoint({"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "plain"})
    assert endpoint.tls is None
    assert docker.APIClient(version="1.41", **client_kwargs(endpoint)).base_url == (
        "http://10.9.9.7:2375"
    )


def test_default_context_and_unreadable_config_mean_the_local_socket(tmp_path) -> None:
    _use(tmp_path, "default")
    assert resolve_endpoint({"DOCKER_CONFIG": str(tmp_path)}).host is None
    (tmp_path / "config.json").write_text("{not json")
    assert resolve_endpoint({"DOCKER_CONFIG": str(tmp_path)}).host is None
    assert resolve_endpoint({"DOCKER_CONFIG": str(tmp_path / "missing")}).host is None


def test_home_docker_dir_is_the_default_config_dir(tmp_path) -> None:
    config = tmp_path / ".docker"
    config.mkdir()
    _context(config, "home-ctx", "tcp://10.9.9.6:2375")
    _use(config, "home-ctx")
    assert resolve_endpoint({"HOME": str(tmp_path)}).host == "tcp://10.9.9.6:2375"


def test_missing_context_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(DiagError, match="docker context ls"):
        resolve_endpoint({"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "gone"})
    _use(tmp_path, "gone-too")
    with pytest.raises(DiagError, match="'gone-too'"):
        resolve_endpoint({"DOCKER_CONFIG": str(tmp_path)})


# --- -H/--host and -c/--context: the docker CLI's precedence ---------------------------------


def _everything_set(tmp_path: Path) -> dict[str, str]:
    """DOCKER_HOST, DOCKER_CONTEXT and currentContext all set, each to another engine."""
    _context(tmp_path, "from-env", "tcp://10.9.9.1:2375")
    _context(tmp_path, "from-config", "tcp://10.9.9.2:2375")
    _context(tmp_path, "from-flag", "ssh://me@flag.example")
    _use(tmp_path, "from-config")
    return {
        "DOCKER_CONFIG": str(tmp_path),
        "DOCKER_HOST": "tcp://10.9.9.3:2375",
        "DOCKER_CONTEXT": "from-env",
    }


def test_the_context_option_comes_before_every_variable_and_the_config(tmp_path) -> None:
    env = _everything_set(tmp_path)
    endpoint = resolve_endpoint(env, EngineChoice(context="from-flag"))
    assert (endpoint.host, endpoint.context, endpoint.origin) == (
        "ssh://me@flag.example",
        "from-flag",
        "--context",
    )
    assert "docker context 'from-flag'" in endpoint.describe()


def test_the_host_option_comes_before_every_variable_and_the_config(tmp_path) -> None:
    env = {**_everything_set(tmp_path), "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/none"}
    endpoint = resolve_endpoint(env, EngineChoice(host="tcp://10.9.9.4:2376"))
    assert (endpoint.host, endpoint.origin) == ("tcp://10.9.9.4:2376", "--host")
    assert endpoint.tls == TLSMaterial(verify=True)  # TLS from the environment, as for docker
    assert endpoint.describe() == "tcp://10.9.9.4:2376 (--host)"


def test_without_options_docker_host_still_comes_before_docker_context(tmp_path) -> None:
    endpoint = resolve_endpoint(_everything_set(tmp_path), EngineChoice())
    assert (endpoint.host, endpoint.origin) == ("tcp://10.9.9.3:2375", "DOCKER_HOST")


def test_the_default_context_named_on_the_command_line_is_docker_host_or_the_socket(
    tmp_path,
) -> None:
    env = _everything_set(tmp_path)  # docker --context default: DOCKER_HOST, if it is set
    assert resolve_endpoint(env, EngineChoice(context="default")).host == "tcp://10.9.9.3:2375"
    del env["DOCKER_HOST"]
    endpoint = resolve_endpoint(env, EngineChoice(context="default"))
    assert (endpoint.host, endpoint.origin) == (None, "--context")


def test_host_and_context_together_are_refused(tmp_path) -> None:
    with pytest.raises(DiagError, match="-H/--host and -c/--context both name the engine"):
        resolve_endpoint({"HOME": str(tmp_path)}, EngineChoice("tcp://h:2375", "default"))


def test_a_context_option_that_does_not_exist_says_where_it_came_from(tmp_path) -> None:
    with pytest.raises(DiagError, match=r"'gone' \(from --context\) does not exist"):
        resolve_endpoint({"DOCKER_CONFIG": str(tmp_path)}, EngineChoice(context="gone"))


def test_the_choice_for_the_docker_cli_and_the_contexts_to_complete(tmp_path) -> None:
    assert EngineChoice(host="ssh://me@far").docker_args() == ["--host", "ssh://me@far"]
    assert EngineChoice(context="lab").docker_args() == ["--context", "lab"]
    assert EngineChoice().docker_args() == []
    _context(tmp_path, "lab", "tcp://10.9.9.8:2376")
    (tmp_path / "contexts" / "meta" / "broken").mkdir()
    (tmp_path / "contexts" / "meta" / "broken" / "meta.json").write_text("{")
    assert context_names({"DOCKER_CONFIG": str(tmp_path)}) == ["default", "lab"]
    assert context_names({"DOCKER_CONFIG": str(tmp_path / "none")}) == ["default"]

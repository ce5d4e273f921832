"""Settings: parsing, precedence (command line > x-ddiag > ddiag.toml > defaults), errors."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from diag.checks.registry import all_checks
from diag.cli.app import app
from diag.errors import DiagError
from diag.model.findings import Finding, Severity
from diag.probes.probe import DEFAULT_PROBE_IMAGE
from diag.run.config import (
    Settings,
    Sources,
    apply_severity,
    check_patterns,
    command_line_layer,
    compose_layer,
    merge,
    override,
    parse_layer,
    read_toml,
)

TOML = """\
select = ["dns", "port"]
ignore = ["dns.ndots"]
fail-on = "warning"
timeout = 3
probe-image = "nicolaka/netshoot"

[severity]
"dns.ndots" = "info"
port = "warning"
"""


def _finding(check: str, severity: Severity = Severity.ERROR) -> Finding:
    return Finding(check, severity, "t", ("a",), "s", {}, "f")


def test_defaults() -> None:
    settings = merge()
    assert settings == Settings()
    assert (settings.fail_on, settings.timeout, settings.probe_image) == (
        "error",
        2.0,
        DEFAULT_PROBE_IMAGE,
    )


def test_toml_file_is_parsed(tmp_path) -> None:
    path = tmp_path / "ddiag.toml"
    path.write_text(TOML)
    settings = merge(read_toml(path, required=True))
    assert settings.select == ("dns", "port")
    assert settings.ignore == ("dns.ndots",)
    assert settings.fail_on == "warning"
    assert settings.timeout == 3.0
    assert settings.probe_image == "nicolaka/netshoot"
    assert settings.severity == {"dns.ndots": Severity.INFO, "port": Severity.WARNING}


def test_precedence_command_line_over_x_ddiag_over_toml(tmp_path) -> None:
    (tmp_path / "ddiag.toml").write_text(TOML)
    sources = Sources(command_line_layer(timeout=5.0, severity=["port=info"]), cwd=tmp_path)
    x_ddiag = {"fail-on": "info", "severity": {"dns.ndots": "error"}, "select": ["port"]}
    settings = sources.resolve(x_ddiag, ["compose.yaml"])
    assert settings.fail_on == "info"  # x-ddiag over ddiag.toml
    assert settings.select == ("port",)  # lists are replaced
    assert settings.ignore == ("dns.ndots",)  # from ddiag.toml, untouched above
    assert settings.timeout == 5.0  # command line over both
    assert settings.probe_image == "nicolaka/netshoot"
    assert settings.severity == {"dns.ndots": Severity.ERROR, "port": Severity.INFO}
    assert settings.sources == (str(tmp_path / "ddiag.toml"), "x-ddiag")
    assert Sources(command_line_layer(fail_on="never"), cwd=tmp_path).resolve(x_ddiag).fail_on == (
        "never"
    )


def test_no_toml_in_the_directory_is_fine_but_a_missing_config_option_is_not(tmp_path) -> None:
    assert Sources({}, cwd=tmp_path).resolve() == Settings()
    with pytest.raises(DiagError, match="does not exist"):
        Sources({}, config_file=tmp_path / "nope.toml", cwd=tmp_path).resolve()


def test_explicit_config_file_replaces_the_one_in_the_directory(tmp_path) -> None:
    (tmp_path / "ddiag.toml").write_text('fail-on = "info"\n')
    other = tmp_path / "ci.toml"
    other.write_text('fail-on = "never"\n')
    assert Sources({}, config_file=other, cwd=tmp_path).resolve().fail_on == "never"


def test_invalid_toml_names_the_file(tmp_path) -> None:
    path = tmp_path / "ddiag.toml"
    path.write_text("fail-on = \n")
    with pytest.raises(DiagError, match=r"ddiag\.toml is not valid TOML"):
        read_toml(path, required=False)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"fail_on": "warning"}, r"Unknown setting 'fail_on' in f\.toml\. Did you mean 'fail-on'"),
        ({"colour": True}, "Unknown setting 'colour' in f.toml. Known settings"),
        ({"fail-on": "sometimes"}, "`fail-on` in f.toml takes one of error, warning"),
        ({"timeout": "2s"}, "`timeout` in f.toml takes seconds"),
        ({"timeout": 0}, "at least 0.1"),
        ({"select": [1]}, "`select` in f.toml takes a list"),
        ({"severity": {"port": "fatal"}}, r"`severity\.port` in f\.toml takes one of"),
        ({"severity": "port=info"}, "`severity` in f.toml maps"),
        ({"probe-image": ""}, "takes an image name"),
        ({"probe-mode": "fast"}, "`probe-mode` in f.toml takes one of shared, isolated"),
        ({"deadline": 0.5}, "`deadline` in f.toml must be at least 1 s"),
        ({"deadline": True}, "`deadline` in f.toml takes seconds"),
    ],
)
def test_bad_settings_are_errors_naming_key_and_file(raw, message) -> None:
    with pytest.raises(DiagError, match=message):
        parse_layer(raw, "f.toml")


def test_probe_mode_and_deadline_layer_like_the_rest() -> None:
    settings = merge(
        parse_layer({"probe-mode": "isolated", "deadline": 30}, "f.toml"),
        command_line_layer(deadline=45.0),
    )
    assert (settings.probe_mode, settings.deadline) == ("isolated", 45.0)
    assert (merge().probe_mode, merge().deadline) == ("shared", 120.0)


def test_x_ddiag_leaves_expect_to_its_owner_but_rejects_other_unknown_keys() -> None:
    layer = compose_layer({"fail-on": "warning", "expect": [{"web": "db:5432"}]}, ["c.yaml"])
    assert layer == {"fail-on": "warning"}
    with pytest.raises(DiagError, match=r"Unknown setting 'fial-on' in x-ddiag of c\.yaml"):
        compose_layer({"fial-on": "warning"}, ["c.yaml"])
    with pytest.raises(DiagError, match="'expect'"):  # only x-ddiag has an `expect`
        parse_layer({"expect": []}, "ddiag.toml")


def test_x_ddiag_must_be_a_mapping() -> None:
    with pytest.raises(DiagError, match="must be a mapping of settings"):
        compose_layer(["fail-on"], ["c.yaml"])


def test_a_single_string_is_a_one_item_list() -> None:
    assert parse_layer({"ignore": "dns"}, "f.toml") == {"ignore": ("dns",)}


def test_command_line_layer_keeps_only_what_was_given() -> None:
    assert command_line_layer() == {}
    assert command_line_layer(select=["port"], fail_on="info") == {
        "select": ("port",),
        "fail-on": "info",
    }
    with pytest.raises(DiagError, match="--severity takes CHECK=LEVEL"):
        command_line_layer(severity=["port"])
    with pytest.raises(DiagError, match="--severity port= takes one of"):
        command_line_layer(severity=["port=fatal"])
    with pytest.raises(DiagError, match="--fail-on takes one of"):
        command_line_layer(fail_on="sometimes")


def test_most_specific_override_wins() -> None:
    overrides = {"port": Severity.INFO, "port.refused": Severity.WARNING}
    assert override("port.refused", overrides) == Severity.WARNING
    assert override("port.filtered", overrides) == Severity.INFO
    assert override("dns.ndots", overrides) is None
    assert override("portal.x", overrides) is None  # a prefix is a family, not a substring


def test_apply_severity_changes_only_matching_findings() -> None:
    findings = [_finding("port.refused"), _finding("dns.ndots", Severity.WARNING)]
    changed = apply_severity(findings, {"port": Severity.INFO})
    assert [f.severity for f in changed] == [Severity.INFO, Severity.WARNING]
    assert changed[1] is findings[1]


def test_override_matching_no_check_is_a_typo() -> None:
    ids = [c.id for c in all_checks()]
    check_patterns(Settings(severity={"port": Severity.INFO, "dns.ndots": Severity.INFO}), ids)
    with pytest.raises(DiagError, match=r"'prot' matches no check\. Did you mean port"):
        check_patterns(Settings(severity={"prot": Severity.INFO}), ids)


def test_cli_config_errors_exit_2_before_touching_the_engine(tmp_path) -> None:
    runner = CliRunner()
    env = {"DOCKER_HOST": "unix:///nonexistent.sock"}
    bad = tmp_path / "bad.toml"
    bad.write_text('fail_on = "warning"\n')
    cases = [
        ["--config", str(bad)],
        ["--config", str(tmp_path / "missing.toml")],
        ["--severity", "prot=info"],
        ["--severity", "port"],
    ]
    for args in cases:
        result = runner.invoke(app, ["network", "n", *args], env=env)
        assert result.exit_code == 2, (args, result.output)
        assert "Cannot reach" not in result.output
    result = runner.invoke(app, ["network", "n", "--config", str(bad)], env=env)
    assert "fail_on" in result.output and "bad.toml" in result.output


def test_select_everything_away_is_an_error(tmp_path, monkeypatch) -> None:
    (tmp_path / "ddiag.toml").write_text('select = ["port"]\nignore = ["port"]\n')
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["network", "n"], env={"DOCKER_HOST": "unix:///x.sock"})
    assert result.exit_code == 2
    assert "leave no check to run" in result.output


def test_cli_reads_ddiag_toml_from_the_current_directory(tmp_path, monkeypatch) -> None:
    (tmp_path / "ddiag.toml").write_text('select = ["nothing-matches"]\n')
    monkeypatch.chdir(tmp_path)
    env = {"DOCKER_HOST": "unix:///nonexistent.sock"}
    result = CliRunner().invoke(app, ["network", "n"], env=env)
    assert result.exit_code == 2
    assert "The select 'nothing-matches' matches no check" in result.output

"""`kubectl exec` for Backend.exec, with no cluster: the script the container's sh runs (run
here by this machine's sh), what reaches argv and stdin, and kubectl's stderr."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from oblako_backend_kubernetes import execute, plugin as k8s_plugin
from oblako_backends import InvalidSpecError, OblakoBackendError, get_backend


def run_here(argv: tuple[str, ...], environment: dict[str, str], working_dir: str | None) -> tuple[int, str]:
    """What the container's sh would do with `execute.command`'s argv and stdin."""
    command, stdin = execute.command(argv, environment, working_dir)
    done = subprocess.run(command, input=stdin, capture_output=True, timeout=30, env={"PATH": "/usr/bin:/bin"})
    return done.returncode, (done.stdout + done.stderr).decode()


def test_environment_and_working_dir_reach_the_command_through_stdin_not_argv(tmp_path: Path) -> None:
    secret = 'it\'s "quoted" $(touch pwned) `x`\nsecond line\\'
    argv = ("sh", "-c", 'pwd; printf "%s|" "$SECRET" "$1"', "arg0", "$(touch argv-pwned)")
    command, stdin = execute.command(argv, {"SECRET": secret}, str(tmp_path))
    assert secret not in " ".join(command) and stdin is not None and b"SECRET" in stdin  # on stdin only
    code, said = run_here(argv, {"SECRET": secret}, str(tmp_path))
    assert code == 0
    assert said == f"{tmp_path}\n{secret}|$(touch argv-pwned)|"  # every byte, nothing run by a shell
    assert list(tmp_path.iterdir()) == []


def test_without_environment_or_working_dir_no_shell_is_needed() -> None:
    assert execute.command(("cat", "/etc/hostname"), {}, None) == (["cat", "/etc/hostname"], None)


def test_the_exit_status_passes_through_and_a_missing_working_dir_is_126_as_with_docker(tmp_path: Path) -> None:
    assert run_here(("sh", "-c", "exit 3"), {"A": "1"}, None)[0] == 3
    assert run_here(("true",), {}, str(tmp_path / "missing"))[0] == 126
    assert run_here(("no-such-program-here",), {"A": "1"}, None)[0] == 127


@pytest.mark.parametrize("key", ["discovery.type", "1ST", "A-B"])
def test_a_variable_name_sh_cannot_set_is_refused_by_name(key: str) -> None:
    with pytest.raises(InvalidSpecError, match="letters, digits and _") as raised:
        execute.command(("env",), {key: "s3cret"}, None)
    assert key in str(raised.value) and "s3cret" not in str(raised.value)


def filtered(chunks: list[bytes], code: int) -> tuple[bytes, str | None]:
    out: list[bytes] = []
    stderr = execute.Stderr(out.append)
    for chunk in chunks:
        stderr.write(chunk)
    failed = stderr.finish(code)
    return b"".join(out), failed


def test_kubectls_line_about_the_exit_code_is_not_the_commands_output() -> None:
    assert filtered([b"oops\n", b"command terminated with exit code 3\n"], 3) == (b"oops\n", None)
    assert filtered([b"partial", b"command termin", b"ated with exit code 3\n"], 3) == (b"partial", None)
    # the command's own words, even when they look like it, pass
    assert filtered([b"command terminated with exit code 9\n"], 3)[0] == b"command terminated with exit code 9\n"
    assert filtered([b"a c", b"o", b"mmand\n"], 0) == (b"a command\n", None)


def test_the_commands_output_passes_as_it_comes() -> None:
    out: list[bytes] = []
    stderr = execute.Stderr(out.append)
    stderr.write(b"progress 10%\n")
    assert out == [b"progress 10%\n"]  # not held for the end


def test_kubectls_own_failure_is_told_from_the_commands() -> None:
    said = b'Error from server (NotFound): pods "web-1" not found\n'
    assert filtered([said], 1)[1] == 'Error from server (NotFound): pods "web-1" not found'
    assert filtered([b"error: no such key\n"], 1)[1] is None  # what a command says is its own


class Recorded:
    def __init__(self) -> None:
        self.calls: list[tuple[list[str], dict[str, Any]]] = []

    def __call__(self, argv: list[str], timeout: float | None, **kwargs: Any) -> int:
        self.calls.append((argv, {"timeout": timeout, **kwargs}))
        kwargs["output"](b"hello\n")
        return 5


def deployment(name: str, status: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "Deployment", "metadata": {"name": k8s_plugin.manifests.k8s_name(name)}, "status": status}


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    made = get_backend("kubernetes", state_dir=str(tmp_path / "state"), namespace="ns").plugin
    monkeypatch.setattr(made, "_workload", lambda name: deployment(name, {"availableReplicas": 1}))
    return made


def test_exec_runs_kubectl_exec_on_the_workload_and_passes_its_status(
    plugin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = Recorded()
    monkeypatch.setattr(k8s_plugin, "stream", recorded)
    out: list[bytes] = []
    code = plugin.oblako_exec(
        name="My_App", command=("env",), environment={"TOKEN": "s3cret"}, working_dir="/srv",
        user=None, output=out.append, timeout=7.0,
    )  # fmt: skip
    assert code == 5 and out == [b"hello\n"]
    ((argv, kwargs),) = recorded.calls
    workload = f"deployment/{k8s_plugin.manifests.k8s_name('My_App')}"
    assert argv[argv.index("exec") :][:5] == ["exec", "-i", workload, "-c", "main"]
    assert not any(a.startswith("--request-timeout") for a in argv)  # our deadline, not a request's
    assert "s3cret" not in " ".join(argv) and b"s3cret" in kwargs["input"]
    assert kwargs["timeout"] == 7.0


def test_exec_as_another_user_is_refused(plugin: Any) -> None:
    with pytest.raises(OblakoBackendError, match="kubectl exec runs a command as the container's own user"):
        plugin.oblako_exec(
            name="web", command=("id",), environment={}, working_dir=None, user="1000", output=print, timeout=None
        )


def test_exec_in_a_workload_that_is_not_available_is_refused(plugin: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugin, "_workload", lambda name: deployment(name, {}))
    with pytest.raises(OblakoBackendError, match="'web' is not running"):
        plugin.oblako_exec(
            name="web", command=("id",), environment={}, working_dir=None, user=None, output=print, timeout=None
        )
    monkeypatch.setattr(plugin, "_workload", lambda name: None)
    with pytest.raises(OblakoBackendError, match="no workload named 'web'"):
        plugin.oblako_exec(
            name="web", command=("id",), environment={}, working_dir=None, user=None, output=print, timeout=None
        )

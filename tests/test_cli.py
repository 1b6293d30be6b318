"""The CLI's own input parsing: bad options fail with exit 2 and one cause, before any runtime."""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from oblako_backends.cli import main as cli


@pytest.mark.parametrize(
    ("args", "cause"),
    [
        (["-p", "web:80"], "invalid -p 'web:80'"),
        (["-p", "80/icmp"], "protocol must be one of"),
        (["-e", "OBLAKO_SURELY_UNSET_VAR"], "KEY=VALUE (or KEY set in this shell)"),
        (["-v", "data"], "SOURCE:TARGET[:ro|rw]"),
        (["-v", "data:/d:rwx"], "SOURCE:TARGET[:ro|rw]"),
        (["-v", "rel/path:/d"], "absolute host path"),
        (["-l", "novalue"], "KEY=VALUE"),
    ],
)
def test_bad_run_options_exit_2_with_the_cause(args: list[str], cause: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["run", "--backend", "memory", "--name", "web", *args, "busybox"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("oblako-backends: ") and cause in err


def test_run_has_dockers_shape_options_then_image_then_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["run", "--backend", "memory", "--name", "web", "-p", "9000:80", "-e", "A=b c", "-v", "data:/d:ro"]
    assert cli([*args, "busybox", "sh", "-c", "echo 'x y'", "-p", "1"]) == 0  # all after IMAGE is the command
    assert capsys.readouterr().out == "web\n"
    assert cli(["run", "--backend", "memory", "busybox"]) == 0  # no name, no command: both optional
    named = capsys.readouterr().out.strip()
    assert re.fullmatch(r"oblako-run-[0-9a-f]{8}", named)  # a fresh name, printed as docker prints the ID
    assert cli(["run", "--backend", "memory", "--name", "dashed", "busybox", "--", "ls", "-l"]) == 0  # -- still reads


def test_global_options_go_before_the_command_or_after_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["--backend", "memory", "doctor", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["backend"] == "memory"
    assert cli(["doctor", "--backend", "memory", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["backend"] == "memory"
    assert cli(["--backend", "memory", "-q", "ps"]) == 0 and cli(["ps", "-q", "--backend", "memory"]) == 0


def test_version_prints_the_installed_distributions() -> None:
    from importlib.metadata import version

    done = subprocess.run(
        [sys.executable, "-m", "oblako_backends.cli", "--version"], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout) == (0, f"oblako-backends {version('oblako-backends')}\n")


def test_a_closed_pipe_ends_quietly_without_a_traceback() -> None:
    """As in `list --json | head -1`, the reader leaves; here before the first byte, so the write
    surely meets a closed pipe. No traceback, no error message."""
    listing = subprocess.Popen(
        [sys.executable, "-m", "oblako_backends.cli", "list", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert listing.stdout is not None
    listing.stdout.close()  # the reader is gone before the command writes a byte
    _, err = listing.communicate(timeout=60)
    assert listing.returncode == 141 and err == b""


def test_logs_of_a_missing_container_exits_1_saying_no_such_container(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["logs", "--backend", "memory", "surely-not-there"]) == 1
    assert "no such container: surely-not-there" in capsys.readouterr().err


def test_bash_completion_is_generated_from_the_parser_and_completes(tmp_path: Path) -> None:
    script = tmp_path / "completion.bash"
    script.write_text(subprocess.run(
        [sys.executable, "-m", "oblako_backends.cli", "completion", "bash"], capture_output=True, text=True,
        timeout=60, check=True,
    ).stdout)  # fmt: skip

    def complete(*words: str) -> list[str]:
        line = " ".join(f"'{w}'" for w in words)
        program = (
            f"source {script}; COMP_WORDS=(oblako-backends {line}); COMP_CWORD={len(words)}; "
            'COMP_LINE="${COMP_WORDS[*]}"; _oblako_backends; printf "%s\\n" "${COMPREPLY[@]}"'
        )
        done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=60, check=True)
        return sorted(done.stdout.split())

    assert complete("d") == ["doctor", "down"]
    assert complete("--backend", "pod") == ["podman"]
    assert complete("--backend", "docker", "up", "--j") == ["--jobs", "--json"]  # the command after a global option
    assert complete("completion", "") == ["--help", "-h", "bash", "zsh"]


PULL = [
    "pulling localhost/app:1",
    "a1b2c3d4e5f6 Pulling fs layer",
    "0f0f0f0f0f0f Pulling fs layer",
    "a1b2c3d4e5f6 Downloading [=>        ] 1MB/9MB",
    "a1b2c3d4e5f6 Downloading [=====>    ] 5MB/9MB",
    "0f0f0f0f0f0f Already exists",
    "a1b2c3d4e5f6 Pull complete",
]


def test_without_a_terminal_a_pull_is_one_aggregated_line_at_most_once_a_second() -> None:
    from oblako_backends.cli import ProgressDisplay

    out = io.StringIO()
    show = ProgressDisplay(out, interval=3600)  # nothing this test does takes an hour: one line per image
    for line in PULL:
        show(line, "[app]", "[app] ")
    show("started; waiting until ready", "[app]", "[app] ")
    assert out.getvalue().splitlines() == [
        "[app] pulling localhost/app:1",
        "[app] pulling: 0/1 layers done, Pulling fs layer",  # the first layer line; the rest within the second
        "[app] pulling: 2/2 layers done",  # except the last: every layer is done, so it shows at once
        "[app] started; waiting until ready",
    ]


def test_on_a_terminal_each_image_has_one_line_redrawn_in_place() -> None:
    from oblako_backends.cli import ProgressDisplay

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    show = ProgressDisplay(out)
    for line in PULL:
        show(line, "app:1")
    show("0123456789ab Downloading [=>  ] 1MB/2MB", "db:1")
    text = out.getvalue()
    assert text.count("\n") == 3  # the plain first line, then one line for each image
    assert text.rstrip("\r").endswith("db:1 pulling: 0/1 layers done, Downloading 1MB/2MB\n")
    assert "\x1b[1A\r\x1b[Kapp:1 pulling: 2/2 layers done" in text  # redrawn where it stands


def test_quiet_shows_no_progress_at_all(capsys: pytest.CaptureFixture[str]) -> None:
    from oblako_backends.cli import ProgressDisplay

    show = ProgressDisplay(quiet=True)
    for line in PULL:
        show(line, "app:1")
    assert capsys.readouterr() == ("", "")
    assert cli(["run", "--backend", "memory", "-q", "--name", "quiet", "busybox"]) == 0
    assert capsys.readouterr() == ("quiet\n", "")


def test_zsh_completion_runs_in_a_real_zsh_and_offers_the_same_words(tmp_path: Path) -> None:
    """zsh's own completion system calls the function inside a completion widget; here zsh runs
    it directly, with `words`/`CURRENT` set as the widget sets them and compadd recording what
    it is offered (zsh then filters by the typed prefix itself)."""
    import runtimes

    runtimes.ensure_installed("zsh")
    script = tmp_path / "completion.zsh"
    script.write_text(subprocess.run(
        [sys.executable, "-m", "oblako_backends.cli", "completion", "zsh"], capture_output=True, text=True,
        timeout=60, check=True,
    ).stdout)  # fmt: skip
    assert script.read_text().startswith("#compdef oblako-backends\n")

    def offered(*typed: str) -> list[str]:
        line = " ".join(f"'{w}'" for w in typed)
        program = (
            f"compdef() {{ :; }}; source {script}; compadd() {{ shift; print -l -- $@; }}; "
            f"words=(oblako-backends {line}); CURRENT={len(typed) + 1}; _oblako_backends"
        )
        zsh = runtimes.locate("zsh") or "zsh"
        done = subprocess.run([zsh, "-f", "-c", program], capture_output=True, text=True, timeout=60, check=True)
        return sorted(done.stdout.split())

    assert "podman" in offered("--backend", "pod") and "up" not in offered("--backend", "pod")
    assert offered("--backend", "docker", "completion", "") == ["--help", "-h", "bash", "zsh"]
    assert "--jobs" in offered("up", "--j") and "--volumes" not in offered("up", "--j")


@pytest.mark.parametrize(
    "command",
    [
        ["ps"], ["doctor"], ["logs", "x"], ["status", "x"], ["stop", "x"], ["rm", "x"], ["run", "busybox"],
        ["up", "-f", "SERVICES"], ["down", "-f", "SERVICES"],
    ],
)  # fmt: skip
@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [("OBLAKO_TIMEOUT", "abc", "OBLAKO_TIMEOUT='abc'"), ("DOCKER_HOST", "bogus://x", "DOCKER_HOST='bogus://x'")],
)
def test_a_configuration_error_exits_2_from_every_command_naming_the_setting(
    command: list[str], variable: str, value: str, named: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    services = tmp_path / "services.toml"
    services.write_text("[services.web]\nimage = 'busybox:1'\n")
    monkeypatch.delenv("OBLAKO_CONTAINER_BACKEND", raising=False)  # docker: it reads both settings
    monkeypatch.setenv(variable, value)
    assert cli([str(services) if word == "SERVICES" else word for word in command]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"oblako-backends: {named}") and "Traceback" not in err


def test_list_marks_the_reference_backend_and_apple_off_macos_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OBLAKO_APPLE_CLI", raising=False)
    assert cli(["list", "--json"]) == 0
    listed = {b["name"]: b for b in json.loads(capsys.readouterr().out)}
    assert listed["memory"]["reference"] is True and listed["docker"]["reference"] is False
    assert listed["apple"]["unavailable"].startswith("needs macOS 26 or later on Apple silicon (this machine: Linux")
    assert cli(["list"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "reference: in-process, runs no container" in rows["memory"]
    assert "unavailable: needs macOS 26" in rows["apple"]
    assert cli(["doctor", "--backend", "apple"]) == 1
    out = capsys.readouterr().out
    assert "error:        Apple's container runtime needs macOS 26 or later" in out
    assert "oblako-backends doctor" not in out  # no hint to run the command being run


def test_the_quick_path_knows_every_command_and_builds_only_the_one_typed() -> None:
    from oblako_backends.cli import COMMANDS, _command_in, build_parser

    full = build_parser()
    (sub,) = [a for a in full._actions if isinstance(a, argparse._SubParsersAction)]
    assert tuple(sub.choices) == COMMANDS  # a new command cannot be missed by the quick path
    assert _command_in(["--backend", "ps", "-q", "ps", "--all"]) == "ps"  # "--backend ps" is a value
    assert _command_in(["--version"]) is None and _command_in(["nonsense"]) is None
    (only,) = [a for a in build_parser("ps")._actions if isinstance(a, argparse._SubParsersAction)]
    assert list(only.choices) == ["ps"]


def test_pull_and_build_take_each_service_s_image_its_own_way(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "Dockerfile").write_text("FROM x:1\n")
    path = tmp_path / "compose.yaml"
    path.write_text(
        "services:\n  web:\n    image: x:1\n  db:\n    image: y:2\n"
        "  tools:\n    build: ./tools\n    image: localhost/tools:1\n"
    )
    assert cli(["pull", "--backend", "memory", "-f", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == ["web: x:1", "db: y:2"]  # a built image is not pulled
    assert cli(["pull", "--backend", "memory", "-f", str(path), "db"]) == 0
    assert capsys.readouterr().out.splitlines() == ["db: y:2"]
    assert cli(["build", "--backend", "memory", "-f", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == ["tools: localhost/tools:1"]
    assert cli(["build", "--backend", "memory", "-f", str(path), "web"]) == 0
    assert "nothing to build" in capsys.readouterr().err
    assert cli(["pull", "--backend", "memory", "-f", str(path), "nope"]) == 2
    assert "no service 'nope'" in capsys.readouterr().err

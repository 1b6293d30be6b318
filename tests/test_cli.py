"""The CLI's own input parsing: bad options fail with exit 2 and one cause, before any runtime."""

from __future__ import annotations

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
    assert cli(["run", "--backend", "memory", "web", "busybox", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("oblako-backends: ") and cause in err


def test_run_passes_options_and_the_command_after_double_dash(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["run", "--backend", "memory", "web", "busybox", "-p", "9000:80", "-e", "A=b c", "-v", "data:/d:ro"]
    assert cli([*args, "--", "sh", "-c", "echo 'x y'"]) == 0
    assert capsys.readouterr().out == "web\n"


def test_pull_progress_bars_are_thinned_and_other_lines_kept(capsys: pytest.CaptureFixture[str]) -> None:
    from oblako_backends.cli import PullProgress

    show = PullProgress(interval=3600)
    for line in [
        "[web] STEP 1/3: FROM base",
        "[web] STEP 2/3: COPY a b",
        "a1b2 Downloading [=>        ] 1MB/9MB",
        "a1b2 Downloading [=====>    ] 5MB/9MB",
        "c3d4 Downloading [=>        ] 1MB/2MB",
        "a1b2 Pull complete",
    ]:
        show(line)
    assert capsys.readouterr().err.splitlines() == [
        "[web] STEP 1/3: FROM base",
        "[web] STEP 2/3: COPY a b",
        "a1b2 Downloading [=>        ] 1MB/9MB",
        "c3d4 Downloading [=>        ] 1MB/2MB",
        "a1b2 Pull complete",
    ]

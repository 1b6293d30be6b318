"""Reading a Compose or TOML file is bounded in time and memory: an alias bomb, deep nesting,
a huge file or a duplicated key is refused with exit 2 and a message naming the file, by every
command that reads one, in a process whose memory is capped (an alias bomb once grew past
2.9 GB). Long strings are split in linear time (shlex is quadratic in a word's length)."""

from __future__ import annotations

import os
import resource
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, strategies as st
from oblako_backends.reading import MAX_BYTES, MAX_DEPTH, MAX_VALUES
from oblako_backends.spec import split_words

MEMORY_CAP = 1024 * 1024 * 1024  # far below what the alias bomb took, far above a normal run
COMMANDS = (["config"], ["up"], ["down"], ["logs"])  # each reads the file


def capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OBLAKO_CONTAINER_BACKEND": "memory"}
    argv = [sys.executable, "-m", "oblako_backends.cli", *args]
    # The timeout only keeps a regression from hanging the suite; nothing here is timed.
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, preexec_fn=capped)


def refused_by_every_command(path: Path, words: str) -> None:
    for command in COMMANDS:
        done = run([*command, "--file" if command == ["logs"] else "-f", str(path)], path.parent)
        assert done.returncode == 2, (command, done.stderr[-2000:])
        assert str(path) in done.stderr and words in done.stderr, (command, done.stderr[-2000:])
        assert "Traceback" not in done.stderr


def alias_bomb(levels: int = 10, width: int = 9) -> str:
    """656 bytes that stand for width**levels strings, inside an `x-` field Compose ignores."""
    lines = ["x-bomb:", f"  a0: &a0 [{', '.join(['lol'] * width)}]"]
    lines += [f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join([*lines, "services:", "  web:", "    image: busybox", ""])


def test_an_alias_bomb_is_refused_by_every_command_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text(alias_bomb())
    assert len(path.read_bytes()) < 1024
    refused_by_every_command(path, "aliases add more than")


def test_aliases_as_real_files_use_them_are_read(tmp_path: Path) -> None:
    """An anchor merged into every service of a large project is nowhere near the bound."""
    services = "".join(f"  s{i}:\n    <<: *defaults\n    command: [sleep, '{i}']\n" for i in range(500))
    defaults = "x-defaults: &defaults\n  image: busybox\n  environment: {A: '1', B: '2'}\n  labels: [a=b]\n"
    path = tmp_path / "compose.yaml"
    path.write_text(defaults + "services:\n" + services)
    done = run(["config", "-f", str(path)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("image: busybox") == 500


def test_a_large_file_without_aliases_is_not_taken_for_a_bomb(tmp_path: Path) -> None:
    """The alias bound counts what aliases add: a file's own values are bounded by its size."""
    path = tmp_path / "compose.yaml"
    path.write_text(f"x-big: [{', '.join(['1'] * (MAX_VALUES + 10))}]\nservices:\n  web:\n    image: busybox\n")
    done = run(["config", "-f", str(path)], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]


def test_an_alias_that_contains_itself_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text("x-loop: &loop [a, *loop]\nservices:\n  web:\n    image: busybox\n")
    refused_by_every_command(path, "refers to the value that contains it")


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 600, 5000])
def test_deep_nesting_is_refused_in_yaml(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text(f"x-deep: {'[' * depth}{']' * depth}\nservices:\n  web:\n    image: busybox\n")
    refused_by_every_command(path, f"nests deeper than {MAX_DEPTH} levels")


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 600, 5000])
def test_deep_nesting_is_refused_in_toml(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "services.toml"
    path.write_text(f'[services.web]\nimage = "busybox"\ndeep = {"[" * depth}{"]" * depth}\n')
    refused_by_every_command(path, f"nests deeper than {MAX_DEPTH} levels")


def test_nesting_through_aliases_counts_too(tmp_path: Path) -> None:
    """Each anchor is shallow; expanded, the last one is deeper than the bound."""
    lines = ["x-chain:", "  a0: &a0 [[[[[[[[[[x]]]]]]]]]]"]
    lines += [f"  a{i}: &a{i} [[[[[[[[[[*a{i - 1}]]]]]]]]]]" for i in range(1, 12)]
    path = tmp_path / "compose.yaml"
    path.write_text("\n".join([*lines, "services:", "  web:", "    image: busybox", ""]))
    refused_by_every_command(path, "nests deeper than")


def test_nesting_within_the_bound_is_read(tmp_path: Path) -> None:
    depth = MAX_DEPTH - 5
    path = tmp_path / "compose.yaml"
    path.write_text(f"x-deep: {'[' * depth}{']' * depth}\nservices:\n  web:\n    image: busybox\n")
    assert run(["config", "-f", str(path)], tmp_path).returncode == 0


@pytest.mark.parametrize("suffix", [".yaml", ".toml"])
def test_a_file_larger_than_the_bound_is_refused_before_it_is_parsed(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"big{suffix}"
    head = "services:\n  web:\n    image: busybox\n" if suffix == ".yaml" else '[services.web]\nimage = "busybox"\n'
    path.write_text(head + "#" * MAX_BYTES + "\n")
    refused_by_every_command(path, f"larger than {MAX_BYTES // (1024 * 1024)} MiB")


@pytest.mark.parametrize(
    "text, lines",
    [
        ("services:\n  web:\n    image: a\n  web:\n    image: b\n", (4, 2)),
        ("services:\n  web:\n    image: a\n    environment:\n      A: '1'\n      A: '2'\n", (6, 5)),
        ("services:\n  web: {image: a, image: b}\n", (2, 2)),
    ],
)
def test_a_duplicated_key_is_refused_naming_both_lines(tmp_path: Path, text: str, lines: tuple[int, int]) -> None:
    """Compose refuses these too ("mapping key ... already defined at line N"); PyYAML keeps the last."""
    path = tmp_path / "compose.yaml"
    path.write_text(text)
    refused_by_every_command(path, f"line {lines[0]}: key ")
    assert f"already defined at line {lines[1]}" in run(["config", "-f", str(path)], tmp_path).stderr


def test_a_merge_key_overridden_by_the_mapping_is_not_a_duplicate(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text("x-d: &d {image: a, user: '1'}\nservices:\n  web:\n    <<: *d\n    image: busybox\n")
    done = run(["config", "-f", str(path)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "image: busybox" in done.stdout and "image: a\n" not in done.stdout


words = st.lists(st.sampled_from(["a", "b", " ", "\t", "\n", "'", '"', "\\", "$", "é", "x y", "''", '""']), max_size=16)


@given(words.map("".join))
def test_commands_split_exactly_as_shlex_splits_them(text: str) -> None:
    try:
        expected: object = shlex.split(text)
    except ValueError as exc:
        expected = str(exc)
    try:
        got: object = split_words(text)
    except ValueError as exc:
        got = str(exc)
    assert got == expected

"""The Apple backend through a stand-in for Apple's `container` CLI that runs real containers.

Apple's CLI runs on macOS 26 only. tests/standin/container speaks its documented command
line and JSON and carries each command out on the real Docker Engine the harness starts.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import runtimes
from oblako_backends import STOPPED, get_backend
from oblako_backends.backend import Backend
from oblako_backends.testing import contract

STANDIN = Path(__file__).parent / "standin" / "container"


@pytest.fixture
def apple(docker_engine: runtimes.Daemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    monkeypatch.setenv("DOCKER_HOST", docker_engine.url)
    backend = get_backend("container", cli_path=str(STANDIN), volumes_dir=str(tmp_path / "volumes"))
    yield backend
    for info in backend.list():
        backend.remove(info.name)


class TestAppleContract(
    contract.ContainerContract,
    contract.ServiceContract,
    contract.RaceContract,
    contract.CompatContract,
    contract.OptionalContract,
    contract.ExecContract,
    contract.OptionsContract,
    contract.NetworksContract,
    # Not ServiceNamesContract: Apple's CLI resolves names only in a DNS domain the user makes
    # (README); test_a_compose_project_runs_through_the_cli checks that `up` says so.
):
    @pytest.fixture
    def oblako_backend(self, apple: Backend) -> Backend:
        return apple

    @pytest.fixture
    def oblako_test_image(self) -> str:
        return runtimes.TEST_IMAGE

    @pytest.fixture
    def oblako_process_env(self, apple: Backend, tmp_path: Path) -> dict[str, str]:
        return {
            **os.environ,
            "OBLAKO_CONTAINER_BACKEND": "apple",
            "OBLAKO_APPLE_CLI": str(STANDIN),
            "OBLAKO_APPLE_VOLUMES": str(tmp_path / "volumes"),
        }

    @pytest.fixture
    def oblako_make_unowned(self, apple: Backend) -> Iterator[Callable[[str], None]]:
        made: list[str] = []

        def make(name: str) -> None:
            argv = [str(STANDIN), "run", "--detach", "--name", name, runtimes.TEST_IMAGE, "sleep", "600"]
            subprocess.run(argv, check=True, capture_output=True, timeout=60)
            made.append(name)

        yield make
        for name in made:
            subprocess.run([str(STANDIN), "delete", "--force", name], capture_output=True, timeout=60, check=False)


def test_the_probe_reads_status_and_version_and_names_the_limits(apple: Backend) -> None:
    probe = apple.probe()
    assert probe.reachable and probe.engine == "Apple container" and probe.version == "0.5.0"
    assert "no Docker socket" in probe.details["limits"] and apple.docker_client() is None


def test_a_stopped_service_says_to_start_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    probe = get_backend("apple", cli_path=str(STANDIN)).probe()
    assert not probe.reachable and "container system start" in probe.hint


def test_named_volumes_are_directories_under_the_state_directory(apple: Backend) -> None:
    name = "oc-vol-check"
    apple.run(
        name=name,
        image=runtimes.TEST_IMAGE,
        volumes={"notes": {"bind": "/data", "mode": "rw"}},
        command=["sh", "-c", f"echo kept > /data/file; {contract.FOREVER}"],
    )
    contract.wait_for(lambda: (apple.plugin.volumes_dir / "notes" / "file").exists(), "the write")
    assert (apple.plugin.volumes_dir / "notes" / "file").read_text() == "kept\n"
    apple.remove(name)


def test_host_docker_internal_in_env_becomes_the_gateway(apple: Backend) -> None:
    name = "oc-gw-check"
    apple.run(
        name=name,
        image=runtimes.TEST_IMAGE,
        environment={"UPSTREAM": "http://host.docker.internal:9000/"},
        command=["sh", "-c", f'echo "$UPSTREAM"; {contract.FOREVER}'],
    )
    contract.wait_for(lambda: apple.logs(name) != "", "the output")
    assert apple.logs(name) == f"http://{apple.plugin.gateway()}:9000/\n"
    apple.remove(name)


def test_env_values_reach_the_container_but_never_the_command_line(
    apple: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Apple's CLI documents --env-file: values go through a 0600 file removed afterwards, so
    no process list shows them."""
    import tempfile

    secret = "s3cr3t-never-on-a-command-line"
    argv_log = tmp_path / "argv.log"
    monkeypatch.setenv("OBLAKO_STANDIN_ARGV_LOG", str(argv_log))
    before = set(Path(tempfile.gettempdir()).glob("oblako-env-*"))
    apple.run(
        name="envfile",
        image=runtimes.TEST_IMAGE,
        environment={"TOKEN": secret, "MODE": "a=b"},
        command=["sh", "-c", 'echo "token=$TOKEN mode=$MODE"; sleep 600'],
    )
    contract.wait_for(lambda: "token=" in apple.logs("envfile"), "the container's line")
    assert apple.logs("envfile") == f"token={secret} mode=a=b\n"
    assert secret not in argv_log.read_text() and "--env-file=" in argv_log.read_text()
    assert set(Path(tempfile.gettempdir()).glob("oblako-env-*")) == before  # the file is gone again


def test_following_logs_while_the_runtime_is_frozen_ends_with_an_error(
    docker_engine: runtimes.Daemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stand-in's runtime is the Docker Engine: frozen with SIGSTOP, `container logs
    --follow` blocks and `container system status` gives no answer."""
    import signal

    from oblako_backends import RuntimeUnavailableError

    monkeypatch.setenv("DOCKER_HOST", docker_engine.url)
    monkeypatch.setenv("OBLAKO_TIMEOUT", "4")
    apple = get_backend("container", cli_path=str(STANDIN), volumes_dir=str(tmp_path / "volumes"))
    apple.run(name="frozen-follow", image=runtimes.TEST_IMAGE, command=["sh", "-c", "echo only-line; sleep 600"])
    try:
        contract.wait_for(lambda: "only-line" in apple.logs("frozen-follow"), "the container's line")
        stream = apple.follow_logs("frozen-follow", tail=10)
        assert next(stream) == "only-line"
        os.kill(docker_engine.pid, signal.SIGSTOP)
        try:
            outcome = contract.read_rest(stream, timeout=5)
        finally:
            os.kill(docker_engine.pid, signal.SIGCONT)
        assert isinstance(outcome, RuntimeUnavailableError), outcome or "still blocked"
    finally:
        apple.remove("frozen-follow")


def test_a_compose_project_runs_through_the_cli(
    docker_engine: runtimes.Daemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from oblako_backends.cli import main as cli

    monkeypatch.setenv("DOCKER_HOST", docker_engine.url)
    monkeypatch.setenv("OBLAKO_APPLE_CLI", str(STANDIN))
    monkeypatch.setenv("OBLAKO_APPLE_VOLUMES", str(tmp_path / "volumes"))
    port = runtimes.free_port()
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("served by apple\n")
    path = tmp_path / "compose.yaml"
    path.write_text(
        "services:\n  web:\n"
        f"    image: {runtimes.TEST_IMAGE}\n    ports: ['{port}:8080']\n"
        "    volumes: ['./site:/site:ro', 'data:/data']\n"
        "    command: ['sh', '-c', \"echo web-up; trap 'exit 0' TERM; httpd -f -p 8080 -h /site & wait\"]\n"
        "    healthcheck: {test: [CMD, wget, -q, -O-, 'http://localhost:8080/'], interval: 1s}\n"
        f"  tool:\n    image: {runtimes.TEST_IMAGE}\n    command: ['sleep', '600']\n    networks: [default, back]\n"
        "volumes:\n  data: {}\nnetworks:\n  back: {}\n"
    )
    try:
        assert cli(["up", "--backend", "apple", "-f", str(path), "-p", "appleproj"]) == 0
        assert runtimes.http_get("127.0.0.1", port) == (200, "served by apple\n")
        err = capsys.readouterr().err
        # What Apple's CLI cannot do is said once each, and the rest still runs.
        assert "warning: web: apple cannot run health checks inside the container; waiting for its first " in err
        assert "warning: service names do not resolve on apple: services on a network reach each other by " in err
        assert "one network" not in err  # a service on two joins both
        # The project's network, made by `container network create` and joined with --network.
        listed = subprocess.run(
            [str(STANDIN), "network", "ls", "--format", "json"], capture_output=True, text=True, timeout=60, check=True
        )
        made = {n["id"]: n for n in json.loads(listed.stdout)}["appleproj_default"]
        assert made["config"]["labels"]["oblako.project"] == "appleproj"
        web = json.loads(subprocess.run([str(STANDIN), "inspect", "appleproj-web-1"], capture_output=True,
                                        text=True, timeout=60, check=True).stdout)[0]  # fmt: skip
        assert [n["network"] for n in web["networks"]] == ["appleproj_default"]
        tool = json.loads(subprocess.run([str(STANDIN), "inspect", "appleproj-tool-1"], capture_output=True,
                                         text=True, timeout=60, check=True).stdout)[0]  # fmt: skip
        assert {n["network"] for n in tool["networks"]} == {"appleproj_default", "appleproj_back"}
        assert cli(["logs", "--backend", "apple", "--project", "appleproj"]) == 0
        assert capsys.readouterr().out.splitlines() == ["web  | web-up"]  # tool says nothing
    finally:
        assert cli(["down", "-v", "--backend", "apple", "-f", str(path), "-p", "appleproj"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "removed volume appleproj_data"
    listed = subprocess.run([str(STANDIN), "network", "ls", "-q"], capture_output=True, text=True, timeout=60)
    assert {"appleproj_default", "appleproj_back"}.isdisjoint(listed.stdout.split())  # `down` took those it made
    assert not (tmp_path / "volumes" / "appleproj_data").exists()


def test_exec_env_values_reach_the_command_but_never_the_command_line(
    apple: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`container exec` documents --env-file too: exec's environment takes the run's way."""
    secret = "exec-s3cr3t-never-on-a-command-line"
    argv_log = tmp_path / "argv.log"
    apple.run(name="execenv", image=runtimes.TEST_IMAGE, command=["sh", "-c", contract.FOREVER])
    contract.wait_for(lambda: apple.status("execenv") == contract.RUNNING, "the container to run")
    monkeypatch.setenv("OBLAKO_STANDIN_ARGV_LOG", str(argv_log))
    code, out = contract.run_in(apple, "execenv", "sh", "-c", 'echo "token=$TOKEN"', environment={"TOKEN": secret})
    assert (code, out) == (0, f"token={secret}\n")
    assert secret not in argv_log.read_text() and '"exec", "--env-file=' in argv_log.read_text()
    apple.remove("execenv")


def test_tmpfs_options_the_cli_cannot_carry_are_named_in_a_warning(apple: Backend) -> None:
    with pytest.warns(UserWarning, match=r"tmpfs by path only .* /scratch \(size"):
        apple.run(name="tmpfsopts", image=runtimes.TEST_IMAGE, command=["sh", "-c", contract.FOREVER],
                  tmpfs={"/scratch": "size=64m", "/run": ""})  # fmt: skip
    contract.wait_for(lambda: apple.status("tmpfsopts") == contract.RUNNING, "the container to run")
    code, mounts = contract.run_in(apple, "tmpfsopts", "cat", "/proc/mounts")
    assert code == 0 and {"/scratch", "/run"} <= {line.split()[1] for line in mounts.splitlines() if " tmpfs " in line}
    apple.remove("tmpfsopts")


def test_exec_in_a_container_that_has_ended_says_so(apple: Backend) -> None:
    """`container exec` refuses a stopped container (invalidState): said as an error, never
    passed off as the command's exit code."""
    from oblako_backends import OblakoBackendError

    apple.run(name="ended", image=runtimes.TEST_IMAGE, command=["sh", "-c", "exit 0"])
    contract.wait_for(lambda: apple.status("ended") == STOPPED, "the container to end")
    with pytest.raises(OblakoBackendError, match="no running container 'ended'"):
        contract.run_in(apple, "ended", "true")
    apple.remove("ended")

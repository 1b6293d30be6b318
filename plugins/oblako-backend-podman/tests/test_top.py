"""Podman's own top (the libpod endpoint's ps descriptors) shown as `docker top` shows it."""

from __future__ import annotations

import time

import pytest
from oblako_backend_podman import top

# What Podman's /libpod/containers/{id}/top?ps_args=user,pid,ppid,pcpu,etime,tty,time,args answers:
# psgo's titles, Go durations for ELAPSED and TIME, %CPU with three decimals.
TITLES = ["USER", "PID", "PPID", "%CPU", "ELAPSED", "TTY", "TIME", "COMMAND"]
ROWS = [
    ["root", "1", "0", "0.000", "3m2.5s", "?", "0s", "catatonit -- sleep 601"],
    ["1000", "7", "1", "12.500", "26h0m0s", "pts/0", "1h2m3.25s", "sleep 601"],
]


def test_the_answer_becomes_docker_tops_columns_in_ps_ef_formats() -> None:
    now = time.mktime((2026, 12, 7, 12, 0, 0, 0, 0, -1))
    found = top.as_docker(TITLES, ROWS, now=now)
    assert found.titles == ("UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD")
    assert found.rows[0] == ("root", "1", "0", "0", "11:56", "?", "00:00:00", "catatonit -- sleep 601")
    assert found.rows[1] == ("1000", "7", "1", "12", "Dec06", "pts/0", "01:02:03", "sleep 601")


@pytest.mark.parametrize(
    ("duration", "clock"),
    [("0s", "00:00:00"), ("12ms", "00:00:00"), ("59.9s", "00:00:59"), ("49h1m", "2-01:01:00"), ("later", "later")],
)
def test_go_durations_become_ps_clocks(duration: str, clock: str) -> None:
    assert top.as_docker(["TIME"], [[duration]]).rows == ((clock,),)


def test_a_column_podman_did_not_give_is_left_out_never_filled_from_another() -> None:
    found = top.as_docker(["PID", "COMMAND"], [["1", "sleep 5"]])
    assert found == top.Processes(("PID", "CMD"), (("1", "sleep 5"),))

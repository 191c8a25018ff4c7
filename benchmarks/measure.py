"""Run one command as a subprocess and measure it: wall time, CPU time, peak memory of its process tree.

Peak memory is measured two ways, because dbt (and DuckDB inside it) runs in a child process:

* ``peak_tree_rss``: the largest sum of RSS over the whole process tree (the command and every
  descendant), sampled every ``poll_s`` seconds with psutil. Shared pages are counted once per process,
  so this is an upper bound on what the tree really holds; a spike shorter than ``poll_s`` can be missed.
* ``peak_proc_rss``: ``ru_maxrss`` returned by ``wait4`` for the command: the largest RSS any single
  process of the tree reached (the kernel folds waited-for descendants in), exact, never sampled.

The command runs in its own session (process group), so a runaway tree can be stopped as a whole:
above ``rss_cap`` bytes (sampled) or after ``timeout_s`` the group is sent SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil


@dataclass
class Measured:
    cmd: list[str]
    log_path: str
    returncode: int | None = None
    wall_s: float = 0.0
    user_s: float = 0.0  # CPU time of the tree (waited-for descendants included)
    sys_s: float = 0.0
    peak_tree_rss: int = 0  # bytes
    peak_proc_rss: int = 0  # bytes
    peak_procs: int = 0  # most processes alive at once in the tree
    host_busy_s: float | None = None  # non-idle CPU time of the whole machine during the run
    # Processes of the command's group still alive after it exited (e.g. a dbt child left behind by
    # a failed step): how long the harness waited for them, and what they were.
    orphans_s: float = 0.0
    orphans: list[str] = field(default_factory=list)
    killed: str | None = None  # why the harness stopped it, if it did
    tail: list[str] = field(default_factory=list)  # last lines of the output

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.killed is None

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    @property
    def others_cpu_s(self) -> float | None:
        """CPU time other processes of the machine used meanwhile (contention on a shared host)."""
        if self.host_busy_s is None:
            return None
        return max(0.0, self.host_busy_s - self.cpu_s)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        d["cpu_s"] = self.cpu_s
        d["others_cpu_s"] = self.others_cpu_s
        return d


def _host_busy_s() -> float | None:
    """Non-idle CPU seconds of the whole machine since boot, from /proc/stat (all cores)."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = fh.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(x) for x in fields[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    busy = sum(ticks[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def _tree_rss(root: psutil.Process) -> tuple[int, int]:
    """(sum of RSS, process count) over ``root`` and its descendants; vanished processes skipped."""
    total = 0
    count = 0
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    for p in procs:
        try:
            total += p.memory_info().rss
            count += 1
        except psutil.Error:
            continue
    return total, count


def _group_members(pgid: int) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(p.pid) == pgid and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except (ProcessLookupError, psutil.Error):
            continue
    return out


def _wait_orphans(m: Measured, pgid: int, timeout_s: float, poll_s: float) -> None:
    """Wait (up to ``timeout_s``) for processes of the group that outlived the command, then stop them."""
    started = time.perf_counter()
    seen: dict[int, str] = {}
    while True:
        members = _group_members(pgid)
        if not members:
            break
        for p in members:
            try:
                seen.setdefault(p.pid, " ".join(p.cmdline())[:200])
            except psutil.Error:
                continue
        if time.perf_counter() - started > timeout_s:
            _stop_group(pgid)
            seen = {pid: f"{cmd} (stopped by the harness)" for pid, cmd in seen.items()}
            break
        time.sleep(poll_s)
    if seen:
        m.orphans_s = time.perf_counter() - started
        m.orphans = [f"pid {pid}: {cmd}" for pid, cmd in seen.items()]


def _stop_group(pgid: int, grace_s: float = 10.0) -> None:
    """SIGTERM then SIGKILL the process group we started (by its id)."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def _tail(path: Path, n: int) -> list[str]:
    try:
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            return [line.rstrip("\n") for line in deque(fh, maxlen=n)]
    except OSError:
        return []


def run_measured(
    cmd: list[str],
    *,
    log_path: Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    poll_s: float = 0.2,
    rss_cap: int | None = None,
    timeout_s: float | None = None,
    tail_lines: int = 40,
    orphan_timeout_s: float = 900.0,
) -> Measured:
    """Run ``cmd`` (stdout and stderr into ``log_path``) to completion and measure it."""
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    m = Measured(cmd=[str(c) for c in cmd], log_path=str(log_path))
    with log_path.open("wb") as log:
        busy_before = _host_busy_s()
        started = time.perf_counter()
        proc = subprocess.Popen(
            m.cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            root = psutil.Process(proc.pid)
        except psutil.Error:  # pragma: no cover - exited before we looked
            root = None
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if root is not None:
                    rss, count = _tree_rss(root)
                    m.peak_tree_rss = max(m.peak_tree_rss, rss)
                    m.peak_procs = max(m.peak_procs, count)
                    if rss_cap and rss > rss_cap and m.killed is None:
                        m.killed = (
                            f"stopped by the harness: process tree RSS {rss / 2**30:.1f} GiB "
                            f"over the cap of {rss_cap / 2**30:.1f} GiB"
                        )
                        _stop_group(proc.pid)
                if timeout_s and m.killed is None and time.perf_counter() - started > timeout_s:
                    m.killed = f"stopped by the harness after the {timeout_s:.0f} s timeout"
                    _stop_group(proc.pid)
                time.sleep(poll_s)
        except BaseException:
            _stop_group(proc.pid, grace_s=2.0)
            raise
        m.wall_s = time.perf_counter() - started
        busy_after = _host_busy_s()
    if busy_before is not None and busy_after is not None:
        m.host_busy_s = busy_after - busy_before
    m.returncode = os.waitstatus_to_exitcode(status)
    proc.returncode = m.returncode  # we reaped it ourselves; keep Popen consistent
    # Anything of the group still running would compete with (or corrupt) the next measurement.
    _wait_orphans(m, proc.pid, orphan_timeout_s, poll_s=0.5)
    m.user_s = usage.ru_utime
    m.sys_s = usage.ru_stime
    m.peak_proc_rss = usage.ru_maxrss * 1024  # Linux: kilobytes
    m.tail = _tail(log_path, tail_lines)
    return m

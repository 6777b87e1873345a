"""Runs a whole process and measures its wall time, CPU time and memory (Linux).

Two memory figures, because a CDK app is two processes: Python and the node process jsii starts.
- `max_rss_kb` comes from `os.wait4` on the child: Linux reports the largest of the child's own peak
  and the peaks of the descendants that were waited for. jsii waits for its node launcher at exit,
  which waits for the node kernel process, so this is the peak of the single largest process of the
  tree (the node kernel, for a CDK app), exact, but not their sum. Linux also carries a process's
  peak across fork and exec, so a child never reports less than what its parent had resident when
  it started: harmless here, where node's peak dwarfs this benchmark's own.
- `tree_peak_kb` is the largest sum of the resident sets of the child and all its descendants,
  sampled from /proc while it runs: the memory the synth really needs at once, give or take what
  happens between samples (and shared pages counted in each process).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SAMPLE_SECONDS = 0.1
# A handler invocation lives well under a second, so its peak is sampled far more often.
HIGH_WATER_SAMPLE_SECONDS = 0.005
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass(frozen=True)
class ProcessRun:
    seconds: float
    cpu_seconds: float
    max_rss_kb: int
    tree_peak_kb: int
    returncode: int
    output: str


def run_measured(command: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> ProcessRun:
    """Runs `command` to completion; stdout and stderr are kept together in `output`."""
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=dict(env), cwd=cwd, stdout=output, stderr=subprocess.STDOUT)
        sampler = _TreeSampler(process.pid)
        sampler.start()
        # wait4 rather than Popen.wait: it returns the child's rusage, and it ends the clock the
        # moment the child exits instead of at the next poll.
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        sampler.stop()
        output.seek(0)
        text = output.read().decode(errors="replace")
    return ProcessRun(
        seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        max_rss_kb=usage.ru_maxrss,
        tree_peak_kb=sampler.peak_kb,
        returncode=process.returncode,
        output=text,
    )


class _TreeSampler(threading.Thread):
    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self._root = root
        self._stopped = threading.Event()
        self.peak_kb = 0

    def run(self) -> None:
        while not self._stopped.is_set():
            self.peak_kb = max(self.peak_kb, sum(_rss_kb(pid) for pid in _tree(self._root)))
            self._stopped.wait(SAMPLE_SECONDS)

    def stop(self) -> None:
        self._stopped.set()
        self.join()


class HighWaterSampler(threading.Thread):
    """The largest peak RSS (VmHWM) among this process's descendants whose command line contains
    `marker`, sampled while the `with` block runs.

    VmHWM belongs to the memory of the running program and starts afresh at exec, unlike ru_maxrss,
    which keeps the parent's resident size a child was forked with. The last few milliseconds
    before a child exits can fall between samples.
    """

    def __init__(self, marker: bytes) -> None:
        super().__init__(daemon=True)
        self._marker = marker
        self._stopped = threading.Event()
        self.peak_kb = 0

    def __enter__(self) -> HighWaterSampler:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stopped.set()
        self.join()

    def run(self) -> None:
        me = os.getpid()
        while not self._stopped.is_set():
            for pid in _tree(me):
                if pid != me and self._marker in _cmdline(pid):
                    self.peak_kb = max(self.peak_kb, _high_water_kb(pid))
            self._stopped.wait(HIGH_WATER_SAMPLE_SECONDS)


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read()
    except OSError:
        return b""


def _high_water_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, IndexError, ValueError):
        pass
    return 0


def _tree(root: int) -> list[int]:
    """The root and its descendants. /proc/PID/task/*/children needs a kernel option this machine
    may lack, so the parent links come from every process's stat line."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                # The command name may hold spaces and parentheses: fields are counted after the last ")".
                parent = int(stat.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0  # the process exited between listing and reading

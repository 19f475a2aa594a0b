"""What the bench reads about processes and the machine (from /proc): CPU seconds of a
process tree, RSS, established connections per process, other processes' CPU, free
ports, and the cleanup of workers left running."""

from __future__ import annotations

import os
import signal
import socket
import time

REDIS_URL = "redis://127.0.0.1:6379"


CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name (field 3 onwards)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def process_tree(pid: int) -> list[int]:
    """`pid` and all its live descendants (a `--workers` supervisor and its children)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(stat_fields(int(entry))[1])
            except (OSError, IndexError, ValueError):
                continue  # ended meanwhile
            parents.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(parents.get(current, []))
    return tree


def tree_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU time so far of each process in `pid`'s tree. Each value includes the CPU of
    the process's children it has reaped (cutime + cstime), so a worker that ends
    between two samples is still counted, in its parent."""
    times: dict[int, float] = {}
    for member in process_tree(pid):
        try:
            fields = stat_fields(member)
        except OSError:
            continue
        times[member] = sum(int(x) for x in fields[11:15]) / CLK_TCK
    return times


def redis_pid(url: str = REDIS_URL) -> int | None:
    """The PID of the Redis server at `url` (from INFO), or None when unreachable."""
    from redis import Redis
    from redis.exceptions import RedisError

    try:
        with Redis.from_url(url, socket_timeout=2.0) as client:
            info = client.info("server")
    except (RedisError, OSError):
        return None
    return int(info["process_id"])


def tcp_inodes(port: int, state: str) -> set[str]:
    """Socket inodes of IPv4 TCP sockets on local `port` in `state` (/proc/net/tcp:
    01 = established, 0A = listening)."""
    inodes = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            cols = line.split()
            if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] == state:
                inodes.add(cols[9])
    return inodes


def established_per_process(pids: list[int], port: int) -> dict[int, int]:
    """How many established TCP connections to local `port` each process holds."""
    inodes = tcp_inodes(port, "01")
    wanted = {f"socket:[{inode}]" for inode in inodes}
    return {pid: sum(1 for link in fd_links(pid) if link in wanted) for pid in pids}


def fd_links(pid: int) -> list[str]:
    """Where each open file descriptor of `pid` points (`socket:[inode]` for sockets)."""
    links = []
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return []  # ended meanwhile
    for fd in fds:
        try:
            links.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue  # closed meanwhile
    return links


def machine_busy_seconds() -> float:
    """CPU time spent by the whole machine so far (all cores, all processes)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLK_TCK


def wait_quiet(max_wait_s: float, threshold: float = 0.25) -> float:
    """Wait (up to `max_wait_s`) until other work on the machine uses less than
    `threshold` cores; returns the last measured load. Other engineers run test suites
    on this machine: a benchmark step next to a browser test measures the test."""
    deadline = time.monotonic() + max_wait_s
    while True:
        before = machine_busy_seconds()
        time.sleep(1.0)
        load = machine_busy_seconds() - before
        if load < threshold or time.monotonic() > deadline:
            return round(load, 2)


def rss_bytes(pid: int) -> int:
    """Resident set size of a process."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def tree_rss_bytes(pid: int) -> int:
    """Resident set size of `pid` and its descendants (granian's worker, `--workers`)."""
    total = 0
    for member in process_tree(pid):
        try:
            total += rss_bytes(member)
        except OSError:
            continue  # ended meanwhile
    return total


def started_at(pid: int) -> str | None:
    """When `pid` started (clock ticks after boot), or None if it is gone or a zombie:
    with the PID it identifies one process, even if the PID is used again later."""
    try:
        fields = stat_fields(pid)
    except OSError:
        return None
    return None if fields[0] == "Z" else fields[19]


def kill_leftovers(workers: dict[int, str | None]) -> list[int]:
    """SIGKILL those of `workers` (PID: start time) still running after 5 s."""
    deadline = time.monotonic() + 5.0
    alive = list(workers)
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [p for p in alive if workers[p] is not None and started_at(p) == workers[p]]
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    return alive

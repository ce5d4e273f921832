"""Where a task looks from: the probe's own namespace, or another container's.

A shared probe (see diag.probes.probe) answers for every container from one process: it enters
each container's network namespace with setns(2) just long enough to create a socket (a
socket stays in the namespace it was created in), and reads that container's files through
/proc/PID/root and its sockets through /proc/PID/net. An isolated probe lives in the
namespace it observes and uses its own files: the default view.
"""

from __future__ import annotations

import ctypes
import functools
import os
import socket
from dataclasses import dataclass

CLONE_NEWNET = 0x40000000


class ViewError(Exception):
    """The container cannot be observed from here (gone, restarted, or no permission)."""


@functools.cache
def _libc() -> ctypes.CDLL:
    """Loaded once: loading it for every socket cost the agent 14 ms of a healthy run."""
    return ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if hasattr(os, "setns"):  # Python >= 3.12
        os.setns(fd, CLONE_NEWNET)
        return
    if _libc().setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


@dataclass(frozen=True)
class View:
    root: str = "/"  # the file system whose /etc/hosts and /etc/resolv.conf count
    proc: str = "/proc/self"  # whose net/tcp lists the listening sockets
    netns: int | None = None  # fd of the netns new sockets are made in; None: our own
    # /proc/thread-self: the calling thread's own files, read once it has entered `netns`
    proc_follows_thread: bool = False

    def path(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    def read(self, path: str) -> str:
        with open(self.path(path), encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def read_proc(self, name: str) -> str:
        if self.proc_follows_thread:
            self.enter()
        with open(f"{self.proc}/{name}", encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def enter(self) -> None:
        """Make the viewed netns the agent's current one. The agent is single-threaded
        (asyncio), so entering it and using it (a socket, a /proc/sys read) cannot interleave
        with another task's."""
        if self.netns is not None:
            _setns(self.netns)

    def socket(self, family: int, kind: int, proto: int = 0) -> socket.socket:
        """A socket in the viewed netns (a socket stays in the netns it was created in)."""
        self.enter()
        return socket.socket(family, kind, proto)

    def sysctl(self, name: str) -> str:
        """/proc/sys/NAME of the viewed netns: net/* sysctls are per namespace, and the
        kernel picks the namespace of the process that opens the file."""
        self.enter()
        with open(f"/proc/sys/{name.strip('/')}", encoding="ascii") as handle:
            return handle.read().strip()

    def netns_inode(self) -> int:
        """Identifies the namespace itself: two views with one inode see one network stack."""
        if self.netns is not None:
            return os.fstat(self.netns).st_ino
        return os.stat(f"{self.proc}/ns/net").st_ino


OWN = View()


def open_view(pid: int, container: str) -> View:
    """The view of the container whose init process is `pid` (from the engine's inspect).

    The pid is checked against the container id in /proc/PID/cgroup, so that a container
    restarted since ddiag read it (its pid now someone else's) is never observed by mistake.
    """
    if pid <= 0:
        raise ViewError("not running")
    try:
        with open(f"/proc/{pid}/cgroup", encoding="utf-8") as handle:
            cgroups = handle.read()
    except OSError:
        raise ViewError("its process is gone (stopped or restarted since ddiag read it)") from None
    if container not in cgroups:
        raise ViewError("restarted since ddiag read it (its process belongs to another)")
    return _enter(pid)


# A task's pid that means "the engine host's netns": the netns of the probe's parent, its
# containerd shim, which runs where the engine does (an engine in a netns of its own
# included). Only the shared probe, in the host's pid namespace, has the shim as parent.
HOST_PID = -1


def open_home_view() -> View:
    """The agent's own namespace, opened before it enters any other. A shared probe that
    is also the bridges anchor (diag.probes.launchpad) observes those networks from it;
    /proc/PID/ns/net would not do: it follows the main thread, which enters every
    container's namespace in turn."""
    fd = os.open("/proc/self/ns/net", os.O_RDONLY)
    return View(proc="/proc/thread-self", netns=fd, proc_follows_thread=True)


def open_host_view() -> View:
    """The engine host's network namespace, entered through the probe's parent process."""
    return _enter(os.getppid())


def _enter(pid: int) -> View:
    try:
        fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
        _setns(fd)  # fail here, once, if the probe may not enter it (EPERM)
    except OSError as exc:
        raise ViewError(f"cannot enter its network namespace: {exc.strerror or exc}") from None
    return View(root=f"/proc/{pid}/root", proc=f"/proc/{pid}", netns=fd)

"""One process per output folder: an exclusive OS file lock taken before a command looks at what the folder holds.

``train --out``, ``benchmark --runs-dir``, ``prepare --out`` and ``export`` hold ``FOLDER/.ltw-tf.lock`` with
``fcntl.flock`` while they work. The kernel drops the lock when its process ends, however it ends (SIGKILL
included), so a killed run leaves no stale lock: the next command takes it at once. The file records the holder
(PID, host, command, since when) for the one-line error of the process that finds the folder taken. A clean
release deletes the file (and the folder, if taking the lock created it and nothing else was written).

flock is advisory and per host: it guards against a second ltw-tf process on the same machine (or a local file
system shared by containers); over NFS it depends on the server's lock support.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import socket
import time
from pathlib import Path

LOCK_NAME = ".ltw-tf.lock"


class OutputBusy(RuntimeError):
    """The output folder is held by another process (the message names it)."""


def _holder(path: Path, wait: float = 1.0) -> str:
    """The holder's record, as text for one line (it may be a moment from being written: wait up to ``wait``)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            return f"{info['command']} (PID {info['pid']} on {info['host']}, since {info['since']})"
        except (OSError, ValueError, KeyError, TypeError):
            if time.monotonic() >= deadline:
                return "another process"
            time.sleep(0.05)


class OutputLock:
    """``with OutputLock(folder, "train"):`` -- exclusive use of ``folder``; raises OutputBusy when taken."""

    def __init__(self, folder: str | os.PathLike, command: str):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.command = command
        self._fd: int | None = None
        self._created = False

    def acquire(self) -> OutputLock:
        if self.folder.exists() and not self.folder.is_dir():
            raise OutputBusy(f"{self.folder} exists and is not a folder")
        self._created = not self.folder.exists()
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise OutputBusy(
                    f"{self.folder} is in use by {_holder(self.path)}; wait for it to end or choose another folder"
                ) from None
            try:  # the previous holder may have deleted the file between our open and our lock: lock the new one
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        since = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        record = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command, "since": since}
        os.ftruncate(fd, 0)
        os.write(fd, (json.dumps(record) + "\n").encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # while still locked: a waiting opener re-checks the inode
        finally:
            os.close(self._fd)  # drops the lock
            self._fd = None
        if self._created:
            with contextlib.suppress(OSError):
                self.folder.rmdir()  # only if the lock was all there was

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

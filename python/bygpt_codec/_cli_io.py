"""Files for the command line: inputs (``-`` is stdin), outputs that appear
under their final name only once complete (``-`` is stdout), and a progress
bar on stderr."""

from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
import time
from types import TracebackType


class UsageError(Exception):
    """A command line that cannot work (exit status 2)."""


def refuse_overwriting_inputs(inputs: list[str], outputs: list[str]) -> None:
    """Refuses, before anything is written, an output that is one of the
    inputs (the same file, also through another name or a link)."""

    def identity(path: str) -> tuple[int, int] | None:
        if path == "-":
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None  # missing outputs are fine; missing inputs fail when opened
        return (st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None

    sources = {identity(p): p for p in inputs}
    sources.pop(None, None)
    for out in outputs:
        same = sources.get(identity(out)) if out is not None else None
        if same is not None:
            raise UsageError(f"output {out} is the input {same}; refusing to overwrite it")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that outputs are cleaned up the same way."""


def raise_on_sigterm() -> None:
    """Turns SIGTERM into :class:`Terminated` (default: die at once, leaving
    temporary files behind). The streaming calls check signals between chunks."""
    import signal

    def handler(signum: int, frame: object) -> None:
        raise Terminated()

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (e.g. main() called from a worker)
        pass


def named(e: OSError, name: str) -> OSError:
    """``e`` with ``name`` as its file name (``<stdin>``, ``<stdout>``), so
    that the message says which stream failed."""
    return OSError(e.errno, e.strerror or os.strerror(e.errno or 0), name)


def write_stdout(text: str) -> None:
    """Writes text to stdout; a failure names ``<stdout>``."""
    if sys.stdout is None:  # fd 1 was closed when Python started
        raise OSError(errno.EBADF, os.strerror(errno.EBADF), "<stdout>")
    try:
        sys.stdout.write(text)
    except BrokenPipeError:
        raise
    except OSError as e:
        raise named(e, "<stdout>") from None


def flush_stdout() -> None:
    """Flushes stdout now, inside the command's error handling, rather than
    at exit; a failure names ``<stdout>``."""
    if sys.stdout is None:
        return
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as e:
        raise named(e, "<stdout>") from None


class Input:
    """An input file opened for reading by file descriptor; ``-`` is stdin.

    ``size`` is the byte count of a regular file (for progress), else None.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._file = None
        if path == "-":
            self.name = "<stdin>"
            self.fd = sys.stdin.fileno() if sys.stdin is not None else 0
            try:
                st = os.fstat(self.fd)
            except OSError as e:  # stdin closed (`<&-`)
                raise named(e, self.name) from None
        else:
            self.name = path
            self._file = open(path, "rb", buffering=0)  # noqa: SIM115 (closed in close())
            self.fd = self._file.fileno()
            st = os.fstat(self.fd)
        self.size = st.st_size if stat.S_ISREG(st.st_mode) else None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> Input:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _host() -> str:
    # os.uname, not socket.gethostname: importing socket costs every command 3 ms.
    if hasattr(os, "uname"):
        name = os.uname().nodename
    else:  # Windows
        import socket

        name = socket.gethostname()
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True


def remove_stale_temporaries(folder: str, base: str) -> list[str]:
    """Removes the temporary files that runs killed outright (SIGKILL, power
    loss) left beside output ``base`` in ``folder``: ``.BASE.HOST.PID.XXXXXXXX.tmp``
    whose host is this one and whose process is gone. Those of live runs,
    and of other hosts sharing the folder, are kept. Returns the removed names."""
    prefix, host, removed = f".{base}.", _host(), []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        parts = name[len(prefix) : -len(".tmp")].rsplit(".", 2)
        if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
            continue
        pid = int(parts[1])
        if pid != os.getpid() and not _alive(pid):
            try:
                os.unlink(os.path.join(folder, name))
                removed.append(name)
            except OSError:
                pass
    return removed


class Output:
    """Where a command writes. A regular file is written as a hidden temporary
    file in the same directory and renamed over the final name by
    ``commit()``; if the command fails or is interrupted the temporary file is
    removed, so a partial output never appears under the final name. stdout
    (``-`` or no path) and existing non-regular files (``/dev/null``,
    ``/dev/full``, FIFOs) are written directly.

    As ``cp`` and a shell's ``>`` do, an existing output keeps its mode (and,
    where allowed, its owner), and a symbolic link is written through: the
    file it points to is replaced, the link stays. Missing parent folders are
    created. The temporary file is ``.NAME.HOST.PID.XXXXXXXX.tmp``, so one
    left by a run killed outright (SIGKILL) is recognisable: the next run on
    the same output removes it once that process is gone."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._tmp: str | None = None
        self._file = None
        self.committed = False
        if path is None or path == "-":
            self.name = "<stdout>"
            if sys.stdout is not None:
                sys.stdout.flush()
            self.fd = 1
            return
        self.name = path
        # The file a link points to (as cp writes through it); the link itself stays.
        self._final = os.path.realpath(path) if os.path.islink(path) else os.path.abspath(path)
        try:
            st: os.stat_result | None = os.stat(self._final)
        except FileNotFoundError:
            st = None
        if st is not None and not stat.S_ISREG(st.st_mode):
            self._file = open(path, "wb", buffering=0)  # noqa: SIM115 (closed in _close())
            self.fd = self._file.fileno()
            return
        folder, base = os.path.split(self._final)
        try:
            os.makedirs(folder, exist_ok=True)
            remove_stale_temporaries(folder, base)
            fd, self._tmp = tempfile.mkstemp(prefix=f".{base}.{_host()}.{os.getpid()}.", suffix=".tmp", dir=folder)
        except OSError as e:  # name the output, not the temporary file
            raise OSError(e.errno, e.strerror, path) from None
        if st is not None:  # keep the existing file's mode and, if we may, its owner
            if (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
                try:
                    os.fchown(fd, st.st_uid, st.st_gid)
                except OSError:
                    pass
            os.fchmod(fd, stat.S_IMODE(st.st_mode))
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)  # what open() would have given the final file
        self._file = os.fdopen(fd, "wb", buffering=0)
        self.fd = fd

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]

    def tell(self) -> int:
        return os.lseek(self.fd, 0, os.SEEK_CUR)

    def truncate(self, size: int) -> None:
        os.ftruncate(self.fd, size)
        os.lseek(self.fd, size, os.SEEK_SET)

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def commit(self) -> None:
        """Finishes the output: the final name now holds all of it."""
        self._close()
        if self._tmp is not None:
            os.replace(self._tmp, self._final)
            self._tmp = None
        self.committed = True

    def abort(self) -> None:
        """Drops an unfinished output (nothing appears under the final name)."""
        try:
            self._close()
        finally:
            if self._tmp is not None:
                try:
                    os.unlink(self._tmp)
                except OSError:
                    pass
                self._tmp = None

    def __enter__(self) -> Output:
        return self

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if not self.committed:
            self.abort()


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


class Progress:
    """A one-line progress bar on stderr: bytes done, MB/s and ETA. Drawn only
    when enabled (stderr a TTY and no ``--quiet``), at most 10 times a second."""

    def __init__(self, label: str, total: int | None, enabled: bool) -> None:
        self.label = label
        self.total = total
        self.enabled = enabled
        self.base = 0  # bytes done by earlier files of a multi-file run
        self.start = time.monotonic()
        self._last = 0.0
        self._drawn = False

    @staticmethod
    def wanted(quiet: bool) -> bool:
        return not quiet and sys.stderr is not None and sys.stderr.isatty()

    def __call__(self, done: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1:
            return
        self._last = now
        done += self.base
        elapsed = max(now - self.start, 1e-9)
        rate = done / elapsed
        line = f"{self.label}: {_size(done)}"
        if self.total:
            line += f" / {_size(self.total)} ({min(done / self.total, 1):.0%})"
        line += f"  {rate / 1e6:.1f} MB/s"
        if self.total and rate > 0:
            left = max(self.total - done, 0) / rate
            line += f"  ETA {int(left) // 60}:{int(left) % 60:02d}"
        sys.stderr.write("\r" + line + "\x1b[K")
        sys.stderr.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self._drawn = False

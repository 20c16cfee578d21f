"""Output folders that are checked before the work and never left half-written.

``OutputFolder(path, command, identity)`` checks at once that ``path`` is (or
can become) a writable folder and takes a lock on it (a second writer is
refused, not interleaved).  Files are written into a staging folder inside
it; ``commit()`` moves them into place (one rename each) and writes
``manifest.json`` last: which command and scenario (by content hash) wrote
each file, and each file's SHA-256, so a reader can tell a consistent set
(``manifest_problems``); files that an earlier command wrote for another
scenario are removed, so a folder never mixes two.  A failure while writing (a full disk) removes the
staging folder and leaves the previous results as they were.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import time

from .errors import HopdynError

MANIFEST = "manifest.json"
LOCK = ".hopdyn.lock"
STAGING = ".hopdyn-staging"
_SYSTEM = ("/proc", "/sys", "/dev")


class OutputError(HopdynError, OSError):
    """The output folder cannot be written (exit 2 before the work, exit 1 during it)."""


class WriteError(OutputError):
    """Writing the results failed after the work was done (exit 1); the previous
    results in the folder are unchanged."""


def _refuse(path: str, why: str) -> OutputError:
    return OutputError(f"{path}: {why}", ("--out",))


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class OutputFolder:
    """A checked, locked output folder with staged writes (a context manager:
    leaving it without ``commit`` discards what was staged)."""

    def __init__(self, path: str, command: str, identity: dict | None = None):
        self.path, self.command, self.identity = os.path.abspath(path), command, dict(identity or {})
        self.staging = os.path.join(self.path, f"{STAGING}-{os.getpid()}")
        self.staged: list[str] = []
        self._lock = None
        real = os.path.realpath(self.path)
        if any(real == s or real.startswith(s + "/") for s in _SYSTEM):
            raise _refuse(path, "is inside a system folder (/proc, /sys, /dev); expected a folder for results")
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise _refuse(path, "exists and is not a folder; expected a folder for results")
        self._created = []  # folders made here, innermost first: removed again if nothing is committed
        top = self.path
        while not os.path.lexists(top):
            self._created.append(top)
            top = os.path.dirname(top)
        try:
            os.makedirs(self.path, exist_ok=True)
            self._lock = open(os.path.join(self.path, LOCK), "a")  # noqa: SIM115 - held until close()
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.stat(self._lock.name).st_ino != os.fstat(self._lock.fileno()).st_ino:
                raise BlockingIOError  # the holder removed it between our open and our lock
        except BlockingIOError:
            self._lock.close()
            self._lock = None
            self.close()
            raise _refuse(
                path, "another hopdyn command is writing to this folder; wait for it or use another --out"
            ) from None
        except OSError as e:
            self.close()
            raise _refuse(path, f"cannot be written ({e.strerror})") from None
        try:
            shutil.rmtree(self.staging, ignore_errors=True)
            os.makedirs(self.staging)
            probe = os.path.join(self.staging, ".probe")
            with open(probe, "wb") as f:
                f.write(b"x")
                f.flush()
                os.fsync(f.fileno())
            os.unlink(probe)
        except OSError as e:
            self.close()
            raise _refuse(path, f"cannot be written ({e.strerror})") from None

    # -------------------------------------------------------------- writing
    def earlier(self, name: str, command: str) -> str | None:
        """The path of ``name`` as ``command`` wrote it here before for this very
        identity (scenario content, overrides, hopdyn version), unchanged since;
        ``None`` when there is no such file (then the work is done again)."""
        entry = read_manifest(self.path).get("files", {}).get(name)
        path = os.path.join(self.path, name)
        if not isinstance(entry, dict) or entry.get("command") != command or not self.identity:
            return None
        if any(entry.get(k) != v for k, v in self.identity.items()):
            return None
        try:
            return path if sha256(path) == entry.get("sha256") else None
        except OSError:
            return None

    def file(self, name: str) -> str:
        """The staging path to write ``name`` to (it moves into place on commit)."""
        self.staged.append(name)
        return os.path.join(self.staging, name)

    def write(self, name: str, writer) -> None:
        """``writer(path)`` writes the file; a full disk is one ``OutputError``."""
        try:
            writer(self.file(name))
        except OSError as e:
            raise WriteError(
                f"writing {name} in {self.path} failed ({e.strerror or e}); the previous results there are unchanged"
            ) from None

    def commit(self) -> list[str]:
        """Move every staged file into place, remove the files an earlier command
        wrote there for another scenario (or another version of this one: a
        different ``scenario_sha256``), then write the manifest last.  Returns
        the names removed."""
        removed = []
        try:
            manifest = self._manifest()
            mine = self.identity.get("scenario_sha256")
            for name, entry in list(manifest["files"].items()):
                if mine and name not in self.staged and entry.get("scenario_sha256") not in (None, mine):
                    os.unlink(os.path.join(self.path, name))  # stale: it describes another scenario
                    del manifest["files"][name]
                    removed.append(name)
            for name in self.staged:
                os.replace(os.path.join(self.staging, name), os.path.join(self.path, name))
                manifest["files"][name] = {
                    "command": self.command,
                    "sha256": sha256(os.path.join(self.path, name)),
                    **self.identity,
                }
            manifest["last"] = {"command": self.command, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **self.identity}
            tmp = os.path.join(self.staging, MANIFEST)
            with open(tmp, "w") as f:
                json.dump(manifest, f, indent=2)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, os.path.join(self.path, MANIFEST))
        except OSError as e:
            raise WriteError(f"writing the results in {self.path} failed ({e.strerror or e})") from None
        finally:
            self._created = []  # results are in place: keep the folder
            self.close()
        return removed

    def _manifest(self) -> dict:
        old = read_manifest(self.path)
        files = {k: v for k, v in old.get("files", {}).items() if os.path.isfile(os.path.join(self.path, k))}
        return {"format": 1, "files": files}

    def close(self) -> None:
        """Discard what was staged, release the lock, and remove the folders this
        object made if nothing was committed into them."""
        shutil.rmtree(self.staging, ignore_errors=True)
        if self._lock is not None and not self._lock.closed:
            try:
                os.unlink(self._lock.name)  # while still held: a late opener sees the inode change
            except OSError:
                pass
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
        for folder in self._created:
            try:
                os.rmdir(folder)
            except OSError:
                break

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_manifest(folder: str) -> dict:
    try:
        with open(os.path.join(folder, MANIFEST)) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def manifest_problems(folder: str) -> list[str]:
    """Why the files in ``folder`` are not the consistent set its manifest names
    (empty: they are): files missing, changed since, or not in the manifest."""
    m = read_manifest(folder)
    if not m:
        return ["no readable manifest.json"]
    out = []
    for name, entry in m.get("files", {}).items():
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            out.append(f"{name}: missing")
        elif sha256(path) != entry.get("sha256"):
            out.append(f"{name}: changed since {entry.get('command')} wrote it")
    for name in sorted(os.listdir(folder)):
        if (
            name not in m.get("files", {})
            and name not in (MANIFEST, LOCK)
            and not name.startswith(STAGING)
            and os.path.isfile(os.path.join(folder, name))
        ):
            out.append(f"{name}: not written by the run the manifest names")
    return out


def is_disk_full(e: OSError) -> bool:
    return e.errno in (errno.ENOSPC, errno.EDQUOT)

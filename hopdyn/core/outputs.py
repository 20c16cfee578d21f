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

``WorkFolder(path, pattern, identity)`` is the folder of partial results a
long study keeps so that ``resume`` continues it (``basins.partial``,
``continuation.partial``, ``training.partial`` or a folder named from Python).

This module owns every file hopdyn writes or deletes under a folder it was
given, and holds them to four rules:

- a manifest is data, never an order: only plain names (no ``/``, no ``..``)
  inside the folder are ever acted on;
- only what hopdyn wrote is deleted: a regular file whose content is still the
  one hopdyn recorded (or, in a work folder, whose name is one hopdyn gives its
  own files); never a folder the user made, never anything outside;
- links are replaced, never followed: a link where hopdyn writes is replaced by
  a file or folder, a link where hopdyn reads is treated as absent;
- leftovers of a killed command (staging folders, temporary files) are removed
  by the next command that holds the folder's lock.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
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


_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,200}$")


def plain_name(name) -> bool:
    """Whether ``name`` names a file directly inside a folder (no separator, no
    ``..``, not absolute, printable ASCII): the only names hopdyn acts on."""
    return isinstance(name, str) and bool(_PLAIN.match(name)) and name not in (".", "..")


def regular(path: str) -> bool:
    """A regular file, not followed through a link."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def remove_written(folder: str, name: str, digest: str | None = None) -> bool:
    """Remove ``folder/name`` only if ``name`` is plain, the entry is a regular
    file (a link is left alone) and, when ``digest`` is given, its content is
    still what hopdyn recorded.  Returns whether it was removed."""
    if not plain_name(name):
        return False
    path = os.path.join(folder, name)
    if not regular(path):
        return False
    try:
        if digest is not None and sha256(path) != digest:
            return False
        os.unlink(path)
    except OSError:
        return False
    return True


def _clear_leftovers(folder: str) -> None:
    """Staging folders and temporary files a killed hopdyn command left in
    ``folder`` (called with the folder's lock held: no other command is writing)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        path = os.path.join(folder, name)
        if name.startswith(STAGING + "-") and os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        elif name.startswith(".") and name.endswith(".tmp") and regular(path):
            try:
                os.unlink(path)  # an atomic write that never reached its rename
            except OSError:
                pass


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
    leaving it without ``commit`` discards what was staged).

    **Arguments:**

    - ``path``: the folder (made if missing; a file, a system folder or a
      folder another hopdyn command holds is refused: ``OutputError``).
    - ``command``: the command writing (recorded per file in the manifest).
    - ``identity``: what the results depend on (scenario hash, overrides,
      version), recorded per file; files written for another identity are
      removed on ``commit`` while still what hopdyn wrote.
    """

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
            lock = os.path.join(self.path, LOCK)
            if os.path.islink(lock):
                os.unlink(lock)  # replaced, never followed
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
            self._lock = os.fdopen(fd, "a")  # held until close()
            self._lock_path = lock
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.stat(self._lock_path).st_ino != os.fstat(self._lock.fileno()).st_ino:
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
        _clear_leftovers(self.path)
        try:
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
        if not plain_name(name):
            return None
        path = os.path.join(self.path, name)
        if not isinstance(entry, dict) or entry.get("command") != command or not self.identity or not regular(path):
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
                    # stale: it describes another scenario.  Removed only if it is still
                    # the file hopdyn wrote; either way it is no longer in the manifest
                    if remove_written(self.path, name, entry.get("sha256")):
                        removed.append(name)
                    del manifest["files"][name]
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
        old = read_manifest(self.path).get("files", {})
        files = {
            k: v
            for k, v in (old.items() if isinstance(old, dict) else ())
            if plain_name(k) and isinstance(v, dict) and regular(os.path.join(self.path, k))
        }
        return {"format": 1, "files": files}

    def close(self) -> None:
        """Discard what was staged, release the lock, and remove the folders this
        object made if nothing was committed into them."""
        shutil.rmtree(self.staging, ignore_errors=True)
        if self._lock is not None and not self._lock.closed:
            try:
                os.unlink(self._lock_path)  # while still held: a late opener sees the inode change
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
    (empty: they are): files missing, changed since, or not in the manifest.

    **Arguments:**

    - ``folder``: an output folder hopdyn wrote
    """
    m = read_manifest(folder)
    if not m:
        return ["no readable manifest.json"]
    out = []
    files = m.get("files", {}) if isinstance(m.get("files"), dict) else {}
    for name, entry in files.items():
        path = os.path.join(folder, name)
        if not plain_name(name) or not isinstance(entry, dict):
            out.append(f"{name!r}: not a file name inside the folder")
        elif not regular(path):
            out.append(f"{name}: missing")
        elif sha256(path) != entry.get("sha256"):
            out.append(f"{name}: changed since {entry.get('command')} wrote it")
    for name in sorted(os.listdir(folder)):
        if (
            name not in files
            and name not in (MANIFEST, LOCK)
            and not name.startswith(STAGING)
            and regular(os.path.join(folder, name))
        ):
            out.append(f"{name}: not written by the run the manifest names")
    return out


def is_disk_full(e: OSError) -> bool:
    return e.errno in (errno.ENOSPC, errno.EDQUOT)


class WorkerFolder:
    """What a process other than 0 of a distributed run holds of the output
    folder: its path, nothing more.  Process 0 takes the folder's lock and
    writes every result; the others write only their pieces (chunks, values)
    into the work folder process 0 prepares inside it, so no process ever
    contends for the lock and no result is written twice.

    **Arguments:**

    - ``path``: the output folder (the same ``--out`` every process is given).
    """

    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        self.staged: list[str] = []

    def write(self, name: str, writer) -> None:
        raise OutputError(f"{name}: only process 0 of a distributed run writes results", ("out",))

    def commit(self) -> list[str]:
        return []

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class WorkFolder:
    """The folder of partial results a long study keeps while it runs (chunks of
    a basin ensemble, values of a continuation, epochs of training), so that
    ``resume`` continues an interrupted study where it stopped.

    **Arguments:**

    - ``path``: the folder.  A link there is replaced by a real folder (never
      followed); a file there is refused (``OutputError`` naming ``argument``).
    - ``pattern``: a regular expression of the names of the files this study
      writes there (``chunk_\\d{5}\\.npz``): the only files it ever deletes.
    - ``identity``: what a resumed study must share with the interrupted one.
    - ``resume``: ``True`` continues from the files there (their identity must
      match: ``AnalysisError`` on ``resume`` otherwise); ``False`` removes the
      study's own files from an earlier run first; ``None`` (the default)
      refuses a folder that holds them (``UnfinishedWork``): unfinished work
      is never discarded silently.
    - ``lead``: whether this process prepares the folder (under
      ``jax.distributed`` the other processes only read its manifest).
    - ``changed``: what a resume into another study's folder is told.

    The folder's ``manifest.json`` is data: its identity, whether hopdyn made
    the folder, and the choices the study made (``choice``) so that a resume
    replays them.  ``finish()`` removes the study's files and manifest, and the
    folder itself only when hopdyn made it and it is then empty: a folder named
    from Python that existed before is never deleted.
    """

    def __init__(
        self,
        path: str,
        pattern: str,
        identity: str,
        resume: bool | None = None,
        *,
        lead: bool = True,
        argument: tuple = ("folder",),
        changed: str = "the network, settings or ensemble changed since the interrupted run; run without resuming",
    ):
        from .errors import AnalysisError, UnfinishedWork

        self.path, self.identity, self.argument = os.path.abspath(path), identity, argument
        self.pattern = re.compile(pattern)
        self.manifest = os.path.join(self.path, MANIFEST)
        self.problem: str | None = None  # what a resume found wrong with the manifest
        if not lead:
            self.data = read_manifest(self.path)
            return
        try:
            if os.path.islink(self.path):
                os.unlink(self.path)  # replaced, never followed
            if os.path.lexists(self.path) and not os.path.isdir(self.path):
                raise OutputError(
                    f"{path} exists and is not a folder; remove it or name another folder for partial results",
                    argument,
                )
            created = not os.path.lexists(self.path)
            os.makedirs(self.path, exist_ok=True)
        except OutputError:
            raise
        except OSError as e:
            raise OutputError(f"{path}: cannot be written ({e.strerror or e})", argument) from None
        _clear_leftovers(self.path)
        old = read_manifest(self.path) if resume else {}
        if old and old.get("identity") != identity:
            raise AnalysisError(changed, ("resume",))
        if resume and not old and os.path.lexists(self.manifest):
            self.problem = f"{self.manifest} is damaged: every saved file is checked on its own"
        if not old:
            names = self.names()
            if resume is None and names:
                raise UnfinishedWork(path, len(names))
            if not resume:
                # a folder an earlier run of hopdyn made stays hopdyn's to remove (only ever when empty)
                created = created or read_manifest(self.path).get("created") is True
                self.discard()
            old = {"identity": identity, "created": created, "choices": {}}
        old.setdefault("choices", {})
        self.data = old
        self._write_manifest()

    # -------------------------------------------------------------- files
    def own(self, name: str) -> bool:
        return plain_name(name) and bool(self.pattern.fullmatch(name))

    def names(self) -> list[str]:
        """The study's files now in the folder (regular files with its names)."""
        try:
            return sorted(n for n in os.listdir(self.path) if self.own(n) and regular(os.path.join(self.path, n)))
        except OSError:
            return []

    def where(self, name: str) -> str:
        """The path to write ``name`` (written atomically: a link there is replaced)."""
        if not self.own(name):
            raise ValueError(f"{name!r} is not a name this work folder writes")
        return os.path.join(self.path, name)

    def existing(self, name: str) -> str | None:
        """The path of ``name`` if a regular file of the study is there (a link is absent)."""
        path = os.path.join(self.path, name)
        return path if self.own(name) and regular(path) else None

    def remove(self, name: str) -> None:
        if self.own(name):
            remove_written(self.path, name)

    def discard(self) -> None:
        """Remove the study's files and manifest (an earlier run's, not resumed)."""
        for name in self.names():
            remove_written(self.path, name)
        remove_written(self.path, MANIFEST)

    # -------------------------------------------------------------- choices
    def choice(self, key: str):
        """A choice recorded by this study (``None`` when not yet made)."""
        choices = self.data.get("choices")
        return choices.get(key) if isinstance(choices, dict) else None

    def record(self, key: str, value) -> None:
        """Record a choice that changes the numbers, so that a resume replays it."""
        self.data.setdefault("choices", {})[key] = value
        self._write_manifest()

    def reread(self) -> dict:
        self.data = read_manifest(self.path)
        return self.data

    def _write_manifest(self) -> None:
        from .io import write_json

        write_json(self.manifest, self.data)

    def finish(self) -> None:
        """The study is done (its results are elsewhere): remove its files and
        manifest, and the folder if hopdyn made it and nothing else is in it."""
        created = bool(self.data.get("created"))
        self.discard()
        _clear_leftovers(self.path)
        if created:
            try:
                os.rmdir(self.path)
            except OSError:
                pass  # something else is in it: left as it is

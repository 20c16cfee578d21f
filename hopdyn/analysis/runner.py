"""Running an ensemble: every start of a network solved in chunks of one
compiled, batched solve each (or in slots refilled as starts finish), kept in
a work folder as they are done so that an interrupted run resumes where it
stopped, shared between the processes of a distributed run, with
``method: auto`` resolved once for the whole ensemble.  What the ensemble
means — attractors, fractions, retrieval — is ``basins``'s business."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable
from typing import Annotated

import numpy as np
from pydantic import Field

from ..core.budget import release_free_memory
from ..core.errors import AnalysisError
from ..core.io import write_npz
from ..core.patterns import LazyRows
from ..model.network import Network
from ..model.params import Doc, dataclass_arguments
from ..solvers.registry import AUTO
from ..solvers.settings import SolveSettings
from ..solvers.simulate import simulate
from ..solvers.stiffness import resolve_auto
from ..solvers.trajectory import STATUSES

STEADY = STATUSES.index("steady_state")
MEMORY_BUDGET = 256 * 2**20  # bytes of solver state per chunk


# ------------------------------------------------------------------ chunked solving
@dataclasses.dataclass(frozen=True)
class Chunking:
    """How an ensemble is run, as Diffrax takes ``SaveAt``: trajectories per
    compiled solve, the work folder that keeps each chunk as it is done, what
    to do with an interrupted run's chunks there, and slot refilling.  Checked
    where it is made (``AnalysisError`` naming the field)."""

    size: Annotated[int | None, Field(ge=1), Doc("trajectories per compiled solve (default: memory-bounded)")] = None
    folder: Annotated[str | None, Doc("where each chunk is kept as it is done (default: nowhere)")] = None
    resume: Annotated[
        bool | None, Doc("True: continue an interrupted run's chunks; False: discard them; None: refuse them")
    ] = None
    refill: Annotated[
        bool | None, Doc("solve in slots refilled as starts finish (None: decided from the first chunk)")
    ] = None

    def __post_init__(self):
        from ..model.checks import check_fields

        if self.folder is not None and isinstance(self.folder, os.PathLike):
            object.__setattr__(self, "folder", os.fspath(self.folder))
        check_fields(self, AnalysisError)


dataclass_arguments(Chunking)


def chunk_size(network: Network, total: int, chunk: int | None = None) -> int:
    """Trajectories per compiled solve: ``chunk`` when given, else as many as keep
    a chunk's solver state under ``MEMORY_BUDGET`` and a quarter of the memory
    budget (``core.budget``)."""
    from ..core.budget import budget

    if chunk:
        return int(min(chunk, total))
    state = sum(n.size for n in network.neurons.values())
    per_member = 8 * state * 40  # stages, error estimate, controller and saved rows, with margin
    limit = min(MEMORY_BUDGET, budget() // 4)
    return int(max(1, min(4096, total, limit // per_member)))


def fingerprint(network: Network, starts: dict, base: dict, settings: SolveSettings, chunk: int) -> str:
    """What a resumed ensemble must share with the interrupted one: the network's
    arrays and structure, the starts, the other layers' states, the settings and
    the chunk size."""
    import jax

    h = hashlib.sha256()
    leaves, treedef = jax.tree.flatten(network)
    h.update(str(jax.tree.map(lambda a: (np.shape(a), str(np.asarray(a).dtype)), leaves)).encode())
    h.update(repr((type(network).__name__, [type(s).__name__ for s in network.synapses], network.names)).encode())
    for leaf in leaves:
        h.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
    for d in (starts, base):
        for k in sorted(d):
            h.update(k.encode())
            h.update(rows_bytes(d[k]))
    h.update(repr(settings).encode())
    h.update(str(chunk).encode())
    return h.hexdigest()


def solve_ensemble(
    network: Network,
    starts: dict[str, np.ndarray],
    base: dict | None = None,
    settings: SolveSettings | None = None,
    chunking: Chunking | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
    wait_seconds: float = 86400.0,
    log: Callable[[str], None] | None = None,
    consume: Callable[[int, dict], None] | None = None,
) -> dict[str, np.ndarray] | None:
    """Solve every start (``starts``: ``{layer: (M, *shape)}``; the other layers
    start from ``base``, unbatched, default zero) in chunks of one compiled,
    batched solve each, keeping only the end of each trajectory.  With
    ``folder``, each chunk's end states go to ``folder/chunk_<i>.npz`` as soon
    as it is done, so ``resume=True`` continues an interrupted run where it
    stopped: every chunk file records its index, the run's fingerprint and a
    checksum of its arrays, and one that fails them is solved again (and said
    so through ``log``).  Returns ``status``, ``t_final``, ``energy_end`` and
    ``x_end/<layer>`` per start (``None`` on a worker of a distributed run).
    With ``consume``, each chunk's arrays go to ``consume(i, arrays)`` instead,
    in chunk order, as soon as they and every chunk before them are done, and
    nothing is kept (returns ``{}``): memory stays that of a few chunks
    whatever the number of starts (a chunk done out of order waits on disk
    when there is a folder).

    **Arguments:**

    - ``network``: the ``Network``
    - ``starts``: ``{layer: (M, *shape)}``
    - ``base``: the other layers' start
    - ``settings``: how each trajectory is solved
    - ``chunking``: a ``Chunking`` (chunk size, work folder, resume, slot refilling)
    - ``on_chunk``, ``log``: progress and what a resume found
    - ``wait_seconds``: how long a distributed run waits for other processes' chunks
    - ``consume``: takes each chunk's arrays in order (``(index, arrays)``) instead of returning them all
    """

    c = chunking or Chunking()
    chunk, folder, resume, refill = c.size, c.folder, c.resume, c.refill

    settings = dataclasses.replace(settings or SolveSettings(), save=2)
    layers = list(starts)
    if not layers:
        raise AnalysisError("expected at least one layer's starts", ("starts",))
    unknown = [k for k in [*layers, *(base or {})] if k not in network.neurons]
    if unknown:
        raise AnalysisError(f"unknown neuron {unknown[0]!r} (neurons: {', '.join(network.names)})", ("starts",))
    total = len(next(iter(starts.values())))
    if any(len(v) != total for v in starts.values()):
        raise AnalysisError("every layer needs the same number of starts", ("starts",))
    base = {
        n: np.asarray((base or {}).get(n, np.zeros(network.neurons[n].shape)), np.float64)
        for n in network.names
        if n not in starts
    }
    chunk = chunk_size(network, total, chunk)
    n_chunks = -(-total // chunk)
    from ..solvers.sharding import process

    lead = process()[0] == 0  # of several processes, process 0 prepares the folder
    say = log or (lambda message: None)
    fp = fingerprint(network, starts, base, settings, chunk) if folder is not None else ""
    work = open_work(folder, CHUNKS, fp, resume, "chunk", wait_seconds, say)
    fp = work.identity if work is not None else ""
    if settings.method == AUTO:  # chosen once per study (and replayed on resume): every chunk runs one solve
        recorded = work.choice("method") if work is not None else None
        if isinstance(recorded, dict):
            settings = dataclasses.replace(settings, **recorded)
        else:
            settings, picked = resolve_ensemble_auto(network, starts, base, settings)
            say(
                f"method auto: {picked.method} for every start (stiffness ratio "
                f"{picked.report['stiffness_ratio']:.3g} at the first start)"
            )
            if work is not None and lead:
                work.record("method", {k: getattr(settings, k) for k in ("method", "pcoeff", "icoeff", "dtmax")})

    def solve_chunk(i: int, decides: bool = False):
        n = min(chunk, total - i * chunk)
        x0 = {k: np.broadcast_to(v, (chunk,) + v.shape) for k, v in base.items()}
        for k, v in starts.items():
            part = np.asarray(v[i * chunk : (i + 1) * chunk])
            if n < chunk:  # pad to the compiled batch size; the padding is dropped below
                part = np.concatenate([part, np.repeat(part[-1:], chunk - n, axis=0)])
            x0[k] = part
        # a fresh seed per chunk: asynchronous rules draw other update orders
        tr = simulate(network, x0, dataclasses.replace(settings, seed=settings.seed + i))
        arrays = {
            "status": np.asarray(tr.status)[:n],
            "t_final": np.asarray(tr.t_final)[:n],
            "energy_end": np.asarray(tr.final_energy)[:n],
        }
        for k, v in tr.final_state.items():
            arrays[f"x_end/{k}"] = np.asarray(v)[:n]
        # the study's choice is recorded before the chunk is kept: a kept chunk 0 implies it
        use = decide(np.asarray(tr.n_steps)[:n]) if decides else None
        if work is not None:
            _write_chunk(work.where(f"chunk_{i:05d}.npz"), i, fp, arrays)
        return (arrays, use) if decides else arrays

    def saved(i: int) -> dict | None:
        """Chunk ``i`` from the folder if it is there and sound (else ``None``, said why)."""
        path = work.existing(f"chunk_{i:05d}.npz")
        if path is None:
            return None
        arrays, problem = _read_chunk(path, i, fp)
        if problem:
            say(f"chunk {i} ({path}) {problem}: solving it again")
            work.remove(f"chunk_{i:05d}.npz")
        return arrays

    def decide(steps) -> bool:
        """Refill slots when the first chunk's steps spread (the choice of the study)."""
        use = float(np.max(steps)) >= REFILL_SPREAD * max(1.0, float(np.median(steps)))
        say(
            f"steps per start in the first chunk: median {np.median(steps):.0f}, max {np.max(steps)}: "
            + ("refilling slots for the rest" if use else "lock-step chunks")
        )
        if work is not None:
            work.record("refill", bool(use))
        return use

    from ..solvers import slots as S
    from ..solvers.sharding import my_chunks

    done: set[int] = set()
    kept: dict[int, dict] = {}
    waiting: dict[int, dict | None] = {}  # done out of order (None: read again from the folder in turn)
    turn = 0  # the next chunk to hand over

    def hand(i: int, arrays: dict) -> None:
        if consume is not None:
            consume(i, arrays)
        else:
            kept[i] = arrays
        release_free_memory()  # what the chunk's solve freed goes back (memory bounded by the chunk)

    def deliver(i: int, arrays: dict) -> None:
        """Chunk ``i`` is done: progress, and (process 0) handed over in chunk order."""
        nonlocal turn
        done.add(i)
        if on_chunk:
            on_chunk(len(done), n_chunks)
        if not lead:
            return
        waiting[i] = arrays if (work is None or i == turn) else None
        while turn in waiting:
            arrays = waiting.pop(turn)
            if arrays is None:
                arrays = saved(turn) or solve_chunk(turn)
            hand(turn, arrays)
            turn += 1

    mine = list(my_chunks(n_chunks))
    todo = []
    for i in mine:
        got = saved(i) if work is not None else None
        if got is not None:
            deliver(i, got)
        else:
            todo.append(i)
    if work is not None and len(done):
        say(f"resumed: {len(done)} of {len(mine)} chunks read from {folder}")
    use = refill if refill is not None else False
    if refill is None and S.supported(settings, network) and n_chunks > 1:
        # auto: the study's first chunk in lock-step, slots for the rest when its steps
        # spread; decided once per study, recorded, and replayed on resume
        recorded = work.choice("refill") if work is not None else None
        if recorded is None and not lead:
            recorded = _wait_for_choice(work, "refill", wait_seconds)
        if recorded is not None:
            use = bool(recorded)
        elif 0 in todo:
            todo.remove(0)
            first, use = solve_chunk(0, decides=True)
            deliver(0, first)
            del first
    if use and todo and S.supported(settings, network):
        _solve_refilled(network, starts, base, settings, chunk, todo, total, work, fp, deliver)
        todo = []
    for i in todo:
        deliver(i, solve_chunk(i))
    if not lead:
        return None  # process 0 gathers the chunks
    if folder is not None:
        _wait_for_files([os.path.join(folder, f"chunk_{i:05d}.npz") for i in range(n_chunks)], wait_seconds)
        for i in range(n_chunks):
            if i not in done:  # another process's chunk: checked like our own, handed over in turn
                deliver(i, None)
    if consume is not None:
        return {}
    keys = list(kept[0])
    return {k: np.concatenate([kept[i][k] for i in range(n_chunks)]) for k in keys}


CHUNKS = r"chunk_\d{5}\.npz"


def pieces(
    n: int,
    solve,
    *,
    name: str,
    pattern: str,
    to_file,
    from_file,
    folder: str | None = None,
    resume: bool | None = None,
    identity: str = "",
    on_piece=None,
    log=None,
    wait_seconds: float = 24 * 3600.0,
    what: str = "piece",
    changed: str = "the study changed since the interrupted run; run without resuming",
) -> list | None:
    """``solve(i)`` for ``i`` in ``range(n)`` — a continuation's values, a
    capacity sweep's loads —, each kept in ``folder/name.format(i)`` as soon
    as it is done (``to_file(result)``: arrays, with the piece's index, the
    study's ``identity`` and a checksum), so that ``resume=True`` reads the
    pieces already done (``from_file``) and solves only the rest.  Of several
    processes (``jax.distributed``), each solves every ``count``-th piece,
    alone (its own work is not split further), and writes it; process 0 then
    reads the others' pieces from ``folder`` (checked like its own) and
    returns them all, the others ``None``."""
    from ..solvers.sharding import alone, my_chunks, process

    say = log or (lambda message: None)
    fp = hashlib.sha256(identity.encode()).hexdigest()
    index, count = process()
    work = open_work(folder, pattern, fp, resume, what, wait_seconds, say, changed)
    got: dict[int, object] = {}
    reused = 0

    def saved(i: int):
        path = work.existing(name.format(i)) if work is not None else None
        if path is None:
            return None
        arrays, problem = _read_chunk(path, i, fp)
        if problem:
            say(f"{what} {i} ({path}) {problem}: solving it again")
            work.remove(name.format(i))
            return None
        return from_file(arrays)

    def solved(i: int):
        with alone():
            out = solve(i)
        if work is not None:
            _write_chunk(work.where(name.format(i)), i, fp, to_file(out))
        release_free_memory()
        return out

    for i in my_chunks(n):
        got[i] = saved(i) if resume else None
        reused += got[i] is not None
        if got[i] is None:
            got[i] = solved(i)
        if on_piece:
            on_piece(len(got), n)
    if reused:
        say(f"resumed: {reused} of {n} {what}s read from {folder}")
    if index != 0:
        return None  # process 0 gathers the pieces
    if count > 1:
        _wait_for_files([os.path.join(folder, name.format(i)) for i in range(n)], wait_seconds)
        for i in range(n):
            if i not in got:  # another process's piece: checked like our own
                got[i] = saved(i)
                if got[i] is None:
                    got[i] = solved(i)
                if on_piece:
                    on_piece(len(got), n)
    return [got[i] for i in range(n)]


def json_pieces(n: int, solve, **kw) -> list | None:
    """``pieces`` of results that are JSON data (a capacity sweep's loads, a
    rule comparison's rules), each kept as one JSON string."""
    return pieces(
        n,
        solve,
        to_file=lambda e: {"entry": np.str_(json.dumps(e))},
        from_file=lambda arrays: json.loads(str(arrays["entry"])),
        **kw,
    )


def open_work(folder, pattern, fp, resume, what, wait_seconds, say, changed=None):
    """The work folder of a study (``None`` without ``folder``), the same for an
    ensemble's chunks and a study's pieces: a study shared by several
    processes without a folder is refused (one line naming ``folder``);
    process 0 prepares the folder and the others wait for its manifest; what
    a resume found (another study's files, a damaged manifest) is said
    through ``say``."""
    from ..solvers.sharding import process

    index, count = process()
    if count > 1 and folder is None:
        raise AnalysisError(f"a study shared by several processes needs a folder for its {what}s", ("folder",))
    if folder is None:
        return None
    from ..core.outputs import WorkFolder

    if index != 0:
        _wait_for_files([os.path.join(folder, "manifest.json")], wait_seconds)
    work = WorkFolder(folder, pattern, fp, resume, lead=index == 0, **({} if changed is None else {"changed": changed}))
    if work.problem:
        say(work.problem)
    return work


def finish_work(folder: str, pattern: str) -> None:
    """Remove a finished study's partial files (only those, and the folder only if hopdyn made it)."""
    from ..core.outputs import WorkFolder

    WorkFolder(folder, pattern, "", lead=False).finish()


REFILL_SPREAD = 2.0
"""``refill=None`` (auto) refills slots when the first chunk's slowest start
took at least this many times the median steps."""


def _solve_refilled(network, starts, base, settings, chunk, todo, total, work, fp, deliver):
    """The chunks ``todo`` solved in ``chunk`` slots that are refilled as starts
    finish (``solvers.slots``); each chunk's arrays are written and handed to
    ``deliver(i, arrays)`` as soon as all its starts are done, as the lock-step
    path does.  The chunks go through the slots in groups (at least two
    chunks, so slots have starts to refill from) whose starts and end states
    fit a quarter of ``MEMORY_BUDGET``, so memory does not grow with the
    ensemble (each member's result does not depend on its slot or neighbours;
    a slow start holds up only its group's last round)."""
    state = sum(n.size for n in network.neurons.values())
    per_chunk = 32 * state * chunk  # its starts in float64 and in the solve's dtype, its end states, copies
    group = max(2, (MEMORY_BUDGET // 4) // max(1, per_chunk))
    for g in range(0, len(todo), group):
        _refill_group(network, starts, base, settings, chunk, todo[g : g + group], total, work, fp, deliver)


def _refill_group(network, starts, base, settings, chunk, todo, total, work, fp, deliver):
    from ..solvers.slots import solve_in_slots

    sizes = [min(total, (i + 1) * chunk) - i * chunk for i in todo]
    net = network.astype(settings.dtype or network.dtype)
    x0 = {k: np.broadcast_to(v, (sum(sizes),) + v.shape) for k, v in base.items()}
    # the group's chunks, read in turn (lazy rows read only these)
    x0.update(
        {k: np.concatenate([np.asarray(v[i * chunk : (i + 1) * chunk]) for i in todo]) for k, v in starts.items()}
    )
    x0 = {k: np.asarray(v) for k, v in net.init_state(x0).items()}
    owner = np.repeat(np.arange(len(todo)), sizes)
    left = dict(enumerate(sizes))  # members of each chunk still running

    def arrays_of(rows, out):
        a = {"status": out["status"][rows], "t_final": out["t_final"][rows], "energy_end": out["energy_end"][rows]}
        a.update({k: v[rows] for k, v in out.items() if k.startswith("x_end/")})
        return a

    def on_done(ended, out):
        for j in np.unique(owner[ended]):
            left[j] -= int(np.sum(owner[ended] == j))
            if left[j] == 0:
                i = todo[j]
                arrays = arrays_of(np.flatnonzero(owner == j), out)
                if work is not None:
                    _write_chunk(work.where(f"chunk_{i:05d}.npz"), i, fp, arrays)
                deliver(i, arrays)

    solve_in_slots(net, x0, settings, chunk, on_done=on_done)


def _wait_for_choice(work, key: str, seconds: float):
    """A choice process 0 records (another process of a distributed run waits for it)."""
    import time

    deadline = time.monotonic() + seconds
    while work is not None:
        value = (work.reread().get("choices") or {}).get(key)
        if value is not None or time.monotonic() > deadline:
            return value
        time.sleep(1.0)
    return None


def resolve_ensemble_auto(network, starts: dict, base: dict | None, settings):
    """``resolve_auto`` for a whole ensemble, measured on its first start as a
    full state in the solve's dtype (one choice for every start, since a
    choice per chunk could differ between chunks and compile each solve twice)."""
    dtype = settings.dtype or network.dtype
    net = network.astype(dtype)
    first = net.init_state({**(base or {}), **{k: np.asarray(v[0]) for k, v in starts.items()}}, dtype=dtype)
    return resolve_auto(net, first, settings)


def rows_bytes(x) -> bytes | memoryview:
    """What identifies an ensemble's starts for a hash: their float64 bytes, or
    for ``LazyRows`` what decides their numbers (drawing them to hash them
    would cost a pass over the ensemble)."""
    if isinstance(x, LazyRows):
        return x.identity().encode()
    return array_bytes(np.asarray(x, np.float64))


def array_bytes(a: np.ndarray) -> memoryview:
    """An array's bytes for hashing, without the copy ``tobytes`` makes."""
    a = np.ascontiguousarray(a)
    return memoryview(a).cast("B") if a.size else memoryview(b"")


def _checksum(arrays: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}:{a.dtype.str}:{a.shape}".encode())
        h.update(array_bytes(a))
    return h.hexdigest()


def _write_chunk(path: str, i: int, fp: str, arrays: dict) -> None:
    """A chunk file that says which chunk of which run it is, and checks itself."""
    write_npz(
        path,
        {
            **arrays,
            "meta/index": np.int64(i),
            "meta/fingerprint": np.str_(fp),
            "meta/checksum": np.str_(_checksum(arrays)),
        },
    )


def _read_chunk(path: str, i: int, fp: str) -> tuple[dict | None, str | None]:
    """The arrays of a saved chunk, or why it cannot be used."""
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except Exception as e:  # a truncated or foreign file: zipfile, numpy and OS errors vary
        return None, f"cannot be read ({type(e).__name__})"
    meta = {k: data.pop(k) for k in ("meta/index", "meta/fingerprint", "meta/checksum") if k in data}
    if len(meta) != 3:
        return None, "carries no index or checksum"
    if int(meta["meta/index"]) != i:
        return None, f"holds chunk {int(meta['meta/index'])}, not {i}"
    if str(meta["meta/fingerprint"]) != fp:
        return None, "belongs to another run"
    if str(meta["meta/checksum"]) != _checksum(data):
        return None, "does not match its checksum"
    return data, None


def _wait_for_files(paths: list[str], seconds: float) -> None:
    """Wait until every file exists (other processes write them), or fail."""
    import time

    from ..core.errors import HopdynError

    deadline = time.monotonic() + seconds
    while True:
        missing = [p for p in paths if not os.path.isfile(p)]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise HopdynError(
                f"{len(missing)} files of other processes never appeared (first: {missing[0]}); "
                "did every process of the distributed run start?"
            )
        time.sleep(1.0)

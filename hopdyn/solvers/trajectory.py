"""``Trajectory``: what every solver (ODE or discrete rule) returns, and the
statuses it ends with."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

STATUSES = ("steady_state", "horizon", "max_steps", "failed", "cycle")
"""Status names by code.  ``cycle`` (a discrete rule that returned to a state it
left two sweeps before) is appended so the older codes keep their values."""
STEADY_STATE, HORIZON, MAX_STEPS, FAILED, CYCLE = range(5)
_SEVERITY = (0, 1, 3, 4, 2)  # steady_state < horizon < cycle < max_steps < failed


LYAPUNOV_TOLERANCE = 1e-6
"""The ``dE/dt`` a solve may show beyond rounding before its energy is said to
rise (the command line's default ``checks.lyapunov.tolerance``)."""


def descent(energy, energy_terms, dEdt, dEdt_scale, valid, tolerance: float = LYAPUNOV_TOLERANCE) -> dict:
    """The Lyapunov verdict over the valid saved rows (the last axis), in JAX
    (it travels through ``jit``): ``max_rise`` between consecutive energies,
    ``max_dEdt``, and ``descent_excess``, how far the worst row exceeds its
    allowance (``tolerance`` plus ``16 eps`` times the magnitudes the value is
    summed from; <= 0: the energy descends), as ``energy_descent`` computes it."""
    eps = jnp.finfo(energy.dtype).eps
    ninf = jnp.asarray(-jnp.inf, energy.dtype)
    over_d = jnp.where(valid, dEdt - (tolerance + 16 * eps * dEdt_scale), ninf)
    max_dEdt = jnp.max(jnp.where(valid, dEdt, ninf), axis=-1)
    mag = sum(jnp.abs(v) for v in energy_terms.values())
    pair = valid[..., 1:] & valid[..., :-1]
    dE = energy[..., 1:] - energy[..., :-1]
    allow = tolerance + 16 * eps * (mag[..., :-1] + mag[..., 1:])
    max_rise = jnp.max(jnp.where(pair, dE, ninf), axis=-1, initial=-jnp.inf)
    over_r = jnp.max(jnp.where(pair, dE - allow, ninf), axis=-1, initial=-jnp.inf)
    return dict(max_rise=max_rise, max_dEdt=max_dEdt, descent_excess=jnp.maximum(jnp.max(over_d, axis=-1), over_r))


def worst_status(status) -> int:
    """The most severe status code among ``status`` (a scalar or an array)."""
    codes = np.atleast_1d(np.asarray(status)).astype(int)
    return int(max(codes, key=lambda c: _SEVERITY[c]))


class Trajectory(eqx.Module):
    """The result of ``simulate`` (made by it, not by users).

    Arrays have a leading batch axis when the initial state had one.  Saved rows
    run over ``ts``; rows past the end of the solve (an early steady state or a
    failure) repeat the last valid row and are marked ``False`` in ``valid``.

    **Attributes:**

    - ``ts``, ``x``, ``xhat``, ``energy``, ``energy_terms``, ``dEdt``,
      ``dEdt_scale``, ``valid``: the saved rows (states and activations per
      layer, the energy and its terms, the exact ``dE/dt`` and its rounding scale).
    - ``status`` (a code of ``STATUSES``; ``status_name``), ``t_final``,
      ``n_steps``, ``n_accepted``, ``n_rejected``, ``vf_evals``: how the solve ended.
    - ``max_rise``, ``max_dEdt``, ``descent_excess`` (``descends``): the
      energy-descent verdict, per member.
    - ``method``, ``compile_seconds``, ``solve_seconds``, ``solver_choice``.
    """

    ts: Array
    x: dict[str, Array]
    xhat: dict[str, Array]
    energy: Array
    energy_terms: dict[str, Array]
    dEdt: Array
    dEdt_scale: Array
    valid: Array
    status: Array
    t_final: Array
    n_steps: Array
    n_accepted: Array
    n_rejected: Array
    vf_evals: Array
    max_rise: Array | None = None
    max_dEdt: Array | None = None
    descent_excess: Array | None = None
    method: str = eqx.field(static=True, default="")
    compile_seconds: float = eqx.field(static=True, default=0.0)
    solve_seconds: float = eqx.field(static=True, default=0.0)
    choice: tuple = eqx.field(static=True, default=())  # what method="auto" measured and chose

    @property
    def descends(self) -> Array | None:
        """The Lyapunov verdict the command line prints, per member: no saved
        ``dE/dt`` above ``LYAPUNOV_TOLERANCE`` plus its rounding, and no rise
        between consecutive saved energies above the tolerance plus theirs
        (``analysis.verify.energy_descent``).  ``None`` for discrete rules."""
        return None if self.descent_excess is None else self.descent_excess <= 0

    @property
    def solver_choice(self) -> dict | None:
        """For ``method="auto"``: the method and controller chosen, the stiffness
        measured at the initial state and why (``None`` otherwise)."""
        return dict(self.choice) if self.choice else None

    @property
    def batch_size(self) -> int | None:
        return self.status.shape[0] if self.status.ndim else None

    def __getitem__(self, i) -> Trajectory:
        """Member ``i`` of a batched trajectory."""
        if self.batch_size is None:
            raise TypeError("not a batched trajectory")
        return jax.tree.map(lambda a: a[i], self)

    def take(self, n: int) -> Trajectory:
        """The first ``n`` members of a batched trajectory (dropping padding)."""
        if self.batch_size is None:
            raise TypeError("not a batched trajectory")
        return jax.tree.map(lambda a: a[:n], self)

    def members(self) -> list[Trajectory]:
        """Each trajectory cut to its valid rows: one for an unbatched trajectory,
        one per member of a batch."""
        host = self.on_host()
        if self.batch_size is None:
            return [host.truncated()]
        return [host[i].truncated() for i in range(self.batch_size)]

    def on_host(self) -> Trajectory:
        """The same trajectory in numpy arrays: sliced on the host, it compiles
        no small programs (an eager slice of a device array compiles one per shape)."""
        return jax.tree.map(np.asarray, self)

    @property
    def status_name(self) -> str | list[str]:
        s = np.asarray(self.status)
        return STATUSES[int(s)] if s.ndim == 0 else [STATUSES[int(v)] for v in s]

    @property
    def n_saved(self) -> Array:
        """How many saved rows are valid."""
        return jnp.sum(self.valid, axis=-1)

    @property
    def final_state(self) -> dict[str, Array]:
        """Internal states at the end of the solve (the last valid row)."""
        return jax.tree.map(lambda a: _last(a, self.valid), self.x)

    @property
    def final_xhat(self) -> dict[str, Array]:
        """Activations at the end of the solve (the last valid row)."""
        return jax.tree.map(lambda a: _last(a, self.valid), self.xhat)

    @property
    def final_energy(self) -> Array:
        return _last(self.energy, self.valid)

    def truncated(self) -> Trajectory:
        """An unbatched trajectory cut to its valid rows (for writing and plotting)."""
        if self.batch_size is not None:
            raise TypeError("truncate the members of a batch one at a time: traj[i].truncated()")
        n = int(np.sum(np.asarray(self.valid)))
        cut = lambda a: a[:n]
        return eqx.tree_at(
            lambda t: (t.ts, t.x, t.xhat, t.energy, t.energy_terms, t.dEdt, t.dEdt_scale, t.valid),
            self,
            (
                cut(self.ts),
                jax.tree.map(cut, self.x),
                jax.tree.map(cut, self.xhat),
                cut(self.energy),
                jax.tree.map(cut, self.energy_terms),
                cut(self.dEdt),
                cut(self.dEdt_scale),
                cut(self.valid),
            ),
        )


COUNTS = ("status", "t_final", "n_steps", "n_accepted", "n_rejected", "vf_evals")


def to_arrays(traj: Trajectory) -> dict[str, np.ndarray]:
    """The flat arrays of ``trajectory.npz``: ``t``, ``energy``, ``dEdt``,
    ``dEdt_scale``, ``x/<layer>``, ``xhat/<layer>``, ``energy/<term>``, the counts
    and ``method``.  An unbatched trajectory is cut to its valid rows; a batch
    keeps every row with ``valid``.  ``from_arrays`` reads them back."""
    batched = traj.batch_size is not None
    host = traj.on_host()
    t = host if batched else host.truncated()
    arrays = {"t": t.ts, "energy": t.energy, "dEdt": t.dEdt, "dEdt_scale": t.dEdt_scale}
    if batched:
        arrays["valid"] = t.valid
    arrays.update({f"x/{k}": v for k, v in t.x.items()})
    arrays.update({f"xhat/{k}": v for k, v in t.xhat.items()})
    arrays.update({f"energy/{k}": v for k, v in t.energy_terms.items()})
    arrays.update({k: getattr(t, k) for k in COUNTS})
    out = {k: np.asarray(v) for k, v in arrays.items()}
    out["method"] = np.asarray(traj.method)
    return out


def from_arrays(arrays) -> Trajectory:
    """The ``Trajectory`` that ``to_arrays`` wrote (``verify`` reads a run's
    trajectory.npz instead of solving again).  Raises ``KeyError`` when an array
    is missing (a file from an older hopdyn)."""
    group = lambda prefix: {k[len(prefix) :]: jax.device_put(arrays[k]) for k in arrays if k.startswith(prefix)}
    ts = jax.device_put(arrays["t"])
    valid = jax.device_put(arrays["valid"]) if "valid" in arrays else jax.device_put(np.ones(ts.shape, bool))
    return Trajectory(
        ts=ts,
        x=group("x/"),
        xhat=group("xhat/"),
        energy=jax.device_put(arrays["energy"]),
        energy_terms=group("energy/"),
        dEdt=jax.device_put(arrays["dEdt"]),
        dEdt_scale=jax.device_put(arrays["dEdt_scale"]),
        valid=valid,
        **{k: jax.device_put(arrays[k]) for k in COUNTS},
        method=str(arrays["method"]),
    )


def load_trajectory(path: str, network=None) -> Trajectory:
    """The ``Trajectory`` in a ``trajectory.npz`` that ``hopdyn run`` wrote.
    With ``network``, the arrays are checked against it first (every layer's
    states of its shape, saved times, energies and counts of one length, real
    numbers): a file is data, and one that does not fit raises ``ValueError``.

    **Arguments:**

    - ``path``: a ``trajectory.npz``
    - ``network``: check the arrays against it first
    """
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    if network is not None:
        _check_arrays(arrays, network)
    return from_arrays(arrays)


def _check_arrays(arrays: dict, network) -> None:
    ts = arrays.get("t")
    if ts is None or ts.dtype.kind != "f" or ts.ndim not in (1, 2) or ts.shape[-1] < 1:
        raise ValueError("no saved times")
    lead = ts.shape
    for key in ("energy", "dEdt", "valid"):
        if key in arrays and arrays[key].shape != lead:
            raise ValueError(f"{key} has shape {list(arrays[key].shape)}, the saved times {list(lead)}")
    for name, neuron in network.neurons.items():
        for group in ("x/", "xhat/"):
            a = arrays.get(group + name)
            if a is None or a.dtype.kind != "f" or a.shape != (*lead, *neuron.shape):
                raise ValueError(f"{group}{name} does not hold layer {name!r} at every saved time")
    for key in COUNTS:
        if key not in arrays or arrays[key].dtype.kind not in "iuf" or arrays[key].shape != lead[:-1]:
            raise ValueError(f"{key} is missing or of another shape")
    if arrays.get("method") is None or arrays["method"].dtype.kind != "U":
        raise ValueError("no method")


@jax.jit
def _last(a: Array, valid: Array) -> Array:
    """The row of ``a`` at the last valid saved time (batched or not)."""
    idx = jnp.sum(valid, axis=-1) - 1
    if valid.ndim == 1:
        return a[idx]
    return jax.vmap(lambda r, i: r[i])(a, idx)

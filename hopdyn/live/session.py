"""One open page's network: its state, its controls, and one frame at a time.

``LiveSession.step`` advances the compiled solve by ``speed`` units of model
time (one jitted ``simulate`` whose horizon, clamps and ``beta`` are arrays:
no control recompiles) and returns a frame — each layer's activations, the
energy, the model time, the status, the PCA position and the Lyapunov badge.
``LiveSession.apply`` takes one control message from the page; a bad value is
refused with one line naming the control and what it takes, and the stream
goes on.  The server (``app.py``) only moves these messages.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Annotated, Any

import numpy as np
from pydantic import Field

from ..core.errors import HopdynError
from ..model.params import Doc
from .spec import LiveSpec, significant

MAX_SPEED = 100.0
"""The most model time one frame may advance."""


class ControlError(HopdynError):
    """A control message the page may not send (an unknown control, a value
    outside the schema's range); the stream continues."""


@dataclasses.dataclass(frozen=True)
class Controls:
    """The page's settings, checked where they are made with the same
    constraints as the scenario schema (``ControlError`` naming the field)."""

    speed: Annotated[float, Field(gt=0, le=MAX_SPEED), Doc("model time advanced per frame")] = 0.02
    switch_every: Annotated[
        float, Field(ge=0, le=3600), Doc("generate mode: seconds between label switches (0: never)")
    ] = 6.0
    paused: Annotated[bool, Doc("no frames while paused")] = False

    def __post_init__(self):
        from ..model.checks import check_fields

        check_fields(self, ControlError)


def _frame(network, x, t1, settings):
    """One frame: ``simulate`` from ``x`` for ``t1`` model time; the end state,
    its activations, energy, status and Lyapunov verdict."""
    from ..solvers.simulate import simulate

    traj = simulate(network, x, settings, t1=t1)
    end = traj.final_state
    return end, network.activations(end), traj.final_energy, traj.status, traj.descent_excess, traj.max_rise


def _view(network, x):
    """The activations and energy of a state (compiled: eager ``jax.grad``
    would trace the Lagrangians again every time)."""
    return network.activations(x), network.energy(x)


def _compiled(fn, *args, what: str):
    """``fn`` for ``args`` through hopdyn's compilation cache (kept on disk: a
    new server reads its programs instead of compiling them)."""
    import equinox as eqx

    from ..solvers.compile import compiled

    if fn not in _JITTED:
        _JITTED[fn] = eqx.filter_jit(fn)
    program, _ = compiled(_JITTED[fn], *args, what=what)
    return program(*args)


_JITTED: dict = {}


class LiveSession:
    """The state of one page (see the module docstring).

    **Arguments:**

    - ``spec``: the scenario's roles (``LiveSpec``)
    - ``controls``: the first ``Controls`` (default: their defaults)
    - ``clock``: wall-clock seconds (the label switches in generate mode)
    - ``seed``: the corruptions' random draws
    """

    def __init__(
        self,
        spec: LiveSpec,
        controls: Controls | None = None,
        clock: Callable[[], float] = time.monotonic,
        seed: int = 0,
    ):
        import jax.numpy as jnp

        from ..solvers.stiffness import resolve_auto

        self.spec = spec
        self.controls = controls or Controls()
        self.clock = clock
        self.rng = np.random.default_rng(seed)
        built = spec.built
        net = built.network
        self._start = {a: np.asarray(v) for a, v in net.init_state(built.x0).items()}
        first = {a: v[0] if built.batch else v for a, v in self._start.items()}
        settings, _ = resolve_auto(net, first, built.settings)  # once: every frame runs the chosen method
        self.settings = dataclasses.replace(settings, t0=0.0, t1=1.0, save=2, save_spacing="linear")
        self.dtype = jnp.dtype(self.settings.dtype or net.dtype)  # what simulate casts to: one signature
        self.base = net.unclamp()
        self.scenario_clamps = dict(net.clamps)
        self.mode = spec.first_mode
        self.label = 0
        self.beta = float(np.asarray(net.neurons[spec.memory].lagrangian.beta)) if spec.memory else None
        self.network = self._network()
        self.reset()

    # ------------------------------------------------------------ the network
    def _network(self):
        """The base network with this mode's clamps and this beta (arrays only:
        the same compiled program serves every mode and value)."""
        import equinox as eqx
        import jax.numpy as jnp

        from ..model.network import Network

        spec, base = self.spec, self.base
        if self.mode == "free":
            clamps = self.scenario_clamps
        else:
            shape = lambda a: base.neurons[a].shape  # noqa: E731
            clamps = {
                spec.visible: np.full(shape(spec.visible), self.mode == "classify"),
                spec.label: np.full(shape(spec.label), self.mode == "generate"),
            }
        net = Network(base.neurons, base.synapses, clamps)
        if self.beta is not None:
            net = eqx.tree_at(lambda n: n.neurons[spec.memory].lagrangian.beta, net, jnp.asarray(self.beta, self.dtype))
        return net

    def _clamp_label(self, k: int) -> None:
        """Clamp label ``k`` (generate) or image ``k`` (classify)."""
        spec = self.spec
        self.label = k
        self._switched_at = self.clock()
        if self.mode == "generate":
            self._put(spec.label, spec.label_scale * spec.labels[k])
        elif self.mode == "classify":  # a new question: the other layers start afresh, the label undecided
            for a, v in self._start.items():
                self._put(a, v[0] if spec.built.batch else v)
            self._put(spec.visible, spec.images[k])
            self._put(spec.label, np.zeros(self.state[spec.label].shape))
        self._changed()

    def _put(self, layer: str, value) -> None:
        """Set a layer's state, in the network's dtype and the layer's shape (one
        argument signature for every frame: nothing recompiles)."""
        self.state[layer] = np.asarray(value).reshape(self.state[layer].shape).astype(self.dtype)

    def _changed(self) -> None:
        """A control changed the state or the energy: the Lyapunov badge counts
        from here, and the next frame looks at the new state."""
        self.since = self.t
        self.rise = None
        self.xhat = None

    def reset(self) -> None:
        """The scenario's start (its first member), model time 0."""
        self.state = {
            a: (v[0] if self.spec.built.batch else v).astype(self.dtype).copy() for a, v in self._start.items()
        }
        self.t, self.frames, self.status = 0.0, 0, "moving"
        self.trouble = None
        self._changed()
        if self.mode != "free":
            self._clamp_label(self.label)
        self._switched_at = self.clock()

    # ------------------------------------------------------------ controls
    def apply(self, message: Any) -> None:
        """Apply one control message (a dict of ``control: value``); raises
        ``ControlError`` naming the control for anything the page may not ask."""
        if not isinstance(message, dict) or not message:
            raise ControlError("expected an object of controls")
        for key, value in message.items():
            handler = getattr(self, f"_set_{key}", None) if isinstance(key, str) and key.isidentifier() else None
            if handler is None or key not in CONTROLS:
                raise ControlError(f"unknown control; expected one of {', '.join(CONTROLS)}", (str(key)[:40],))
            handler(value)

    def _set_pause(self, value) -> None:
        self.controls = _replace(self.controls, paused=value, where="pause")
        self._switched_at = self.clock()  # the label's six seconds count while running

    def _set_speed(self, value) -> None:
        self.controls = _replace(self.controls, speed=value, where="speed")

    def _set_switch_every(self, value) -> None:
        self.controls = _replace(self.controls, switch_every=value, where="switch_every")

    def _set_label(self, value) -> None:
        k = self.spec.memories
        if self.spec.label is None:
            raise ControlError("this network has no label layer (mode free)", ("label",))
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < k:
            raise ControlError(f"expected an integer from 0 to {k - 1} (got {value!r:.40})", ("label",))
        self._clamp_label(value)

    def _set_mode(self, value) -> None:
        if value not in self.spec.modes:
            raise ControlError(f"expected one of {', '.join(self.spec.modes)} (got {value!r:.40})", ("mode",))
        if value != self.mode:
            self.mode = value
            self.network = self._network()
            self._clamp_label(self.label)

    def _set_beta(self, value) -> None:
        if self.spec.memory is None:
            raise ControlError("this network has no layer with a beta", ("beta",))
        from ..model.checks import check_argument
        from ..model.params import parameters

        lag = self.base.neurons[self.spec.memory].lagrangian
        annotation, _ = parameters(type(lag))["beta"]  # the constructor's own constraint (the schema's)
        try:
            check_argument(type(lag).__name__, "beta", annotation, value)
        except HopdynError as e:
            raise ControlError(e.message, ("beta",)) from None
        self.beta = float(value)
        self.network = self._network()
        self._changed()

    def _set_corrupt(self, value) -> None:
        import pydantic

        from ..core.patterns import corrupt
        from ..scenario.schema import Corruption

        try:
            c = Corruption.model_validate(value)
        except pydantic.ValidationError as e:
            err = e.errors(include_url=False)[0]
            where = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].replace("Input should be", "should be")
            raise ControlError(f"{where}: {msg}" if where else msg, ("corrupt",)) from None
        layer = self.spec.visible
        self._put(layer, corrupt(self.state[layer], self.rng, **c.model_dump()))
        self._changed()

    def _set_reset(self, value) -> None:
        if value is not True:
            raise ControlError(f"expected true (got {value!r:.40})", ("reset",))
        self.reset()

    # ------------------------------------------------------------ frames
    def due(self) -> bool:
        """Whether generate mode's label is due to switch (the seed's six seconds)."""
        every = self.controls.switch_every
        return (
            self.mode == "generate"
            and every > 0
            and not self.controls.paused
            and self.clock() - self._switched_at >= every
        )

    def step(self) -> dict:
        """Advance one frame (switching the label first when it is due) and
        return it; a failed solve keeps the last good state and pauses."""
        import jax.numpy as jnp

        from ..solvers.trajectory import STATUSES

        switched = self.due()
        if switched:
            self._clamp_label((self.label + 1) % self.spec.memories)
        speed = self.controls.speed
        end, xhat, energy, status, excess, rise = _compiled(
            _frame, self.network, self.state, jnp.asarray(speed, self.dtype), self.settings, what="the live frame"
        )
        name = STATUSES[int(status)]
        if name == "failed" or not np.isfinite(float(energy)):
            self.trouble = f"the solve failed after t = {self.t:.4g}; the last good state is kept (reset to go on)"
            self.controls = dataclasses.replace(self.controls, paused=True)
            self.status = "failed"
            return self.frame(switched)
        self.state = {a: np.asarray(v) for a, v in end.items()}
        self.xhat = {a: np.asarray(v) for a, v in xhat.items()}
        self.t += speed
        self.frames += 1
        self.status = {"steady_state": "at rest", "horizon": "moving"}.get(name, name.replace("_", " "))
        self.energy = float(energy)
        if excess is not None and float(excess) > 0 and (self.rise is None or float(rise) > self.rise[0]):
            self.rise = (float(rise), self.t)
        return self.frame(switched)

    def frame(self, switched: bool = False) -> dict:
        """What the page draws now (a few KB of JSON)."""
        if self.xhat is None:  # after a control changed the state: look at it once
            xhat, energy = _compiled(_view, self.network, self.state, what="the live view")
            self.xhat, self.energy = {a: np.asarray(v) for a, v in xhat.items()}, float(energy)
        xhat = self.xhat
        spec = self.spec
        out = {
            "frame": self.frames,
            "t": round(self.t, 9),
            "energy": self.energy,
            "status": self.status,
            "mode": self.mode,
            "label": self.label if spec.label is not None else None,
            "paused": self.controls.paused,
            "switched": switched,
            "layers": {a: significant(np.ravel(v)) for a, v in xhat.items()},
            "pca": [round(float(c), 5) for c in spec.projection.place(xhat[spec.visible])],
            "lyapunov": {
                "since": round(self.since, 9),
                "rose": self.rise is not None,
                "by": None if self.rise is None else self.rise[0],
                "at": None if self.rise is None else round(self.rise[1], 9),
            },
        }
        if self.trouble:
            out["message"] = self.trouble
        return out

    def hello(self) -> dict:
        """The first message: what the page shows and the controls it offers."""
        spec = self.spec
        return {
            **spec.page(),
            "modes": list(spec.modes),
            "mode": self.mode,
            "controls": {
                "speed": {"value": self.controls.speed, "min": 0.0, "max": MAX_SPEED, "exclusive_min": True},
                "switch_every": {"value": self.controls.switch_every, "min": 0.0, "max": 3600.0},
                "beta": None if self.beta is None else {"value": self.beta, "min": 0.0, "exclusive_min": True},
            },
            "method": self.settings.method,
        }


CONTROLS = ("pause", "label", "mode", "beta", "speed", "switch_every", "corrupt", "reset")
"""The controls a page may send, and nothing else."""


def _replace(controls: Controls, where: str, **change) -> Controls:
    try:
        return dataclasses.replace(controls, **change)
    except ControlError as e:
        raise ControlError(e.message, (where,)) from None

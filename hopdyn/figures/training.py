"""The figures of ``hopdyn train``: the loss and metric per epoch, images of learned memories and generated inputs."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def training_curves_figure(report: dict, title: str) -> Figure:
    """Training loss per epoch (and the held-out loss), and the metric on both
    splits (accuracy, or the error on hidden elements)."""
    ep = report["epochs"]
    e = [h["epoch"] for h in ep]
    key = "accuracy" if report["loss"] == "cross_entropy" else "hidden_error"
    fig = Figure(figsize=(9, 3.5))
    FigureCanvasAgg(fig)
    a, b = fig.subplots(1, 2)
    a.plot(e, [h["loss"] for h in ep], "o-", label="training (mean over the epoch's batches)")
    a.plot(e, [h["test_loss"] for h in ep], "s--", label="held out (after the epoch)")
    a.set(xlabel="epoch", ylabel=report["loss"].replace("_", "-"), yscale="log")
    a.legend(fontsize=8)
    b.plot(e, [h[f"train_{key}"] for h in ep], "o-", label="training")
    b.plot(e, [h[f"test_{key}"] for h in ep], "s--", label="held out")
    knn = report.get("knn_test_accuracy")
    if knn is not None:
        b.axhline(knn["accuracy"], color="gray", ls=":", label=f"{knn['k']}-nearest neighbours (held out)")
    b.set(xlabel="epoch", ylabel=key.replace("_", " "))
    b.legend(fontsize=8)
    fig.suptitle(f"{title}: training ({report['adjoint']} gradients)")
    fig.tight_layout()
    return fig


def images_figure(images: np.ndarray, shape, title: str, labels: list[str] | None = None, cols: int = 10) -> Figure:
    """Rows of ``images`` drawn as ``shape`` images in a grid (gray, each on its own scale)."""
    n = len(images)
    rows = max(1, -(-n // cols))
    fig = Figure(figsize=(1.1 * min(n, cols), 1.2 * rows + 0.4))
    FigureCanvasAgg(fig)
    for i in range(rows * min(n, cols)):
        ax = fig.add_subplot(rows, min(n, cols), i + 1)
        ax.set_axis_off()
        if i < n:
            ax.imshow(np.asarray(images[i]).reshape(shape), cmap="gray_r", interpolation="nearest")
            if labels is not None:
                ax.set_title(labels[i], fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig


def training_figures(report: dict, arrays: dict, learn, image_shape, title: str) -> list[tuple[str, Figure]]:
    """The figures ``hopdyn train`` writes: the training curves and, for images,
    the first 40 of each learned array whose rows are images, and the inputs
    generated with each label clamped.

    **Arguments:**

    - ``report``: ``training.json``'s content; ``arrays``: ``trained.npz``'s
    - ``learn``: the names of the learned arrays; ``image_shape``: the inputs' image shape (or ``None``)
    - ``title``: the scenario's name
    """
    out = [("training_curves.png", training_curves_figure(report, title))]
    if image_shape is None:
        return out
    size = int(np.prod(image_shape))
    for name, arr in arrays.items():
        if name in learn and arr.ndim == 2 and arr.shape[1] == size:
            out.append(
                (f"learned_{name}.png", images_figure(arr[:40], image_shape, f"{title}: learned {name} (first 40)"))
            )
    if "generated" in arrays:
        gen = arrays["generated"]
        labels = [str(k) for k in range(len(gen))]
        out.append(
            (
                "generated.png",
                images_figure(gen, image_shape, f"{title}: the inputs' layer with the label clamped", labels),
            )
        )
    return out

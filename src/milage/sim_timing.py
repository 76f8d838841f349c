"""Time one full-batch training step of the NN trans model (paper Fig 3): the Keras model
against a NumPy implementation of the same step, over a grid of shapes, on a named device.

A step is the forward pass, the masked loss, the backward pass and the proximal Adam update
of every parameter. Written with ``keras.ops`` and no backend import outside
:func:`milage.device.gpu_name`, so it runs on the JAX backend on machines without TensorFlow:

    KERAS_BACKEND=jax python -m milage.sim_timing --device gpu --out DIR

writes ``DIR/timing_gpu.tsv`` and ``DIR/fig3_timing_gpu.png``/``.pdf``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras  # noqa: E402
from keras import ops  # noqa: E402

from milage.device import gpu_name, select  # noqa: E402
from milage.trans_models import NN  # noqa: E402
from milage.trans_network import make_optimizer  # noqa: E402

# The real data of the paper's scale (GTEx v8 as prepared here): SNPs, genes, tissues
REAL = {"S": 2_445_192, "J": 19_425, "K": 28}
L1 = {"alpha": 1.0, "beta": 1e-4}


@dataclass(frozen=True)
class Shape:
    """A step's shape: S SNPs, J genes, K tissues, T factors, I individuals."""

    S: int
    J: int
    K: int
    T: int
    I: int  # noqa: E741

    def as_dict(self) -> dict[str, int]:
        return {"S": self.S, "J": self.J, "K": self.K, "T": self.T, "I": self.I}


def scaled_shape(scale: float, n_factors: int, n_individuals: int = 449) -> Shape:
    """S and J at ``scale`` of the real data (K fixed), with T factors and I individuals."""
    return Shape(max(1, round(REAL["S"] * scale)), max(1, round(REAL["J"] * scale)),
                 REAL["K"], n_factors, n_individuals)


GridPoint = tuple[str, float, Shape]


def scaling_grid(scales: list[float], factors: list[int], factor_scale: float,
                 size_factors: int = 40, n_individuals: int = 449) -> list[GridPoint]:
    """Fig 3's two panels as (panel, x, shape): "size" over ``scales`` with T =
    ``size_factors``, and "factors" over ``factors`` at ``factor_scale``."""
    grid = [("size", s, scaled_shape(s, size_factors, n_individuals)) for s in scales]
    grid += [("factors", t, scaled_shape(factor_scale, t, n_individuals)) for t in factors]
    return grid


def step_flops(S: int, J: int, K: int, T: int, I: int) -> float:  # noqa: E741
    """Matmul FLOPs of a step: X alpha and its gradient X^T G; F beta, d beta and d F."""
    return 4.0 * I * S * T + 6.0 * I * T * K * J


def step_data(S: int, J: int, K: int, T: int, I: int, seed: int = 0):  # noqa: E741
    """Standard-normal genotypes (I x S), residuals (I x K x J) with half the samples
    missing (zeroed), and the mask (I x K)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((I, S), dtype=np.float32)
    y = rng.standard_normal((I, K, J), dtype=np.float32)
    mask = (rng.random((I, K)) < 0.5).astype(np.float32)
    return x, y * mask[:, :, None], mask


class NumpyNN:
    """The NN step in NumPy: forward, masked loss, backward, proximal Adam.

    The loss is that of :class:`milage.trans_network.Network`: half the squared error summed
    over genes, averaged over the observed samples. ``p`` holds alpha (S x T), a (T),
    beta (T x K x J) and b (K x J); L1 penalties as in :class:`milage.trans_network.ProximalAdam`.
    """

    def __init__(self, S: int, J: int, K: int, T: int, lr: float = 1e-3, b1: float = 0.9,  # noqa: N803
                 b2: float = 0.999, eps: float = 1e-7, l1: dict[str, float] | None = None,
                 seed: int = 1):
        rng = np.random.default_rng(seed)
        self.p = {"alpha": rng.standard_normal((S, T), dtype=np.float32) * 0.01,
                  "a": np.zeros(T, np.float32),
                  "beta": rng.standard_normal((T, K, J), dtype=np.float32) * 0.01,
                  "b": np.zeros((K, J), np.float32)}
        self.m = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.v = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.lr, self.b1, self.b2, self.eps, self.t = lr, b1, b2, eps, 0
        self.l1 = L1 if l1 is None else l1

    def loss_and_grads(self, x, y, mask) -> tuple[float, dict[str, np.ndarray]]:
        """The loss and its gradient per parameter (x: I x S, y: I x K x J, mask: I x K)."""
        p = self.p
        T, K, J = p["beta"].shape
        f = 1 / (1 + np.exp(-(x @ p["alpha"] + p["a"])))                   # I x T
        pred = (f @ p["beta"].reshape(T, K * J)).reshape(-1, K, J) + p["b"]
        err = (pred - y) * mask[:, :, None] / mask.sum()                   # dL/dpred
        loss = 0.5 * float((err * (pred - y)).sum())
        g = {"b": err.sum(axis=0), "beta": (f.T @ err.reshape(len(x), -1)).reshape(T, K, J)}
        df = (err.reshape(len(x), -1) @ p["beta"].reshape(T, -1).T) * f * (1 - f)
        g["alpha"], g["a"] = x.T @ df, df.sum(axis=0)
        return loss, g

    def step(self, x, y, mask) -> float:
        """One proximal Adam step; returns the loss before it."""
        loss, g = self.loss_and_grads(x, y, mask)
        self.t += 1
        scale = self.lr * np.sqrt(1 - self.b2**self.t) / (1 - self.b1**self.t)
        for k, p in self.p.items():
            self.m[k] += (1 - self.b1) * (g[k] - self.m[k])
            self.v[k] += (1 - self.b2) * (g[k] ** 2 - self.v[k])
            denom = np.sqrt(self.v[k]) + self.eps
            p -= scale * self.m[k] / denom
            if self.l1.get(k):
                thr = self.l1[k] * self.lr * np.sqrt(1 - self.b2**self.t) / denom
                p[...] = np.sign(p) * np.maximum(np.abs(p) - thr, 0)
        return loss


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls after one warm-up call (the
    median: a shared machine's other work delays some calls)."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def cpu_name() -> str:
    """The CPU model and the cores this process may use."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            model = next(ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {len(os.sched_getaffinity(0))} cores"


def keras_step_seconds(shape: Shape, device: str, repeats: int, jit: bool) -> float:
    """Median seconds of one training step (``train_batch``) of the NN model, data resident
    on ``device`` ("cpu" or "gpu")."""
    x, y, mask = step_data(**shape.as_dict())
    with keras.device(f"{device}:0"):
        model = NN.zeros(shape.S, shape.K, shape.J, shape.T).network()
        model.compile(optimizer=make_optimizer("adam", 1e-3, L1), jit_compile=jit)
        xt, yt, mt = (ops.convert_to_tensor(v) for v in (x, y, mask))
        return timed(lambda: model.train_batch(xt, (yt, mt)), repeats)


def numpy_step_seconds(shape: Shape, repeats: int) -> float:
    """Median seconds of one :meth:`NumpyNN.step` (on the CPU)."""
    x, y, mask = step_data(**shape.as_dict())
    ref = NumpyNN(shape.S, shape.J, shape.K, shape.T)
    return timed(lambda: ref.step(x, y, mask), repeats)


def default_jit() -> bool:
    """XLA-compile the Keras step on JAX (its only fast path); TensorFlow runs a graph."""
    return keras.backend.backend() == "jax"


def time_shape(shape: Shape, device: str = "cpu", repeats: int = 3,
               jit: bool | None = None) -> list[dict]:
    """Two records (Keras, NumPy) of one shape: implementation, backend, device,
    device_name, step_s and gflops (matmul FLOPs per second)."""
    jit = default_jit() if jit is None else jit
    keras_s = keras_step_seconds(shape, device, repeats, jit)
    numpy_s = numpy_step_seconds(shape, repeats)
    flops = step_flops(**shape.as_dict())
    name = gpu_name() if device == "gpu" else cpu_name()
    return [{**shape.as_dict(), "implementation": impl, "backend": backend, "device": dev,
             "device_name": dev_name, "step_s": sec, "gflops": flops / sec / 1e9}
            for impl, backend, dev, dev_name, sec in (
                ("keras", keras.backend.backend(), device, name, keras_s),
                ("numpy", "numpy", "cpu", cpu_name(), numpy_s))]


def time_grid(grid: list[GridPoint], device: str = "cpu", repeats: int = 3,
              jit: bool | None = None, log: Callable[[str], None] = print) -> pd.DataFrame:
    """:func:`time_shape` over a :func:`scaling_grid`; one row per (point, implementation)."""
    rows = []
    for panel, x, shape in grid:
        for rec in time_shape(shape, device, repeats, jit):
            rows.append({"panel": panel, "x": x, **rec})
            log(f"{panel} {x}: {rec['implementation']} on {rec['device']} {rec['step_s']:.4f} s")
    return pd.DataFrame(rows)


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m milage.sim_timing", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder for timing_{device}.tsv and the figure")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "gpu"))
    ap.add_argument("--scales", default="0.005,0.01,0.02,0.05,0.1",
                    help="S and J as fractions of the real data, at T = --size-factors")
    ap.add_argument("--factors", default="10,20,40,80,160", help="T values at --factor-scale")
    ap.add_argument("--factor-scale", type=float, default=0.1)
    ap.add_argument("--size-factors", type=int, default=40)
    ap.add_argument("--individuals", type=int, default=449)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-plot", action="store_true")
    args = ap.parse_args(argv)
    from milage.files import write_table

    device = select(args.device, "--device")
    grid = scaling_grid(_floats(args.scales), [int(t) for t in _floats(args.factors)],
                        args.factor_scale, args.size_factors, args.individuals)
    table = time_grid(grid, device, args.repeats)
    table_path = os.path.join(args.out, f"timing_{device}.tsv")
    write_table(table, table_path)
    print(f"wrote {table_path}")
    if not args.no_plot:
        from milage.plots import save
        from milage.sim_plots import timing_figure
        stem = os.path.join(args.out, f"fig3_timing_{device}")
        save(timing_figure(table), f"{stem}.png", f"{stem}.pdf")


if __name__ == "__main__":
    main()

"""One full-batch training step of the NN trans model: milage (Keras) against NumPy.

A step is the forward pass, the masked loss, the backward pass and the proximal Adam update
of every parameter, over the 336 training individuals (half their samples missing). The
NumPy side is a straightforward vectorised implementation of the same step. The float32
matmul peak is measured in the same run. Prints one JSON line per shape, then the memory
extrapolated to the full GTEx shape from the measured peak at the largest shape run.

    python benchmarks/train_step.py [--shapes demo,10pct] [--repeats 5]
"""

import argparse
import json
import os
import resource
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras  # noqa: E402
from keras import ops  # noqa: E402

from milage.models import build_model, make_optimizer  # noqa: E402

SHAPES = {"demo": dict(S=19_072, J=1_900, K=28, T=20, I=336),
          "10pct": dict(S=244_519, J=1_942, K=28, T=40, I=336),
          "gtex": dict(S=2_445_192, J=19_425, K=28, T=400, I=449)}
L1 = {"alpha": 1.0, "beta": 1e-4}
# XLA compilation of the step: JIT=1 on, JIT=0 off, unset: the backend's default
JIT = {"1": True, "0": False}.get(os.environ.get("JIT", ""), "auto")


def device() -> str:
    """The device Keras computes on, in words."""
    if keras.backend.backend() == "jax":
        import jax
        d = jax.devices()[0]
        return f"jax {d.platform} {d.device_kind}"
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        gpus = tf.config.list_logical_devices("GPU")
        return f"tensorflow {'gpu ' + gpus[0].name if gpus else 'cpu'}"
    return keras.backend.backend()


def matmul_peak(n: int = 4096, seconds: float = 1.0) -> float:
    """float32 matmul GFLOP/s of Keras' device (the CPU: NumPy and TensorFlow agree)."""
    a = ops.convert_to_tensor(np.random.default_rng(0).standard_normal((n, n), np.float32))
    ops.convert_to_numpy(ops.sum(ops.matmul(a, a)))          # compile, warm up
    repeats, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        c = ops.matmul(a, a)
        repeats += 1
    ops.convert_to_numpy(ops.sum(c))                          # wait for the device
    return 2 * n**3 * repeats / (time.perf_counter() - t) / 1e9


def step_flops(S, J, K, T, I) -> float:
    """Matmul FLOPs: X alpha, its gradient X^T G; F beta, d beta, d F."""
    return 4.0 * I * S * T + 6.0 * I * T * K * J


def data(S, J, K, T, I, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((I, S), dtype=np.float32)
    y = rng.standard_normal((I, K, J), dtype=np.float32)
    mask = (rng.random((I, K)) < 0.5).astype(np.float32)
    return x, y * mask[:, :, None], mask


class NumpyNN:
    """The same step in NumPy: forward, masked loss, backward, proximal Adam."""

    def __init__(self, S, J, K, T, lr=1e-3, b1=0.9, b2=0.999, eps=1e-7):
        rng = np.random.default_rng(1)
        self.p = {"alpha": rng.standard_normal((S, T), dtype=np.float32) * 0.01,
                  "a": np.zeros(T, np.float32),
                  "beta": rng.standard_normal((T, K, J), dtype=np.float32) * 0.01,
                  "b": np.zeros((K, J), np.float32)}
        self.m = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.v = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.lr, self.b1, self.b2, self.eps, self.t = lr, b1, b2, eps, 0

    def step(self, x, y, mask):
        p = self.p
        T, K, J = p["beta"].shape
        f = 1 / (1 + np.exp(-(x @ p["alpha"] + p["a"])))                 # I x T
        pred = (f @ p["beta"].reshape(T, K * J)).reshape(-1, K, J) + p["b"]
        err = (pred - y) * mask[:, :, None] / mask.sum()                # dL/dpred
        g = {"b": err.sum(axis=0), "beta": (f.T @ err.reshape(len(x), -1)).reshape(T, K, J)}
        df = (err.reshape(len(x), -1) @ p["beta"].reshape(T, -1).T) * f * (1 - f)
        g["alpha"], g["a"] = x.T @ df, df.sum(axis=0)
        self.t += 1
        scale = self.lr * np.sqrt(1 - self.b2**self.t) / (1 - self.b1**self.t)
        for k in p:
            self.m[k] += (1 - self.b1) * (g[k] - self.m[k])
            self.v[k] += (1 - self.b2) * (g[k] ** 2 - self.v[k])
            denom = np.sqrt(self.v[k]) + self.eps
            p[k] -= scale * self.m[k] / denom
            if k in L1:
                thr = L1[k] * self.lr * np.sqrt(1 - self.b2**self.t) / denom
                p[k] = np.sign(p[k]) * np.maximum(np.abs(p[k]) - thr, 0)


def timed(fn, repeats):
    fn()
    t = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t) / repeats


def run_shape(name, shape, peak, repeats):
    x, y, mask = data(**shape)
    model = build_model("nn", shape["S"], shape["K"], shape["J"], shape["T"])
    model.compile(optimizer=make_optimizer("adam", 1e-3, L1), jit_compile=JIT)
    xt, yt, mt = (ops.convert_to_tensor(v) for v in (x, y, mask))   # resident on the device
    milage_s = timed(lambda: model.train_on_batch(xt, (yt, mt)), repeats)
    ref = NumpyNN(shape["S"], shape["J"], shape["K"], shape["T"])
    numpy_s = timed(lambda: ref.step(x, y, mask), max(1, repeats // 2))
    gflops = step_flops(**shape) / milage_s / 1e9
    return {"shape": name, **shape, "device": device(),
            "milage_step_s": round(milage_s, 4), "numpy_step_s": round(numpy_s, 4),
            "gflops_achieved": round(gflops, 1), "matmul_peak_gflops": round(peak, 1),
            "peak_fraction": round(gflops / peak, 3),
            "speedup_vs_numpy": round(numpy_s / milage_s, 2)}


def memory_bytes(S, J, K, T, I) -> float:
    """Resident bytes of full-batch training: float32 genotypes, residuals; four copies
    (value, gradient, Adam m and v) of alpha and beta; activations."""
    return 4.0 * (I * S + 2 * I * K * J + 4 * (S * T + T * K * J) + 2 * I * T)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", default="demo,10pct")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    peak = matmul_peak(8192 if "cpu" not in device() else 4096)
    for name in args.shapes.split(","):
        row = run_shape(name, SHAPES[name], peak, args.repeats)
        row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        row["model_memory_mb"] = round(memory_bytes(**SHAPES[name]) / 2**20)
        print(json.dumps(row), flush=True)
    measured = row["peak_rss_mb"] / row["model_memory_mb"]
    gtex = memory_bytes(**SHAPES["gtex"]) * measured / 2**30
    print(json.dumps({"shape": "gtex", **SHAPES["gtex"], "extrapolated_peak_gb": round(gtex, 1),
                      "scaling": f"model bytes x measured overhead {measured:.2f} at {name}",
                      "fits_24gb": gtex <= 24}))


if __name__ == "__main__":
    main()

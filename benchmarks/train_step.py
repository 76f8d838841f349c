"""One full-batch training step of the NN trans model: milage (Keras) against NumPy.

A step is the forward pass, the masked loss, the backward pass and the proximal Adam update
of every parameter, over the 336 training individuals (half their samples missing). The
NumPy side is a straightforward vectorised implementation of the same step
(``milage.sim_timing.NumpyNN``, shared with the Fig 3 timings). The float32
matmul peak is measured in the same run. Prints one JSON line per shape, then the memory
extrapolated to the full GTEx shape from the measured peak at the largest shape run.

    python benchmarks/train_step.py [--shapes demo,10pct] [--repeats 5]
"""

import argparse
import json
import os
import resource
import time

import keras
import numpy as np
from keras import ops

from milage.device import gpu_name
from milage.sim_timing import (
    Shape,
    cpu_name,
    default_jit,
    keras_step_seconds,
    numpy_step_seconds,
    step_flops,
)

SHAPES = {"demo": dict(S=19_072, J=1_900, K=28, T=20, I=336),
          "10pct": dict(S=244_519, J=1_942, K=28, T=40, I=336),
          "gtex": dict(S=2_445_192, J=19_425, K=28, T=400, I=449)}
# XLA compilation of the step: JIT=1 on, JIT=0 off, unset: milage.sim_timing.default_jit
JIT = {"1": True, "0": False}.get(os.environ.get("JIT", ""), default_jit())


def matmul_peak(n: int = 4096, seconds: float = 1.0) -> float:
    """float32 matmul GFLOP/s on Keras' device (on the CPU NumPy and TensorFlow agree)."""
    a = ops.convert_to_tensor(np.random.default_rng(0).standard_normal((n, n), np.float32))
    ops.convert_to_numpy(ops.sum(ops.matmul(a, a)))          # compile, warm up
    repeats, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        c = ops.matmul(a, a)
        repeats += 1
    ops.convert_to_numpy(ops.sum(c))                          # wait for the device
    return 2 * n**3 * repeats / (time.perf_counter() - t) / 1e9


def run_shape(name, shape, peak, repeats):
    device = "gpu" if gpu_name() else "cpu"
    milage_s = keras_step_seconds(Shape(**shape), device, repeats, JIT)
    numpy_s = numpy_step_seconds(Shape(**shape), max(1, repeats // 2))
    gflops = step_flops(**shape) / milage_s / 1e9
    return {"shape": name, **shape, "backend": keras.backend.backend(),
            "device": gpu_name() or cpu_name(),
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
    peak = matmul_peak(8192 if gpu_name() else 4096)
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

"""The device a job's Keras step runs on, decided on the node where the job runs (the
submit host of a cluster cannot see the nodes' GPUs)."""

from __future__ import annotations

import logging
import os
import platform

from milage.errors import MilageError

SETTINGS = ("auto", "cpu", "gpu")


def gpu_name() -> str | None:
    """The name of the first GPU the Keras backend sees, or None (loads Keras)."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax
        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        return gpus[0].device_kind if gpus else None
    if backend == "tensorflow":
        import tensorflow as tf
        gpus = tf.config.list_physical_devices("GPU")
        return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU") \
            if gpus else None
    if backend == "torch":
        import torch
        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return None


def select(setting: str, key: str = "trans.device") -> str:
    """"cpu" or "gpu" for the config's ``setting`` (auto, cpu or gpu) on this node. Call it
    before Keras loads: cpu hides the GPUs from the backend; auto takes a GPU when one is
    visible; gpu without one raises, naming the config ``key``."""
    if setting not in SETTINGS:
        raise MilageError(f"config {key}: {setting!r} is not one of {', '.join(SETTINGS)}")
    if setting == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        return "cpu"
    name = gpu_name()
    if setting == "gpu" and name is None:
        import keras
        raise MilageError(
            f"config {key} asks for a GPU, but the Keras backend "
            f"{keras.backend.backend()!r} sees no GPU on {platform.node()}. Fix: run on a "
            "node with a GPU (the job requests one as resource gpu: check the profile's "
            "partition), install a GPU build (pip install -e '.[gpu]', or KERAS_BACKEND=jax "
            f"with jax[cuda]), or do not ask for one in {key}")
    device = "gpu" if name else "cpu"
    logging.getLogger("milage.device").info("Keras runs on the %s%s", device,
                                            f" ({name})" if name else "")
    return device

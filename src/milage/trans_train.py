"""Training of a trans model: mini-batches of individuals, proximal L1 steps, per-epoch
variance explained, early stopping on validation, and checkpoints a killed job resumes from.

Why a small loop over ``train_on_batch`` rather than ``fit`` with Keras callbacks: the
early-stopping state (best weights, patience counter) has to live in the same checkpoint
as the weights and optimizer state, or a resumed run would not end where an uninterrupted
one does; Keras' EarlyStopping and BackupAndRestore do not save it together.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from milage.errors import MilageError
from milage.files import atomic_output
from milage.settings import InitSettings, TrainSettings
from milage.trans_data import TransData, predict_samples, score, split_ve
from milage.trans_loadings import refit_beta
from milage.trans_models import model_class
from milage.trans_network import Network, make_optimizer

log = logging.getLogger(__name__)


def model_l1(l1: dict[str, float], model: Network) -> dict[str, float]:
    """The L1 penalty of each penalised variable of ``model`` (0 where ``l1``, resolved for
    the model by :meth:`TrainSettings.for_model`, names none)."""
    return {name: l1.get(name, 0.0) for name in model.penalised}


def deterministic(seed: int) -> None:
    """Seed every generator and ask the backend for deterministic kernels."""
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        tf.config.experimental.enable_op_determinism()


def _batches(rows: np.ndarray, size: int, seed: int, epoch: int):
    order = np.random.default_rng([seed, epoch]).permutation(rows)
    size = size or len(rows)
    return [order[i:i + size] for i in range(0, len(order), size)]


class _State:
    """Everything a resumed run needs besides the weights: epoch, history, best weights;
    and the splits whose VE the history records."""

    def __init__(self, model: Network, splits: tuple[str, ...] = ("train", "valid")):
        self.splits = splits
        self.epoch, self.wait, self.best = 0, 0, -np.inf
        self.best_weights = model.get_weights()
        self.history: list[dict] = []


def _fingerprint(model: Network, data: TransData, s: TrainSettings) -> str:
    """What a checkpoint must match to be resumed: model, settings, and the data (their
    initial weights and a checksum of the residuals)."""
    weights = sum(float(np.abs(w).sum()) for w in model.get_weights())
    return repr((model.name, model.shape_, sorted(asdict(s).items()), weights,
                 float(np.nansum(data.residuals, dtype=np.float64)), data.split.tolist()))


def _save(path: Path, model, optimizer, state: _State, fingerprint: str) -> None:
    arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    arrays.update({f"o{i}": np.asarray(v) for i, v in enumerate(optimizer.variables)})
    arrays.update({f"b{i}": w for i, w in enumerate(state.best_weights)})
    arrays.update(fingerprint=np.array(fingerprint), epoch=state.epoch, wait=state.wait,
                  best=state.best, history=np.array(json.dumps(state.history)))
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _restore(path: Path, model, optimizer, state: _State, fingerprint: str) -> bool:
    if not path.exists():
        return False
    z = np.load(path)
    if str(z["fingerprint"]) != fingerprint:
        log.info("checkpoint %s is from other settings: starting afresh", path)
        return False
    n = len(model.weights)
    model.set_weights([z[f"w{i}"] for i in range(n)])
    for i, v in enumerate(optimizer.variables):
        v.assign(z[f"o{i}"])
    state.best_weights = [z[f"b{i}"] for i in range(n)]
    state.epoch, state.wait, state.best = int(z["epoch"]), int(z["wait"]), float(z["best"])
    state.history = json.loads(str(z["history"]))
    log.info("resumed from %s at epoch %d", path, state.epoch)
    return True


def _check_finite(loss: float, model: Network, epoch: int) -> None:
    bad = [v.name for v in model.weights if not np.isfinite(np.asarray(v)).all()]
    if not np.isfinite(loss) or bad:
        raise MilageError(f"training of {model.name} diverged at epoch {epoch} (loss {loss}, "
                          f"non-finite: {bad or 'loss only'}). Fix: lower "
                          "trans.train.learning_rate or raise the L1 penalties; no parameters "
                          "were written")


def train(model: Network, data: TransData, s: TrainSettings,
          checkpoint: str | os.PathLike | None = None,
          splits: tuple[str, ...] = ("train", "valid")) -> pd.DataFrame:
    """Train ``model`` (initialised) in place; return the history (epoch, loss, ve per split).

    Epoch 0 is the initialisation. The weights of the epoch with the best validation VE
    are restored at the end (the last epoch's when there is no validation split).
    ``splits`` are those whose VE the history records each epoch (adding "test" only
    reports it: selection always uses the validation split).
    """
    s = s.for_model(model.name)   # a linear factor's scale differs from a sigmoid's: ML's
    deterministic(s.seed)        # alpha wants a smaller penalty and rate than NN's
    optimizer = make_optimizer(s.optimizer, s.learning_rate, model_l1(s.l1, model))
    model.compile(optimizer=optimizer)
    optimizer.build(model.trainable_variables)
    state, fingerprint = _State(model, splits), _fingerprint(model, data, s)
    path = Path(checkpoint) if checkpoint else None
    if not (path and _restore(path, model, optimizer, state, fingerprint)):
        _record(model, data, state, np.nan)
    train_rows = data.rows("train")
    while state.epoch < s.max_epochs and state.wait < s.patience:
        state.epoch += 1
        losses = [float(model.train_on_batch(*data.batch(rows)))
                  for rows in _batches(train_rows, s.batch_size, s.seed, state.epoch)]
        _check_finite(float(np.mean(losses)), model, state.epoch)
        _record(model, data, state, float(np.mean(losses)))
        if path and (state.epoch % s.checkpoint_every == 0):
            _save(path, model, optimizer, state, fingerprint)
    model.set_weights(state.best_weights)
    if path:
        path.unlink(missing_ok=True)    # a checkpoint only outlives a killed run
    return pd.DataFrame(state.history)


def _record(model: Network, data: TransData, state: _State, loss: float) -> None:
    """Append the epoch's VE per split; track the best validation VE."""
    ve = split_ve(data, predict_samples(model, data), state.splits)
    state.history.append({"epoch": state.epoch, "loss": loss,
                          **{f"ve_{k}": v for k, v in ve.items()}})
    best = score(ve)
    if best > state.best:
        state.best, state.wait, state.best_weights = best, 0, model.get_weights()
    else:
        state.wait += 1
    log.info("epoch %d loss %.5f %s", state.epoch, loss,
             " ".join(f"ve_{k} {v:.4f}" for k, v in ve.items()))


def fit_model(kind: str, data: TransData, cis_windows: np.ndarray, init_settings: InitSettings,
              settings: TrainSettings, checkpoint: str | os.PathLike | None = None,
              splits: tuple[str, ...] = ("train", "valid")):
    """Initialise the model of ``kind`` (a registered name, :mod:`milage.trans_models`) and
    train its network; then, for a model whose loadings are refitted given its factors,
    refit them. Returns the trained network and the history (``splits``: see
    :func:`train`)."""
    cls = model_class(kind)
    network = cls.initialise(data, cis_windows, init_settings).network()
    history = train(network, data, settings, checkpoint, splits)
    if settings.refit_lambdas and cls.refits_loadings:
        refit_beta(network, data, settings.refit_lambdas)
    return network, history

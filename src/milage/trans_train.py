"""Training of a trans model: mini-batches of individuals, proximal L1 steps, per-epoch
variance explained, early stopping on validation, and checkpoints a killed job resumes from.

Why a small loop over batches (:meth:`~milage.trans_network.Network.train_batch`) rather
than ``fit`` with Keras callbacks: the early-stopping state (best weights, patience
counter) has to live in the same checkpoint as the weights and optimizer state, or a
resumed run would not end where an uninterrupted one does; Keras' EarlyStopping and
BackupAndRestore do not save it together.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
from dataclasses import asdict, replace
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from milage import trans_memory
from milage.errors import MemoryLimitError, MilageError
from milage.files import atomic_output
from milage.settings import AUTO, InitSettings, TrainSettings
from milage.spill import Spill
from milage.trans_data import TransData, network_ve, score, split_ve, validation_score
from milage.trans_gradient import alpha_gradient_max
from milage.trans_loadings import refit_beta
from milage.trans_models import model_class
from milage.trans_network import Network, make_optimizer
from milage.trans_working_set import WorkingSet

log = logging.getLogger(__name__)


ROLLBACK_DROP = 0.05   # a training VE fall from one epoch to the next that undoes the epoch
MAX_ROLLBACKS = 5      # undone epochs in a row (the learning rate halved each time) before
                       # training stops: the rate is then 1/32 of where it started
RATES = (5e-4, 1e-3, 2e-3, 4e-3, 8e-3)   # Adam's rates tried by learning_rate auto
RATE_ROUNDS = (8, 16)  # epochs of each successive-halving round of the rate search: a
                       # larger rate can lose over 4 + 8 epochs and win later (ML on 170
                       # training individuals: 71% -> 77% of the planted trans share)
MIN_DELTA = 1e-3       # on alpha's path, a validation VE gain below this does not reset the
                       # patience count (a fixed penalty: any gain does, as in Keras)
PATH_RATIO = 0.25      # each penalty of the alpha path is this times the previous one,
PATH_POINTS = 6        # from the model's alpha_path_start x lambda_max
PATH_STALLS = 2        # points in a row that add less than MIN_DELTA before the path stops:
                       # a point that gains little can precede one that gains much (demo ML:
                       # +.0011, then +.0082 at the next point)
CHECK_EVERY = 10       # epochs between a working set's full checks
POLISH_GAIN = 1e-3     # validation VE a polish (:func:`_polish`) must add to be kept


def penalty_scale(model: Network, name: str) -> float:
    """What a penalty of ``trans.train.l1`` is multiplied by to act on the training loss.

    The config's penalties are per unit of the mean squared error over the entries (sample,
    gene) one coefficient predicts: all of them for alpha, a gene's for V, a tissue's for W,
    one (tissue, gene) pair's for beta. The loss sums the squared error over genes and
    averages it over samples, that is genes x the mean over entries, so a coefficient that
    predicts 1/tissues and/or 1/genes of the entries gets genes x that share. The same
    number then selects coefficients of the same effect size at any number of genes,
    tissues or individuals."""
    axes = model_class(model.name).axes[name]
    _, n_tissues, n_genes, _ = model.shape_
    size = {"tissue": n_tissues, "gene": n_genes}
    return n_genes / math.prod(size.get(axis, 1) for axis in axes)


def model_l1(l1: dict, model: Network) -> dict[str, float]:
    """The L1 penalty of each penalised variable of ``model`` on the training loss (from
    ``l1``, resolved for the model by :meth:`TrainSettings.for_model`; 0 where it names
    none or says auto, which the alpha path sets)."""
    return {name: 0.0 if l1.get(name, 0.0) == AUTO else
            float(l1.get(name, 0.0)) * penalty_scale(model, name) for name in model.penalised}


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
    """Everything a resumed run needs besides the weights and the optimizer's variables
    (which hold the learning rate and the penalties): epoch, history, best weights, the
    patience counter and where the alpha path stands; and the splits whose VE the history
    records."""

    SCALARS = ("epoch", "wait", "best", "mark", "point", "point_start", "stalls",
               "rollbacks", "checked", "due", "limited")

    def __init__(self, model: Network, splits: tuple[str, ...] = ("train", "valid"),
                 path: bool = False):
        self.splits = splits
        self.epoch = self.wait = self.rollbacks = self.stalls = 0
        self.checked, self.due = 0, False       # a working set's last full check; one due
        self.point = 0 if path else -1          # index on alpha's path; -1: no path
        self.limited = False                    # memory moved or ended the path
        self.best = self.mark = self.point_start = -np.inf
        self.best_weights = Spill(model.weights)
        self.way_back = Spill()     # where an epoch started: rewritten by each (:func:`_epoch`)
        self.history: list[dict] = []

    def copy(self) -> _State:
        other = copy.copy(self)
        other.history = list(self.history)
        return other


def _fingerprint(model: Network, data: TransData, s: TrainSettings) -> str:
    """What a checkpoint must match to be resumed: model, settings, and the data (their
    initial weights and a checksum of the residuals)."""
    weights = sum(map(_abs_sum, model.weights))
    return repr((model.name, model.shape_, sorted(asdict(s).items()), weights,
                 float(np.nansum(data.residuals, dtype=np.float64)), data.split.tolist()))


def _abs_sum(variable) -> float:
    """sum |variable|, with one copy of it in memory (not two)."""
    value = keras.ops.convert_to_numpy(variable)
    return float(np.abs(value, out=value).sum())


def _snapshot(model: Network, optimizer) -> tuple[list, list]:
    return model.get_weights(), [keras.ops.convert_to_numpy(v) for v in optimizer.variables]


def _set(model: Network, optimizer, snapshot: tuple[list, list]) -> None:
    model.set_weights(snapshot[0])
    for v, value in zip(optimizer.variables, snapshot[1], strict=True):
        v.assign(value)


def _spilled(model: Network, optimizer) -> Spill:
    """The weights and the optimizer's variables, spilled (:mod:`milage.spill`;
    :func:`_unspill` sets them back)."""
    return Spill([*model.weights, *optimizer.variables])


def _unspill(model: Network, optimizer, spill: Spill) -> None:
    spill.assign_to([*model.weights, *optimizer.variables])


def _save(path: Path, model, optimizer, state: _State, fingerprint: str,
          working: WorkingSet | None = None) -> None:
    weights, variables = _snapshot(model, optimizer)
    arrays = {f"w{i}": w for i, w in enumerate(weights)}
    arrays.update({f"o{i}": v for i, v in enumerate(variables)})
    arrays.update({f"b{i}": w for i, w in enumerate(state.best_weights.arrays())})
    if working:
        arrays.update(snps=working.snps, capacity=np.array(working.capacity))
    scalars = {k: getattr(state, k) for k in _State.SCALARS}
    arrays.update(fingerprint=np.array(fingerprint), state=np.array(json.dumps(scalars)),
                  history=np.array(json.dumps(state.history)))
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _restore(path: Path, model, optimizer, state: _State, fingerprint: str,
             working: WorkingSet | None = None):
    """Resume from the checkpoint at ``path`` (a working set first grown to its SNPs);
    returns the (network, optimizer) resumed, or None when there is nothing to resume."""
    if not path.exists():
        return None
    z = np.load(path)
    if str(z["fingerprint"]) != fingerprint:
        log.info("checkpoint %s is from other settings: starting afresh", path)
        return None
    if working:
        model, optimizer = working.resize(model, optimizer, int(z["capacity"]))
        working.add(z["snps"][len(working.snps):])
    n = len(model.weights)
    _set(model, optimizer, ([z[f"w{i}"] for i in range(n)],
                            [z[f"o{i}"] for i in range(len(optimizer.variables))]))
    state.best_weights = Spill(z[f"b{i}"] for i in range(n))
    for key, value in json.loads(str(z["state"])).items():
        setattr(state, key, value)
    state.history = json.loads(str(z["history"]))
    log.info("resumed from %s at epoch %d", path, state.epoch)
    return model, optimizer


def _rate(optimizer) -> float:
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def _epoch(model: Network, optimizer, data: TransData, s: TrainSettings,
           state: _State) -> bool:
    """Train one epoch and record it; or, when it turned a value non-finite or made the
    training VE fall by more than ``ROLLBACK_DROP``, undo it (weights and optimizer state)
    and return False."""
    epoch = state.epoch + 1
    state.way_back.write([*model.weights, *optimizer.variables])
    losses = [model.train_batch(*data.batch(rows))
              for rows in _batches(data.rows("train"), s.batch_size, s.seed, epoch)]
    # a non-finite weight makes the predictions, so the VE, non-finite: no weight scan
    ve = network_ve(model, data, state.splits)
    if not (np.isfinite(losses).all() and np.isfinite(ve["train"])
            and ve["train"] >= state.history[-1]["ve_train"] - ROLLBACK_DROP):
        _unspill(model, optimizer, state.way_back)
        return False
    state.epoch = epoch
    _record(model, optimizer, state, float(np.mean(losses)), ve)
    return True


def _record(model: Network, optimizer, state: _State, loss: float, ve: dict) -> None:
    """Append the epoch (its loss, VE per split, learning rate and alpha penalty in config
    units) to the history; track the best validation VE."""
    lam = optimizer.penalty("alpha") / penalty_scale(model, "alpha")
    state.history.append({"epoch": state.epoch, "loss": loss,
                          **{f"ve_{k}": v for k, v in ve.items()},
                          "learning_rate": _rate(optimizer), "l1_alpha": lam})
    best = score(ve)
    if best > state.best:
        state.best, state.best_weights = best, Spill(model.weights)
    if best > state.mark + (MIN_DELTA if state.point >= 0 else 0.0):
        state.mark, state.wait = best, 0
    else:
        state.wait += 1
    log.info("epoch %d loss %.5f %s", state.epoch, loss,
             " ".join(f"ve_{k} {v:.4f}" for k, v in ve.items()))


def _step(model: Network, optimizer, data: TransData, s: TrainSettings,
          state: _State) -> None:
    """One epoch; an undone one halves the learning rate, and ``MAX_ROLLBACKS`` in a row
    stop training."""
    if _epoch(model, optimizer, data, s, state):
        state.rollbacks = 0
        return
    state.rollbacks += 1
    rate = _rate(optimizer) / 2
    if state.rollbacks > MAX_ROLLBACKS:
        raise MilageError(
            f"training of {model.name} diverged at epoch {state.epoch + 1}: {MAX_ROLLBACKS + 1} "
            f"tries in a row made the training VE fall or a value non-finite, with the "
            f"learning rate halved each time (last {rate * 2:.3g}). Fix: lower "
            "trans.train.learning_rate or raise the L1 penalties (trans.train.l1); no "
            "parameters were written")
    optimizer.learning_rate.assign(rate)
    log.warning("epoch %d undone (training VE fell by more than %g, or a value turned "
                "non-finite): learning rate lowered to %.3g", state.epoch + 1,
                ROLLBACK_DROP, rate)


def _alpha_max(model: Network, data: TransData, s: TrainSettings,
               full: TransData | None = None) -> float:
    """The largest |gradient| of the loss in alpha at the current weights (the
    initialisation, where alpha is zero with the default candidates): the smallest penalty
    that keeps alpha zero, where glmnet's penalty path starts. Streamed over the SNPs of
    ``full`` (default ``data``; :func:`milage.trans_gradient.alpha_gradient_max`), on the
    first epoch's batches."""
    batches = _batches(data.rows("train"), s.batch_size, s.seed, 0)
    return float(alpha_gradient_max(model, data, batches, full).max())


def _choose_rate(model: Network, optimizer, data: TransData, s: TrainSettings,
                 state: _State, working: WorkingSet | None = None):
    """Adam's rate, by :func:`_halving` over ``RATES`` from the initialisation, then once
    more over the rates not below the winner from where it ended: near the initialisation
    a large step can blow up (many coefficients enter at once) while, past those first
    epochs, the same rate trains well and a small one only crawls (ML on 300 individuals:
    5e-4 chosen first, 2e-3 second, 70% -> 89% of the planted trans share). Training goes
    on from the winner (its epochs are kept); returns (network, optimizer, its state): a
    ``working`` set may have grown them."""
    model, optimizer, first = _halving(model, optimizer, data, s, state, RATES,
                                       s.max_epochs, working)
    if first is None:
        raise MilageError(f"training of {model.name} diverged at every learning rate of "
                          f"{RATES}. Fix: set trans.train.learning_rate to a number below "
                          "the smallest, or raise trans.train.l1" + ("" if working else
                          ", or set trans.train.working_set: true (the dense trainer's first "
                          "steps move every SNP's row of alpha at once)"))
    state, snapshot = first
    _unspill(model, optimizer, snapshot)
    faster = tuple(r for r in RATES if r >= _rate(optimizer) * (1 - 1e-6))
    left = s.max_epochs - state.epoch
    if len(faster) > 1 and left >= sum(RATE_ROUNDS):
        # the network as the second search left it: its checks may have grown the set
        # even when every rate dropped out (the first winner's weights are padded to it)
        model, optimizer, second = _halving(model, optimizer, data, s, state, faster, left,
                                            working)
        if second:
            state, snapshot = second
    _unspill(model, optimizer, snapshot)
    log.info("learning rate auto: %g (validation VE %.4f after %d epochs)", _rate(optimizer),
             state.best, state.epoch)
    return model, optimizer, state


def _halving(model: Network, optimizer, data: TransData, s: TrainSettings, state: _State,
             rates: tuple[float, ...], max_epochs: int, working: WorkingSet | None = None):
    """Successive halving over ``rates``: each trains ``RATE_ROUNDS[0]`` epochs from the
    current weights, the better half by validation VE goes on for the next round's epochs,
    and so on, within ``max_epochs``; a rate whose epoch would be undone drops out. On a
    ``working`` set, a rate's round starts with a full check (:func:`_check`) unless its
    weights were checked already: its SNPs join the set that every rate trains on, as in
    dense training any SNP may enter during the search (a set frozen for the search
    favoured larger rates: demo NN 8e-3 instead of 4e-3, test VE 0.004 lower). Returns
    the (network, optimizer), which a ``working`` set's checks may have grown, and the
    winner's (state, snapshot) (:func:`_spilled`), None when every rate dropped out."""
    start = _spilled(model, optimizer)
    runs = {rate: (state.copy(), start) for rate in rates}
    for n_epochs in _rounds(max_epochs):
        for rate, (run, snapshot) in list(runs.items()):
            _unspill(model, optimizer, snapshot)
            optimizer.learning_rate.assign(rate)
            if working and run.epoch > run.checked:
                model, optimizer, _ = _check(model, optimizer, s, run, working)
                run.checked = run.epoch
            ok = all(_epoch(model, optimizer, _fed(data, working), s, run)
                     for _ in range(n_epochs))
            runs[rate] = (run if ok else None, _spilled(model, optimizer))
        ranked = sorted((r for r in runs if runs[r][0]), key=lambda r: -runs[r][0].best)
        if not ranked:
            return model, optimizer, None
        runs = {r: runs[r] for r in ranked[:max(1, len(ranked) // 2)]}
    return model, optimizer, next(iter(runs.values()))


def _rounds(max_epochs: int) -> tuple[int, ...]:
    """The rate search's rounds (``RATE_ROUNDS``), shortened so that the winner's epochs
    stay within ``max_epochs``."""
    if sum(RATE_ROUNDS) <= max_epochs:
        return RATE_ROUNDS
    first = max_epochs // 3
    return tuple(n for n in (first, max_epochs - first) if n > 0)


def _next_point(model: Network, optimizer, state: _State) -> bool:
    """Move the alpha path to its next, smaller penalty, warm-started from the current
    weights (the solution at the previous penalty); False when the path is done: its last
    ``PATH_STALLS`` points each added less than ``MIN_DELTA`` to the best validation VE,
    or ``PATH_POINTS`` are done."""
    state.stalls = state.stalls + 1 if state.best < state.point_start + MIN_DELTA else 0
    if state.stalls >= PATH_STALLS or state.point + 1 >= PATH_POINTS:
        return False
    state.point += 1
    state.point_start, state.wait = state.best, 0
    optimizer.set_l1("alpha", optimizer.penalty("alpha") * PATH_RATIO)
    return True


def train(model: Network, data: TransData, s: TrainSettings,
          checkpoint: str | os.PathLike | None = None,
          splits: tuple[str, ...] = ("train", "valid"),
          working: WorkingSet | None = None) -> tuple[Network, pd.DataFrame]:
    """Train ``model`` (initialised); return it and the history (epoch, loss, VE per
    split, learning rate, alpha penalty).

    Epoch 0 is the initialisation. ``learning_rate`` auto picks Adam's rate by
    :func:`_choose_rate`. Alpha's penalty auto follows a decreasing path, as glmnet's: from
    the model's ``alpha_path_start`` x the smallest penalty that keeps alpha zero, each
    point warm-started from the previous one's solution and trained until ``patience``
    epochs bring no validation VE gain (:func:`_next_point`); a fixed penalty trains until
    then. An epoch that blows up is undone (:func:`_step`). The weights
    of the epoch with the best validation VE are restored at the end (the last epoch's
    when there is no validation split); the chosen rate and penalty go to the log and
    ``model.chosen``. ``splits`` are those whose VE the history records (adding "test"
    only reports it: selection always uses the validation split).

    With a ``working`` set (:mod:`milage.trans_working_set`), ``model`` holds its SNPs'
    rows of alpha and is fed its ``view``; a full check (:func:`_check`) grows it before
    training, at the rate search's rounds (:func:`_halving`), every ``CHECK_EVERY``
    epochs, at each point of the path, and before stopping, which only happens once a
    check finds no violator, or when a point of the path past its first needs a set that
    does not fit in memory (the path ends there; at the first, it starts higher:
    :func:`_outgrown`). The network returned may then be a bigger one than
    ``model``.
    """
    s = s.for_model(model.name)   # a linear factor's scale differs from a sigmoid's
    deterministic(s.seed)
    data = _fed(data, working)
    auto_rate = s.learning_rate == AUTO
    if auto_rate and s.optimizer != "adam":
        raise MilageError("config trans.train.learning_rate: auto needs optimizer adam. "
                          "Fix: give a number, or set trans.train.optimizer to adam")
    auto_alpha = s.l1.get("alpha") == AUTO and "alpha" in model.penalised
    full = working.full if working else None
    lam_max = _alpha_max(model, data, s, full) if auto_alpha else 0.0
    optimizer = make_optimizer(s.optimizer, RATES[0] if auto_rate else s.learning_rate,
                               model_l1(s.l1, model))
    model.compile(optimizer=optimizer)
    optimizer.build(model.trainable_variables)
    if auto_alpha:
        optimizer.set_l1("alpha", lam_max * model_class(model.name).alpha_path_start)
    state, fingerprint = _State(model, splits, auto_alpha), _fingerprint(model, data, s)
    cis = score(split_ve(data, None, splits))
    path = Path(checkpoint) if checkpoint else None
    resumed = _restore(path, model, optimizer, state, fingerprint, working) if path else None
    if resumed:
        model, optimizer = resumed
    else:
        if working:
            model, optimizer, _ = _check(model, optimizer, s, state, working)
        _record(model, optimizer, state, np.nan, network_ve(model, _fed(data, working), splits))
        state.point_start = state.best
        if auto_rate:
            model, optimizer, state = _choose_rate(model, optimizer, data, s, state, working)
    while state.epoch < s.max_epochs:
        if working and (state.due or state.epoch >= state.checked + CHECK_EVERY):
            model, optimizer, added = _check(model, optimizer, s, state, working)
            if added is None:       # alpha's path went as far as memory allows
                break
            state.checked, state.due = state.epoch, False
            if added and state.wait >= s.patience:
                state.wait = max(0, s.patience - CHECK_EVERY)   # room for the SNPs added
        if state.wait >= s.patience:
            if working and state.checked != state.epoch:
                state.due = True
                continue
            if not (auto_alpha and _next_point(model, optimizer, state)):
                break
            state.due = working is not None
            continue
        _step(model, optimizer, _fed(data, working), s, state)
        if path and (state.epoch % s.checkpoint_every == 0):
            _save(path, model, optimizer, state, fingerprint, working)
    state.best_weights.assign_to(model.weights)
    if path:
        path.unlink(missing_ok=True)    # a checkpoint only outlives a killed run
    history = pd.DataFrame(state.history)
    _report(model, history, cis, state.limited)
    return model, history


def _fed(data: TransData, working: WorkingSet | None) -> TransData:
    """What the network is fed: the working set's view (it changes as the set grows)."""
    return working.view if working else data


def _check(model: Network, optimizer, s: TrainSettings, state: _State,
           working: WorkingSet):
    """A full check of the working set: the SNPs outside it that break the L1 condition
    at the current penalty join it, strongest first, at most
    :meth:`~milage.trans_working_set.WorkingSet.most_added` of them; the network and
    optimizer grow with it (what was spilled before is padded as it is read back), if
    memory holds them. On alpha's path a set that would not fit moves the path instead
    (:func:`_outgrown`; nothing is added, and the number added is None where the path
    ends); with a fixed penalty, training stops (:func:`milage.trans_memory.check_memory`).
    Why: on the demo the NN's set was 2,337 SNPs at its best point and every SNP at the
    next, which gained nothing, and ML's first point holds most SNPs on a 5,706-SNP cohort;
    at GTEx v8 such growth stopped the whole run. Returns (network, optimizer, the number
    added)."""
    batches = _batches(working.view.rows("train"), s.batch_size, s.seed, 0)
    new = working.violators(model, batches, optimizer.penalty("alpha"))
    found, new = len(new), new[:working.most_added()]
    capacity = working.needed(len(new))
    if capacity > working.capacity:
        need = trans_memory.training_bytes(model.name, working.full, model.shape_[3], s,
                                           capacity)
        if state.point >= 0 and need > trans_memory.machine_bytes():
            ends = _outgrown(model, optimizer, state, working, len(new), need)
            return model, optimizer, None if ends else 0
        trans_memory.check_memory(model.name, working.full, model.shape_[3], s,
                                  alpha_rows=capacity)
        model, optimizer = working.resize(model, optimizer, capacity)
    working.add(new)
    log.info("working set at epoch %d: %d violators of the L1 condition, %d added: %d SNPs",
             state.epoch, found, len(new), len(working.snps))
    return model, optimizer, len(new)


def _outgrown(model: Network, optimizer, state: _State, working: WorkingSet, n_new: int,
              need: int) -> bool:
    """Alpha's path when its set would outgrow memory (needing ``need`` bytes for ``n_new``
    more SNPs), logged: past its first point it ends there (True: the best validation epoch
    so far is kept, as glmnet's pmax); at its first point it starts one point higher
    (the penalty / ``PATH_RATIO``; False), where fewer SNPs break the L1 condition."""
    lam = optimizer.penalty("alpha") / penalty_scale(model, "alpha")
    ends, state.limited = state.point > 0, True
    if ends:
        what = (f"alpha's path ends there (point {state.point + 1} of at most {PATH_POINTS}; "
                "as glmnet's pmax) and the best validation epoch so far is kept")
    else:
        optimizer.set_l1("alpha", optimizer.penalty("alpha") / PATH_RATIO)
        what = f"alpha's path starts one point higher, at {lam / PATH_RATIO:.3g}"
    log.warning("at alpha's penalty %.3g the SNPs breaking its L1 condition would grow the "
                "working set from %d to %d of %d SNPs, which needs about %.1f GB; this "
                "machine has %.1f GB: %s. To go further along the path: lower "
                "trans.n_factors, raise genotypes.min_maf, give candidate SNPs "
                "(inputs.candidate_snps) or use a larger machine", lam, len(working.snps),
                len(working.snps) + n_new, working.full.genotypes.shape[1], need / 1e9,
                trans_memory.machine_bytes() / 1e9, what)
    return ends


def _report(model: Network, history: pd.DataFrame, cis: float, limited: bool) -> None:
    """Log the chosen learning rate and alpha penalty (kept as ``model.chosen``, with
    ``memory_limited``: whether memory moved or ended alpha's path, :func:`_outgrown`, so
    the penalty is the best the machine admits, not the validation's choice), and warn
    when the best validation VE is not above the cis model's."""
    best = history.loc[history[score_column(history)].idxmax()]
    model.chosen = {"learning_rate": float(best["learning_rate"]),
                    "l1_alpha": float(best["l1_alpha"]), "best_epoch": int(best["epoch"]),
                    "memory_limited": limited}
    log.info("%s: best epoch %d, learning rate %.3g, alpha penalty %.3g", model.name,
             best["epoch"], best["learning_rate"], best["l1_alpha"])
    if best[score_column(history)] <= cis:
        log.warning("%s does not beat the cis model on validation (VE %.4f, cis %.4f): its "
                    "trans part adds nothing", model.name, best[score_column(history)], cis)


def score_column(history: pd.DataFrame) -> str:
    """The history column model selection maximises (:func:`score`)."""
    return "ve_valid" if "ve_valid" in history else "ve_train"


def fit_model(kind: str, data: TransData, cis_windows: np.ndarray, init_settings: InitSettings,
              settings: TrainSettings, checkpoint: str | os.PathLike | None = None,
              splits: tuple[str, ...] = ("train", "valid")):
    """Initialise the model of ``kind`` (a registered name, :mod:`milage.trans_models`) and
    train its network (on a working set of SNPs as ``settings.uses_working_set``); then, for
    a model whose loadings are refitted given its factors, refit them and polish
    (:func:`_polish`). Stops first when the machine cannot hold the training
    (:func:`milage.trans_memory.check_memory`). Returns the trained network and the
    history (``splits``: see :func:`train`; ``stage`` train or polish). The network's
    ``snps`` are the SNPs of its alpha rows, what it is fed (``data.over(network.snps)``):
    None, every SNP, for dense training; a working set's SNPs."""
    cls = model_class(kind)
    settings = replace(settings, working_set=settings.uses_working_set(data.genotypes.shape[1]))
    need = trans_memory.check_memory(kind, data, init_settings.n_factors, settings)
    log.info("%s: training needs about %.2f GB (estimate)", kind, need / 1e9)
    model = cls.initialise(data, cis_windows, init_settings)
    working = WorkingSet.of(model, data) if settings.working_set else None
    network = working.network(model) if working else \
        model.network(np.arange(data.genotypes.shape[1]))
    network, history = train(network, data, settings, checkpoint, splits, working)
    history = history.assign(stage="train")
    if settings.refit_lambdas and cls.refits_loadings:
        refit_beta(network, _fed(data, working), settings.refit_lambdas)
        network, history = _polish(network, data, settings, history, splits, working)
    if working:
        return working.trained(network), history
    network.snps = None
    return network, history


def _polish(network: Network, data: TransData, settings: TrainSettings,
            history: pd.DataFrame, splits: tuple[str, ...], working: WorkingSet | None):
    """Train alpha once more given the refitted loadings (frozen), at the learning rate
    and alpha penalty training chose, until ``patience``; refit beta again; keep the
    result when it adds at least ``POLISH_GAIN`` to the validation VE, else go back
    (a polish that diverges, or that memory cannot hold, is dropped; the latter marks
    the model ``memory_limited``). Why: the refit moves the loadings, so alpha
    trained against the shrunk loadings of gradient training is not the best given the
    refitted ones (ML on 600 individuals: 73% -> 86% of the planted trans share; with beta
    trained too, 76%). Returns the network and the history, with the polish's epochs
    (stage "polish", numbered on) when kept."""
    before = validation_score(network, _fed(data, working))
    weights, chosen = Spill(network.weights), network.chosen
    kept_set = (working.snps, working.capacity) if working else None
    fixed = replace(settings, learning_rate=chosen["learning_rate"],
                    l1={**settings.l1, "alpha": chosen["l1_alpha"]})
    _freeze_loadings(network, True)
    try:
        polished, more = train(network, data, fixed, None, splits, working)
        refit_beta(polished, _fed(data, working), settings.refit_lambdas)
        after = validation_score(polished, _fed(data, working))
    except MilageError as error:
        polished, after = network, -np.inf
        log.warning("%s: polish dropped: %s", network.name, error)
        if isinstance(error, MemoryLimitError):     # more memory would have polished it
            chosen = {**chosen, "memory_limited": True}
    _freeze_loadings(network, False)
    _freeze_loadings(polished, False)
    if after < before + POLISH_GAIN:
        weights.assign_to(network.weights)
        network.chosen = chosen
        if working:
            working.reset(*kept_set)
        log.info("%s: polish not kept (validation VE %.4f, before %.4f)", network.name,
                 after, before)
        return network, history
    offset = int(history["epoch"].max()) + 1
    polished.chosen = {**polished.chosen, "best_epoch": polished.chosen["best_epoch"] + offset,
                       "memory_limited": chosen["memory_limited"]}
    log.info("%s: polish kept (validation VE %.4f, before %.4f)", network.name, after, before)
    return polished, pd.concat([history, more.assign(epoch=more["epoch"] + offset,
                                                     stage="polish")], ignore_index=True)


def _freeze_loadings(network: Network, frozen: bool) -> None:
    for loadings in (network.beta, network.b):
        loadings.trainable = not frozen

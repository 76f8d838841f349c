"""Rules trans_train, trans_sweep, trans_permutation: initialise and train one trans model."""

import _src  # noqa: F401  (first: this checkout's src/ on sys.path)
import numpy as np

from milage.dataset import load_dataset
from milage.files import write_array, write_table
from milage.init import InitSettings
from milage.rule_io import run
from milage.train import TrainSettings, dense_loadings, fit_model
from milage.trans import predict_samples, save_params, trans_data


def main(sm):
    ds = load_dataset(sm.params.prepared)
    residuals = np.load(sm.input.residuals)
    data = trans_data(ds, residuals, sm.params.permute_seed)
    windows = ds.genes[["cis_start", "cis_stop"]].to_numpy()
    model, history = fit_model(sm.wildcards.model, data, windows,
                               InitSettings(**sm.params.init), TrainSettings(**sm.params.train),
                               sm.params.checkpoint)
    save_params(model, data, sm.output.params, loadings=dense_loadings(model, data))
    write_table(history, sm.output.history)
    if "predictions" in sm.output.keys():
        total = ds.expression - residuals + predict_samples(model, data)  # cis + trans
        write_array(total.astype("float32"), sm.output.predictions)


run(snakemake, main)  # noqa: F821

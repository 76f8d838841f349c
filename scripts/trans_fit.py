"""Rules trans_train, trans_sweep: initialise and train one trans model."""

import numpy as np

from milage.dataset import load_dataset
from milage.device import select
from milage.files import write_array, write_table
from milage.rule_io import run
from milage.settings import InitSettings, TrainSettings


def main(sm):
    select(sm.params.device)  # on the node that runs the job, before Keras loads
    from milage.trans_data import predict_samples, trans_data
    from milage.trans_loadings import dense_loadings
    from milage.trans_models import TransModel
    from milage.trans_train import fit_model

    ds = load_dataset(sm.params.prepared)
    residuals = np.load(sm.input.residuals)
    data = trans_data(ds, residuals)
    windows = ds.genes[["cis_start", "cis_stop"]].to_numpy()
    network, history = fit_model(sm.wildcards.model, data, windows,
                                 InitSettings(**sm.params.init),
                                 TrainSettings(**sm.params.train), sm.params.checkpoint)
    fed = data.over(network.snps)     # the network's SNPs only
    TransModel.from_network(network, loadings=dense_loadings(network, fed),
                            **network.chosen).save(sm.output.params, data)
    write_table(history, sm.output.history)
    if "predictions" in sm.output.keys():
        total = ds.expression - residuals + predict_samples(network, fed)  # cis + trans
        write_array(total.astype("float32"), sm.output.predictions)


run(snakemake, main)  # noqa: F821

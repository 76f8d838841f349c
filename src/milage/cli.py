"""The ``milage`` command: ``milage predict`` applies a trained model to new genotypes.

Only the standard library is imported here; the prediction code (pandas, Keras) is imported
when a command runs, so ``--help`` and ``--version`` answer at once.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

TRANS_MODELS = ("ml", "nn", "tm")  # milage.trans_models.MODELS (not imported: Keras is slow)
EXAMPLE = ("milage predict --results results/demo --model nn --genotypes new.vcf.gz "
           "--out predicted/")
PREDICT_DESCRIPTION = f"""\
Predict the expression of new individuals in every tissue from their genotypes alone, with
the models a finished workflow run trained. SNPs are matched by ID (swapped alleles
flipped); SNPs absent from the file take the training mean, with a warning.

Writes OUT/{{tissue}}.predicted_expression.tsv.gz (individuals x genes), the tissue named
as its PredictDB database is (e.g. Brain_Cerebellum). Values are in the training run's
units: per tissue, Z-scores of log2(TPM + 1) as the run normalised its expression.
Models ml, nn and tm predict cis + trans; cis predicts from the cis weights and intercepts
alone (no trans model needed).

example:
  {EXAMPLE}

exit status: 0 written; 2 bad input or usage (one line on stderr: the file, the problem,
the fix)."""


def version() -> str:
    """This installation's version (the checkout's ``__version__`` when not installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("milage")
    except PackageNotFoundError:
        from milage import __version__
        return __version__


def parser() -> argparse.ArgumentParser:
    """The ``milage`` argument parser."""
    top = argparse.ArgumentParser(prog="milage", description=__doc__.splitlines()[0])
    top.add_argument("--version", action="version", version=f"milage {version()}")
    sub = top.add_subparsers(dest="command", required=True)
    p = sub.add_parser("predict", help="predict expression per tissue from genotypes alone",
                       description=PREDICT_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", required=True,
                   help="results folder of a finished workflow run, e.g. results/demo")
    p.add_argument("--model", choices=(*TRANS_MODELS, "cis"), default="nn",
                   help="trans model added to the cis prediction, or cis for cis only "
                   "(default nn)")
    p.add_argument("--genotypes", required=True,
                   help="VCF/BCF (DS or GT) or PLINK .bed (.bim/.fam beside it)")
    p.add_argument("--out", required=True,
                   help="folder for {tissue}.predicted_expression.tsv.gz")
    return top


def predict(args: argparse.Namespace) -> None:
    """Run ``milage predict``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up notices
    from milage.files import require_file
    from milage.genotypes import GENOTYPES_EXPECTED
    from milage.predict import model_files, predict_expression

    files = model_files(args.results, args.model)
    require_file(args.genotypes, "genotypes", f"check --genotypes (expected {GENOTYPES_EXPECTED})")
    predict_expression(**files, genotypes=args.genotypes, out=args.out)


def main(argv: list[str] | None = None) -> int:
    """The ``milage`` command; returns the exit status (2: bad input, told in one line)."""
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    from milage.errors import MilageError

    try:
        predict(args)
    except (MilageError, OSError) as err:
        print(f"milage predict: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

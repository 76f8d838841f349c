"""The ``milage`` command: ``milage predict`` applies a trained model to new genotypes."""

from __future__ import annotations

import argparse
import logging
import sys

from milage.errors import MilageError
from milage.trans_models import MODELS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="milage", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("predict", help="predict expression per tissue from genotypes alone")
    p.add_argument("--results", required=True,
                   help="results folder of a finished workflow run, e.g. results/demo")
    p.add_argument("--model", choices=MODELS, default="nn", help="trans model (default nn)")
    p.add_argument("--genotypes", required=True, help="VCF/BCF (DS or GT) or PLINK .bed")
    p.add_argument("--out", required=True,
                   help="folder for {tissue}.predicted_expression.tsv.gz (e.g. Brain_Cerebellum)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    from milage.predict import model_files, predict_expression

    try:
        predict_expression(**model_files(args.results, args.model), genotypes=args.genotypes,
                           out=args.out)
    except MilageError as err:
        print(f"milage predict: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

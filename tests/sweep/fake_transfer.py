"""A stand-in for ``ssld-eval transfer`` in sweep tests: same flags, same record key, no torch.

Appends the key to ``$FAKE_TRANSFER_LOG`` when it starts, sleeps ``$FAKE_TRANSFER_SLEEP`` seconds, fails
(writing a failed record, exit 1) for the data sets listed in ``$FAKE_TRANSFER_FAIL``, else writes a
complete record whose value is derived from the key.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from ssld_eval.config import parse_set_args
from ssld_eval.provenance import weights_id_for_spec
from ssld_eval.records import ResultRecord, ResultStore
from ssld_eval.records.experiment import resolve_experiment


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["transfer"])
    for flag in ("--backbone", "--arch", "--name", "--task", "--dataset", "--results", "--data-root", "--device",
                 "--launcher"):
        parser.add_argument(flag)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pretrained", action="store_true")
    parser.add_argument("--skip-existing", action="store_true")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args(argv)
    overrides = parse_set_args(args.overrides)
    weights_id = weights_id_for_spec(args.backbone, args.pretrained)
    experiment, _ = resolve_experiment(weights_id, args.task, args.dataset, args.data_root, overrides, args.seed)
    key = experiment.key
    store = ResultStore(args.results)
    if args.skip_existing and store.has_complete(key):
        return 0
    log = os.environ.get("FAKE_TRANSFER_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(key + "\n")
    time.sleep(float(os.environ.get("FAKE_TRANSFER_SLEEP", "0")))
    common = dict(task=args.task, dataset=args.dataset, backbone=args.name or args.backbone,
                  arch=args.arch or args.backbone, weights_id=weights_id, seed=args.seed, overrides=overrides,
                  data_id=experiment.data_id, protocol_version=experiment.protocol_version,
                  config=dict(experiment.config), git_sha="fake", versions={},
                  execution={"launcher": args.launcher or "none"})
    if args.dataset in os.environ.get("FAKE_TRANSFER_FAIL", "").split(","):
        store.write(ResultRecord(status="failed", reason="fake failure", **common))
        return 1
    value = 50.0 + int(key[:4], 16) % 1000 / 100
    store.write(ResultRecord(status="complete", metrics={"top1": value}, primary_metric="top1", **common))
    assert key == store.read(store.path_for(key)).key
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

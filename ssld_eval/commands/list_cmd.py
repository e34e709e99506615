"""``ssld-eval list tasks|methods|datasets``: what the registries hold, one name a line (a plug-in that
registers itself shows up here with no other change)."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=("tasks", "methods", "datasets"))


def names(what: str) -> list[str]:
    if what == "tasks":
        from ssld_eval.tasks import task_names

        return task_names()
    if what == "methods":
        from distill.registry import method_names

        return method_names()
    from ssld_eval.datasets import dataset_names

    return dataset_names()


def run(args: argparse.Namespace) -> int:
    print("\n".join(names(args.what)))
    return 0

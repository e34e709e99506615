"""The ``ssld-eval`` command line.

Each sub-command lives in its own module exposing ``configure(parser)`` and ``run(args) -> int``. Only the
module of the command being run is imported, so ``ssld-eval report`` never pays for importing torch, and
adding a command is one line in :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: command name -> (module path, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "doctor": ("ssld_eval.doctor", "check the installation (torch, timm, mmcv ops, mmdet, mmseg, devices)"),
    "data": ("ssld_eval.data.cli", "build the built-in data sets and teachers"),
    "distill": ("ssld_eval.commands.distill_cmd", "distil a student backbone from a teacher"),
    "transfer": ("ssld_eval.commands.transfer_cmd", "evaluate a backbone on a downstream task"),
    "list": ("ssld_eval.commands.list_cmd", "the registered tasks, distillation methods or data sets"),
    "zoo": ("ssld_eval.zoo.cli", "the papers' released models, --backbone zoo:NAME"),
    "inspect": ("ssld_eval.commands.inspect_cmd", "print the key audit of a checkpoint"),
    "export": ("ssld_eval.commands.export_cmd", "write a checkpoint's clean backbone as safetensors"),
    "report": ("ssld_eval.report.cli", "render the HTML comparison report of a results folder"),
    "compare": ("ssld_eval.report.compare", "paired differences to a baseline, with intervals and significance"),
    "tables": ("ssld_eval.tables.cli", "regenerate a paper's tables beside the published numbers"),
    "demo": ("ssld_eval.demo", "the built-in end-to-end demo: teacher, students, transfer, report"),
    "sweep": ("ssld_eval.sweep.cli", "run a grid of backbones x tasks x data sets x seeds"),
}


def _top_parser() -> argparse.ArgumentParser:
    lines = "\n".join(f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items())
    return argparse.ArgumentParser(
        prog="ssld-eval",
        description="Distil backbones and measure whether they transfer better.",
        epilog=f"commands:\n{lines}\n\nRun 'ssld-eval COMMAND --help' for a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_parser()
    top.add_argument("command", choices=sorted(COMMANDS), metavar="COMMAND")
    if not argv or argv[0] in ("-h", "--help"):
        top.print_help()
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        top.parse_args(argv[:1])  # exits with argparse's "invalid choice" message
    name = argv[0]
    module = importlib.import_module(COMMANDS[name][0])
    parser = argparse.ArgumentParser(prog=f"ssld-eval {name}", description=COMMANDS[name][1])
    module.configure(parser)
    args = parser.parse_args(argv[1:])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

"""``ssld-eval zoo list``: the released models ``--backbone zoo:NAME`` knows, and whether each is cached."""

from __future__ import annotations

import argparse
import json

from ssld_eval.zoo import entries, local_path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("list",), help="list: every entry of the zoo")
    parser.add_argument("--json", action="store_true", help="one JSON object per entry, a line each")


def run(args: argparse.Namespace) -> int:
    for item in entries().values():
        path = local_path(item)
        if args.json:
            print(json.dumps({"name": item.name, "arch": item.arch, "paper": item.paper, "top1": item.top1,
                              "url": item.url, "path": str(path), "cached": path.is_file()}))
        else:
            print(f"zoo:{item.name:<40} {item.arch:<36} top-1 {item.top1:5.2f}  "
                  f"{'cached' if path.is_file() else 'not cached'}  ({item.description})")
    return 0

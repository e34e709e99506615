"""``ssld-eval inspect CKPT [--arch NAME]``: what a checkpoint holds and how it would load, as JSON.

Prints the tensor count, the wrapper namespaces found (``module.``, ``student.`` ...) and, when the
architecture is known (``--arch`` or the ``.json`` beside the file), the strict loader's key audit, or the
error naming the keys that do not fit. Pickles are read with ``weights_only=True`` and never executed.
Exit status: 0 loads cleanly, 1 keys do not fit, 2 unreadable file or unknown architecture.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from ssld_eval.commands import ARCH_HELP


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a .safetensors/.pth/.pt/.bin/.ckpt file or a distill run dir")
    parser.add_argument("--arch", help=ARCH_HELP)
    parser.add_argument("--allow-missing", action="append", default=[], metavar="REGEX",
                        help="missing keys matching REGEX are allowed (repeatable)")


def namespace_of(key: str, wrappers: tuple[str, ...]) -> str:
    """The chain of known wrapper prefixes in front of ``key`` (``module.student.``), or ''."""
    prefix = ""
    while match := next((w for w in wrappers if key.startswith(w)), None):
        prefix, key = prefix + match, key[len(match):]
    return prefix


def inspect_checkpoint(spec: str, arch: str | None = None, allow_missing: list[str] | None = None) -> dict[str, Any]:
    from ssld_eval.backbones import BackboneSpecError, CheckpointMismatchError, load_backbone, read_state_dict
    from ssld_eval.backbones.loader import KNOWN_WRAPPERS

    path = Path(spec) / "student.safetensors" if Path(spec).is_dir() else Path(spec)
    report: dict[str, Any] = {"checkpoint": str(path), "arch": arch, "audit": None, "error": None}
    try:
        tensors = read_state_dict(path)
    except (BackboneSpecError, CheckpointMismatchError) as exc:
        return {**report, "error": str(exc), "status": "unreadable"}
    namespaces = Counter(namespace_of(key, KNOWN_WRAPPERS) for key in tensors)
    report.update(tensors=len(tensors), parameters=int(sum(t.numel() for t in tensors.values())),
                  namespaces={ns or "<none>": n for ns, n in sorted(namespaces.items())})
    try:
        loaded = load_backbone(spec, arch=arch, allow_missing=allow_missing or ())
    except BackboneSpecError as exc:
        return {**report, "error": str(exc), "status": "unknown-arch"}
    except CheckpointMismatchError as exc:
        return {**report, "error": str(exc), "status": "mismatch"}
    return {**report, "arch": loaded.arch, "weights_id": loaded.weights_id, "audit": loaded.audit.to_dict(),
            "status": "ok"}


def run(args: argparse.Namespace) -> int:
    report = inspect_checkpoint(args.checkpoint, args.arch, args.allow_missing)
    print(json.dumps(report, indent=1))
    return {"ok": 0, "mismatch": 1}.get(report["status"], 2)

"""Where a distillation run logs: ``log.jsonl`` always (one JSON object a line: loss terms, LR, throughput,
evaluations), and TensorBoard event files under ``WORK_DIR/tensorboard`` when ``train.log_to`` names it, as
timm's and mmengine's users expect to follow a run (``tensorboard --logdir WORK_DIR``). Only the main
process writes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

SINKS = ("jsonl", "tensorboard")


class TrainLog:
    def __init__(self, work_dir: Path, log_to: tuple[str, ...], enabled: bool) -> None:
        unknown = sorted(set(log_to) - set(SINKS))
        if unknown:
            raise ValueError(f"train.log_to: unknown sink(s) {unknown}; expected some of {SINKS}")
        self.path = work_dir / "log.jsonl"
        self.enabled = enabled
        self.writer = None
        if enabled and "tensorboard" in log_to:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(work_dir / "tensorboard"))

    def write(self, record: dict[str, Any]) -> None:
        """One training or evaluation record: a JSON line, and its numbers as TensorBoard scalars at its step."""
        if not self.enabled:
            return
        with open(self.path, "a") as handle:
            handle.write(json.dumps({"time": round(time.time(), 3), **record}) + "\n")
        if self.writer is not None:
            evaluation = record.get("eval")
            values, group = (evaluation, "eval") if isinstance(evaluation, dict) else (record, "train")
            step = int(values.get("step", record.get("step", 0)))
            for name, value in values.items():
                if name != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                    self.writer.add_scalar(f"{group}/{name}", value, step)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

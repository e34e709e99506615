"""What makes two runs the same experiment, resolved once for ``transfer`` and for the sweep. Torch-free.

The record key hashes (see :func:`ssld_eval.records.schema.record_key`):

- the weights' identity (:func:`ssld_eval.provenance.weights_id_for_spec`);
- the task, and the protocol version the task declares (:mod:`ssld_eval.tasks.configs`);
- the data set's name and the identity of the files it reads (:mod:`ssld_eval.data_identity`);
- the task's resolved, typed config without its execution-only keys: ``--set lr=0.1``, ``--set lr=1e-1``
  and no ``--set`` at all (0.1 being the default) are one config, ``--set workers=8`` is no change at all;
- the seed.

``transfer`` and ``sweep`` both call :func:`resolve_experiment`, so they cannot disagree on a key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ssld_eval.config import build_config
from ssld_eval.data_identity import data_identity
from ssld_eval.records.schema import record_key
from ssld_eval.tasks.configs import TaskConfig, split_config, task_config_class


@dataclass(frozen=True)
class Experiment:
    """One experiment's identity (the record key's inputs) and the settings that only say how it runs."""

    weights_id: str
    task: str
    dataset: str
    protocol_version: int
    data_id: str
    config: Mapping[str, Any]  # the task's resolved config without its execution-only keys
    seed: int
    execution_settings: Mapping[str, Any]  # the execution-only keys' values: recorded, never keyed

    @property
    def key(self) -> str:
        return record_key(self.weights_id, self.task, self.dataset, self.protocol_version, self.data_id,
                          dict(self.config), self.seed)


def resolve_experiment(weights_id: str, task: str, dataset: str, data_root: Path | str | None,
                       overrides: Mapping[str, Any], seed: int,
                       cache_dir: Path | None = None,
                       identity: Callable[[str, Path | None, Path | None], str] = data_identity,
                       ) -> tuple[Experiment, TaskConfig]:
    """The experiment a ``transfer`` run would be, and the task's typed config it would run with.

    ``identity`` computes the data identity (the sweep passes a per-process memo of it).
    Raises :class:`ssld_eval.tasks.configs.UnknownTaskError`, :class:`ssld_eval.data_identity.UnknownDatasetError`
    (both ``KeyError``) or :class:`ssld_eval.config.ConfigError` naming what is wrong.
    """
    config = build_config(task_config_class(task), overrides, where=f"{task} --set")
    semantic, execution = split_config(config)
    data_id = identity(dataset, None if data_root is None else Path(data_root), cache_dir)
    experiment = Experiment(weights_id=weights_id, task=task, dataset=dataset,
                            protocol_version=type(config).protocol_version, data_id=data_id,
                            config=semantic, seed=seed, execution_settings=execution)
    return experiment, config

"""Which way is better comes from each task's declaration, never from a metric's name; an undeclared
metric's delta is shown uncoloured and named in the report, never painted as a gain or a loss."""

from __future__ import annotations

import dataclasses
import re
from types import MappingProxyType

import pytest

from ssld_eval.cli import main
from ssld_eval.records import ResultStore
from ssld_eval.records.synthetic import synthetic_records
from ssld_eval.tasks import directions
from ssld_eval.tasks.directions import HIGHER, LOWER, METRIC_DIRECTIONS, direction_of


def _store_three(root, metric: str = "top1", task: str = "linear-probe") -> None:
    store = ResultStore(root)
    base = next(iter(synthetic_records(backbones=1, tasks=1, datasets=1, seeds=1)))
    for backbone, value in (("baseline-net", 50.0), ("good-net", 60.0), ("bad-net", 40.0)):
        for seed in range(3):
            store.write(dataclasses.replace(base, task=task, backbone=backbone, weights_id=backbone * 4, seed=seed,
                                            metrics={metric: value + 0.1 * seed}, primary_metric=metric))


def _render(tmp_path) -> str:
    out = tmp_path / "out.html"
    assert main(["report", "--results", str(tmp_path / "results"), "--out", str(out)]) == 0
    return out.read_text(encoding="utf-8")


def test_direction_of_reads_the_declarations():
    assert direction_of("linear-probe", "mean_per_class") == HIGHER
    assert direction_of("knn", "knn20_top1") == HIGHER and direction_of("knn", "knn5_map11") == HIGHER
    assert direction_of("knn", "top1") is None  # kNN writes knn<k>_top1, never a bare top1
    assert direction_of("knn", "knn_top1") is None and direction_of("knn", "knn0_top1") is None
    assert direction_of("coco-det", "mask_APs") == HIGHER and direction_of("ade20k-seg", "aAcc") == HIGHER
    assert direction_of("linear-probe", "error") is None  # no guessing from the name, either way
    assert direction_of("no-such-task", "top1") is None


def test_a_declared_lower_is_better_flips_the_colours(tmp_path, monkeypatch):
    _store_three(tmp_path / "results")
    html = _render(tmp_path)
    assert re.search(r'class="delta better">\+10\.00<', html) and re.search(r'class="delta worse">-10\.00<', html)
    flipped = {**METRIC_DIRECTIONS, "linear-probe": MappingProxyType({"top1": LOWER})}
    monkeypatch.setattr(directions, "METRIC_DIRECTIONS", MappingProxyType(flipped))
    html = _render(tmp_path)
    assert re.search(r'class="delta worse">\+10\.00<', html) and re.search(r'class="delta better">-10\.00<', html)


def test_an_undeclared_metric_is_shown_uncoloured_and_named(tmp_path, capsys):
    _store_three(tmp_path / "results", metric="top5")
    html = _render(tmp_path)
    assert re.search(r'class="delta undirected">\+10\.00<', html)
    assert re.search(r'class="delta undirected">-10\.00<', html)
    assert 'class="delta better"' not in html and 'class="delta worse"' not in html
    assert 'class="num better' not in html and 'class="num worse' not in html
    assert "linear-probe / top5" in html and "direction unknown" in html
    assert "linear-probe declares no direction for 'top5'" in capsys.readouterr().err


def test_every_task_declares_every_metric_it_writes():
    import torch

    from ssld_eval.probe.metrics import METRICS, classification_metrics
    from ssld_eval.tasks import get_task, task_names
    from ssld_eval.tasks.ade20k_seg import METRICS as SEG_METRICS
    from ssld_eval.tasks.coco_det import coco_metrics

    assert task_names() == sorted(METRIC_DIRECTIONS)
    for name in task_names():
        assert get_task(name).metric_directions is METRIC_DIRECTIONS[name]
    scores, labels = torch.eye(3), torch.arange(3)
    voc = torch.tensor([[1, 0], [0, 1], [1, -1]])
    written = {"linear-probe": set(), "fine-tune": set(), "knn": set()}
    for primary in METRICS:
        targets = voc if primary == "map11" else labels
        grid = torch.rand(3, 2) if primary == "map11" else scores
        written["linear-probe"] |= set(classification_metrics(grid, targets, primary))
        written["knn"] |= set(classification_metrics(grid, targets, primary, prefix="knn20_"))
    written["fine-tune"] = written["linear-probe"]
    written["coco-det"] = set(coco_metrics({f"coco/{t}_{i}": 0.5 for t in ("bbox", "segm")
                                            for i in ("mAP", "mAP_50", "mAP_75", "mAP_s", "mAP_m", "mAP_l")})[0])
    written["ade20k-seg"] = set(SEG_METRICS)
    for task, metrics in written.items():
        assert metrics and all(direction_of(task, m) == HIGHER for m in metrics), (task, metrics)


def test_a_task_without_a_declaration_is_refused():
    from ssld_eval.tasks import TASKS, register_task
    from ssld_eval.tasks.base import Task

    class Toy(Task):
        pass

    with pytest.raises(ValueError, match=r"toy.*METRIC_DIRECTIONS"):
        register_task("toy")(Toy)
    assert "toy" not in TASKS

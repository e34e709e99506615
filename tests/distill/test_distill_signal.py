"""Signal: on the built-in Fashion data, distilled students beat the supervised one of the same budget.

Teacher: EfficientNet-Lite2 from ImageNet weights fine-tuned on Fashion (``fashion_teacher``). Students:
MobileNetV3-small-0.5 from random init, the same steps, batch and optimiser; ``ssld`` learns only the
teacher's predictions on the 3000 labelled images (labels unused) plus 3000 unlabeled ones; ``kd`` mixes
the teacher's soft targets with the labels. The teacher runs once, into a cache the students replay.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
from signal_helpers import Entry, compare, table, top1

#: ssld first: its cache covers train + unlabeled images and also serves kd (train alone)
ENTRIES = (
    Entry("ssld", "ssld/mobilenetv3_small_050_from_lite2_builtin.yaml"),
    Entry("kd", "kd/mobilenetv3_small_050_from_lite2_builtin.yaml"),
    Entry("supervised", "supervised/mobilenetv3_small_050_builtin.yaml"),
)


@pytest.mark.slow
def test_ssld_and_kd_beat_supervised_on_fashion(builtin_small: Path, fashion_teacher: Path,
                                                tmp_path_factory: pytest.TempPathFactory) -> None:
    results = compare(ENTRIES, builtin_small, fashion_teacher, tmp_path_factory.mktemp("signal"), seeds=(0, 1))
    teacher_top1 = top1(fashion_teacher)
    print("\nFashion test top-1 (%), MobileNetV3-small-0.5 students, 2 seeds\n" + table(results, teacher_top1))
    mean = {name: statistics.mean(values) for name, values in results.items()}
    assert teacher_top1 > mean["supervised"] + 5, "the teacher must be clearly better than the baseline"
    assert mean["ssld"] > mean["supervised"], table(results, teacher_top1)
    assert mean["kd"] > mean["supervised"], table(results, teacher_top1)

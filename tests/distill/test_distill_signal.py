"""Signal: on the built-in Fashion data, SSLD's student, which never sees a label, learns the task as well as
the supervised student of the same budget (within 5 points); that it does *better* is measured, not claimed.

Teacher: EfficientNet-Lite2 from ImageNet weights fine-tuned on Fashion (``fashion_teacher``, ~81% test
top-1 after 100 steps at 64 px). Students: MobileNetV3-small-0.5 from random init, 300 steps of 32 images
at 64 px, SGD, EMA; ``ssld`` learns only the teacher's predictions on the 3000 labelled images (labels
unused) plus 3000 unlabeled ones, replayed from a teacher cache (2 views per image); ``supervised`` learns
the 3000 labels. About 12 s a student on one thread.

Claim: "SSLD is non-inferior to supervised by a 5-point margin": a one-sided Wilcoxon signed-rank test of
``ssld - supervised + 5 > 0`` over the 8 paired seeds (:func:`signal_stats.paired_claim`), claimed at
p < 0.05 (8 of 8 gives p = 0.0039, 7 of 8 at most 0.0195). A broken label-free path (targets misaligned
with the crops, a wrong loss direction, a teacher that is not the one trained) lands far below that.

Measured (test top-1 %; ``SSLD_EVAL_SIGNAL_SEED_OFFSET`` shifts the seeds, ``SSLD_EVAL_TEST_THREADS`` the
threads):
- 1 thread, seeds 0-7: supervised 70.6 / 10.1 / 70.9 / 69.2 / 69.9 / 68.8 / 67.9 / 69.6, ssld 71.9 / 72.5 /
  71.0 / 71.6 / 72.2 / 71.4 / 72.4 / 71.8. Supervised seed 1 is a collapse of the exported EMA weights to
  one class (the live weights score 68.2; recalibrating BN gives 59): ranks count it as one win, not 62 points.
- 1 thread, seeds 8-15: supervised 63.7 / 72.6 / 71.9 / 65.4 / 69.2 / 71.0 / 69.8 / 70.6, ssld 73.0 / 73.9 /
  73.5 / 72.4 / 69.7 / 73.5 / 72.2 / 70.8.
- 2 threads, seeds 0-7: supervised 71.0 / 68.9 / 73.2 / 68.7 / 72.3 / 69.2 / 68.5 / 69.7, ssld 69.9 / 70.3 /
  66.7 / 69.7 / 69.4 / 72.9 / 72.1 / 71.8.
The claim held in all three: p = 0.0039, 0.0039, 0.0078 (7 of 8 within the margin).

Not claimed, "SSLD beats supervised": held on one thread (8 of 8 seeds won twice, median +2.35 and +2.00,
p = 0.0039) but not on two threads (5 of 8, median +1.20, p = 0.37): another summation order alone moves
a 300-step student by more than SSLD's gain, so at a budget CI can afford the claim would pass or fail by
the machine (it failed on one). "KD beats supervised" likewise (``kd/mobilenetv3_small_050_from_lite2_builtin``,
1 thread: seeds 0-7 7 of 8 won, p = 0.012; seeds 8-15 4 of 8, median +0.75, p = 0.16). ScaleKD: see
``test_scalekd.py``.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
from signal_helpers import SUPERVISED, Entry, compare, table, top1
from signal_stats import paired_claim

ENTRIES = (
    Entry("ssld", "ssld/mobilenetv3_small_050_from_lite2_builtin.yaml"),
    Entry("supervised", SUPERVISED),
)
MARGIN = 5.0  # points of top-1: the non-inferiority margin


@pytest.mark.slow
def test_label_free_ssld_is_non_inferior_to_supervised_on_fashion(
        builtin_small: Path, fashion_teacher: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    results = compare(ENTRIES, builtin_small, fashion_teacher, tmp_path_factory.mktemp("signal"))
    teacher_top1 = top1(fashion_teacher)
    claim = paired_claim(results, "ssld", "supervised", margin=MARGIN)
    report = f"{table(results, teacher_top1)}\n{claim}"
    print("\nFashion test top-1 (%), MobileNetV3-small-0.5 students\n" + report)
    supervised_median = statistics.median(results["supervised"])
    assert teacher_top1 > supervised_median + 5, "the teacher must be clearly better than the baseline"
    assert claim.holds, report

"""Signal: the built-in EfficientNet-Lite0 with its real ImageNet weights against the same architecture
from random init, on ``animals`` and ``digits``, in the three classification tasks.

Sized for a 2-core CPU: images at the sets' native 64 px (``image_size=64``) instead of the model's 224,
and a short fine-tune (40 steps of 32 images, about one epoch of train + val).

Finding (measured at 64, 128 and 224 px): on ``digits`` (scikit-learn's 8x8 digits, upscaled) frozen
random-init features are as good as ImageNet's or better (kNN 95-97% vs 87-89%; linear probe within a
point), as random convolutional features are known to be on MNIST-like digits, so there the test asserts
ImageNet's advantage only for fine-tuning, and that both frozen feature sets work (> 80%).

Claim and statistic: "ImageNet weights beat random init" on each asserted (data set, task), as a 99%
one-sided lower confidence bound of the accuracy difference on the test set above 0
(:func:`signal_stats.proportions_claim`, conservative: the two runs are scored on the same images).
One seed: the margins are far above what the random init's seed moves.

Measured (previous session, 2 cores; test top-1 %, ImageNet vs random): animals linear probe 89.60 vs
66.60 (99% lower bound of the difference +17.1), kNN 86.00 vs 61.60 (+18.1), fine-tune 62.00 vs 18.60
(+36.6); digits fine-tune 67.25 vs 16.75 (+43.1, 400 test images).
"""

from __future__ import annotations

import pytest
from signal_stats import proportions_claim

from ssld_eval.commands.transfer_cmd import transfer

TASKS = {
    "linear-probe": {"image_size": "64"},
    "knn": {"image_size": "64"},
    "fine-tune": {"image_size": "64", "steps": "40", "warmup_steps": "5", "lr": "0.02"},
}
CONFIDENCE = 0.99


@pytest.mark.slow
def test_imagenet_lite0_against_random_init(builtin_small, tmp_path):
    backbones = {
        "imagenet": str(builtin_small / "teachers" / "tf_efficientnet_lite0.safetensors"),
        "random": "tf_efficientnet_lite0",
    }
    scores: dict[tuple[str, str, str], float] = {}
    n_test: dict[str, int] = {}
    for dataset in ("animals", "digits"):
        for label, spec in backbones.items():
            for task, overrides in TASKS.items():
                record = transfer(spec, task, dataset, data_root=builtin_small, results=tmp_path / "results",
                                  cache_dir=tmp_path / "cache", overrides=overrides)
                assert record.status == "complete", record.reason
                assert record.bad_images == ()
                scores[(dataset, task, label)] = record.primary_value
                n_test[dataset] = record.protocol["n_test"]
    print("\ndataset  task          imagenet  random")
    for dataset in ("animals", "digits"):
        for task in TASKS:
            print(f"{dataset:<8} {task:<13} {scores[(dataset, task, 'imagenet')]:8.2f} "
                  f"{scores[(dataset, task, 'random')]:7.2f}")
    claimed = [("animals", task) for task in TASKS] + [("digits", "fine-tune")]
    claims = {where: proportions_claim(scores[(*where, "imagenet")], scores[(*where, "random")], n_test[where[0]],
                                       CONFIDENCE) for where in claimed}
    for where, claim in claims.items():
        print(f"{where[0]} {where[1]}: {claim}")
    assert all(claim.holds for claim in claims.values()), claims
    for task in ("linear-probe", "knn"):
        assert min(scores[("digits", task, "imagenet")], scores[("digits", task, "random")]) > 80.0

"""Signal: the built-in EfficientNet-Lite0 with its real ImageNet weights transfers better than the same
architecture from random init, on ``animals`` and ``digits``, in all three classification tasks.

Sized for a 2-core CPU: images at the sets' native 64 px (``image_size=64``) instead of the model's 224,
and a short fine-tune (60 steps of 32 images, about 1.5 epochs of train + val).
"""

from __future__ import annotations

import pytest

from ssld_eval.commands.transfer_cmd import transfer

TASKS = {
    "linear-probe": {"image_size": "64"},
    "knn": {"image_size": "64"},
    "fine-tune": {"image_size": "64", "steps": "60", "warmup_steps": "5", "lr": "0.02"},
}
MARGIN = 5.0  # percentage points


@pytest.mark.slow
def test_imagenet_lite0_beats_random_init_in_every_task(builtin_small, tmp_path):
    backbones = {
        "imagenet": str(builtin_small / "teachers" / "tf_efficientnet_lite0.safetensors"),
        "random": "tf_efficientnet_lite0",
    }
    scores: dict[tuple[str, str, str], float] = {}
    for dataset in ("animals", "digits"):
        for label, spec in backbones.items():
            for task, overrides in TASKS.items():
                record = transfer(spec, task, dataset, data_root=builtin_small, results=tmp_path / "results",
                                  cache_dir=tmp_path / "cache", overrides=overrides)
                assert record.status == "complete", record.reason
                assert record.bad_images == ()
                scores[(dataset, task, label)] = record.primary_value
    print("\ndataset  task          metric       imagenet  random")
    for dataset in ("animals", "digits"):
        for task in TASKS:
            metric = "knn20_top1" if task == "knn" else "top1"
            print(f"{dataset:<8} {task:<13} {metric:<12} {scores[(dataset, task, 'imagenet')]:8.2f} "
                  f"{scores[(dataset, task, 'random')]:7.2f}")
    for dataset in ("animals", "digits"):
        for task in TASKS:
            imagenet, random = scores[(dataset, task, "imagenet")], scores[(dataset, task, "random")]
            assert imagenet > random + MARGIN, (dataset, task, imagenet, random)

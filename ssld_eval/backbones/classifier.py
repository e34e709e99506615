"""A backbone *with* its own classifier, for the tasks that score that classifier (``imagenet``).

Every other task gets the headless model (:func:`~ssld_eval.backbones.loader.load_backbone`). Here the same
strict loader keeps the head (``keep_head=True``: the checkpoint's classifier keys must be there, else
:class:`~ssld_eval.backbones.loader.HeadlessCheckpointError`), and :func:`require_classifier` checks that the
head predicts the label space the task scores: a headless export, a student distilled with a 10-class
head or a timm name whose default head is ImageNet-21k's is a clear error, never a top-1 of the wrong
classes.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ssld_eval.backbones.loader import BackboneSpecError, LoadedBackbone, load_backbone

#: ImageNet-1k's classes: what timm's ``tf_efficientnet_lite*``, ResNets, ... predict by default
IMAGENET_CLASSES = 1000


class ClassifierError(BackboneSpecError):
    """The backbone has no classifier, or one over another label space than the task scores."""


def head_classes(model: nn.Module) -> int:
    """How many classes ``model``'s classifier predicts; 0 for a headless model (``num_classes=0``)."""
    count = getattr(model, "num_classes", None)
    if isinstance(count, int):
        return count
    get_classifier = getattr(model, "get_classifier", None)
    head = get_classifier() if callable(get_classifier) else None
    return int(getattr(head, "out_features", 0) or 0)


def require_classifier(loaded: LoadedBackbone, num_classes: int = IMAGENET_CLASSES, *, task: str = "imagenet") -> None:
    """Raise :class:`ClassifierError` unless ``loaded`` carries a ``num_classes``-way classifier."""
    found = head_classes(loaded.model)
    if found == num_classes:
        return
    if found == 0:
        raise ClassifierError(
            f"task {task}: {loaded.backbone_id} was loaded without its classifier; the task scores the backbone's "
            f"own {num_classes}-class head (load it with keep_head=True: 'ssld-eval transfer' does for this task)"
        )
    raise ClassifierError(
        f"task {task}: {loaded.backbone_id} has a {found}-class classifier; the task scores ImageNet-1k's "
        f"{num_classes} classes, so it needs a backbone whose own head predicts them (a checkpoint trained or "
        "distilled on ImageNet-1k with its head kept)"
    )


def load_classifier(spec: str, *, num_classes: int = IMAGENET_CLASSES, **kwargs: Any) -> LoadedBackbone:
    """:func:`~ssld_eval.backbones.loader.load_backbone` of ``spec`` with its classifier, checked to predict
    ``num_classes`` classes. ``kwargs``: ``load_backbone``'s (``arch``, ``pretrained``, ``allow_missing`` ...)."""
    loaded = load_backbone(spec, keep_head=True, **kwargs)
    require_classifier(loaded, num_classes)
    return loaded

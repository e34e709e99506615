"""Key maps from PaddleClas state dicts to the timm models: ResNet_vd (both naming generations), MobileNets.

ResNet_vd -> timm ``resnet*d`` / ``paddle_resnet34_vd``. Current ("legendary") names, from
``ppcls/arch/backbone/legendary_models/resnet.py``: ``stem.{0,1,2}.{conv,bn}`` (3->32 s2, 32->32, 32->64),
``blocks.{k}.conv0/conv1[/conv2].{conv,bn}`` with k flat over the stages, ``blocks.{k}.short.{conv,bn}`` on
the first block of each stage, ``fc``. timm: ``conv1.{0,1,3,4,6}`` and
``bn1`` for the stem, ``layer{s}.{j}.conv{n}/bn{n}``, ``downsample.{1,2}`` (index 0 is timm's pool), ``fc``.

release/2.0 names, from PaddleClas release/2.0's ``ppcls/modeling/architectures/resnet_vd.py`` (what the
older ``dygraph/ResNet50_vd_ssld_pretrained.pdparams`` and the ResNet34_vd SSLD file linked from ``ssld.md``
use):
``ConvBNLayer`` holds ``_conv`` and ``_batch_norm``; the stem layers are ``conv1_1``, ``conv1_2``, ``conv1_3``;
blocks are sublayers named ``bb_{stage}_{i}`` (``add_sublayer('bb_%d_%d' % (block, i), ...)``, i restarting
at 0 in every stage) with the same ``conv0``/``conv1``/``conv2``/``short`` children; the classifier is
``out``. The network is the same (shortcut conv at stride 1 after a 2x2 ceil-mode average pool, exclusive of
padding, and a plain 1x1 conv on the very first block). PaddleClas 2.6.0 cannot build that generation, so
its map is tested by renaming a current-generation state dict (a real one from Paddle in the slow parity
test, a synthetic one in the fast tests) to the release/2.0 names with an independent rename written in the
test from that file, and checking that the conversion is unchanged.

MobileNetV1 (``ppcls/arch/backbone/legendary_models/mobilenet_v1.py``): ``conv.{conv,bn}`` -> ``conv_stem`` /
``bn1``; ``blocks.{i}.depthwise_conv.{conv,bn}`` -> ``blocks.{s}.{j}.conv_dw`` / ``bn1``;
``blocks.{i}.pointwise_conv.{conv,bn}`` -> ``conv_pw`` / ``bn2``; ``fc`` -> ``classifier``.

MobileNetV3 (``ppcls/arch/backbone/legendary_models/mobilenet_v3.py``): ``conv.{conv,bn}`` -> ``conv_stem`` /
``bn1``; in ``blocks.{i}`` (a ``ResidualUnit``) ``expand_conv`` -> ``conv_pw`` / ``bn1``, ``bottleneck_conv``
-> ``conv_dw`` / ``bn2``, ``mid_se.conv1`` / ``conv2`` (with bias) -> ``se.conv_reduce`` / ``conv_expand``,
``linear_conv`` -> ``conv_pwl`` / ``bn3``; ``last_second_conv`` -> the last stage's ``ConvBnAct``
(``blocks.{n}.0.conv`` / ``bn1``); ``last_conv`` (no bias) -> ``conv_head``; ``fc`` -> ``classifier`` with the
inference dropout factor 1 - 0.2 folded into its weight (see :mod:`ssld_eval.converters.paddle_mobilenetv3`).
Which blocks have SE is Paddle's ``NET_CONFIG`` column ``se``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace

from ssld_eval.converters.keymap import Kind, ModuleMap
from ssld_eval.converters.paddle_mobilenetv3 import DROPOUT_P
from ssld_eval.converters.pdparams import PaddleCheckpointError

LEGENDARY = "legendary"
RELEASE_2_0 = "release/2.0"
_LEGENDARY_PREFIXES = ("stem.", "blocks.")
_RELEASE_2_0_PREFIXES = ("conv1_1.", "bb_")


@dataclass(frozen=True)
class ResNetVdSpec:
    """The depths of PaddleClas's ``NET_CONFIG[layers]`` and whether its blocks are bottlenecks."""

    depths: tuple[int, ...]
    bottleneck: bool


RESNET34_VD = ResNetVdSpec((3, 4, 6, 3), bottleneck=False)
RESNET50_VD = ResNetVdSpec((3, 4, 6, 3), bottleneck=True)
RESNET101_VD = ResNetVdSpec((3, 4, 23, 3), bottleneck=True)


def _blocks(spec: ResNetVdSpec) -> list[tuple[int, int, int]]:
    """(flat index k, stage s, index in stage j) for every block."""
    pairs = [(stage, j) for stage, depth in enumerate(spec.depths) for j in range(depth)]
    return [(k, stage, j) for k, (stage, j) in enumerate(pairs)]


def legendary_maps(spec: ResNetVdSpec) -> list[ModuleMap]:
    """The module maps for current PaddleClas names."""
    maps: list[ModuleMap] = []
    for n, (conv, bn) in enumerate((("conv1.0", "conv1.1"), ("conv1.3", "conv1.4"), ("conv1.6", "bn1"))):
        maps += [ModuleMap(f"stem.{n}.conv", conv, Kind.CONV), ModuleMap(f"stem.{n}.bn", bn, Kind.BN)]
    convs = ("conv0", "conv1", "conv2") if spec.bottleneck else ("conv0", "conv1")
    for k, stage, j in _blocks(spec):
        paddle, timm = f"blocks.{k}", f"layer{stage + 1}.{j}"
        for n, name in enumerate(convs, start=1):
            maps.append(ModuleMap(f"{paddle}.{name}.conv", f"{timm}.conv{n}", Kind.CONV))
            maps.append(ModuleMap(f"{paddle}.{name}.bn", f"{timm}.bn{n}", Kind.BN))
        if j == 0:  # use_first_short_conv: every stage's first block has a conv shortcut
            maps.append(ModuleMap(f"{paddle}.short.conv", f"{timm}.downsample.1", Kind.CONV))
            maps.append(ModuleMap(f"{paddle}.short.bn", f"{timm}.downsample.2", Kind.BN))
    maps.append(ModuleMap("fc", "fc", Kind.LINEAR))
    return maps


def _release_2_0_prefix(spec: ResNetVdSpec, legendary: str) -> str:
    """The release/2.0 name of a current-generation module prefix."""
    parts = legendary.split(".")
    layer = {"conv": "_conv", "bn": "_batch_norm"}
    if parts[0] == "stem":
        return f"conv1_{int(parts[1]) + 1}.{layer[parts[2]]}"
    if parts[0] == "blocks":
        _, stage, j = _blocks(spec)[int(parts[1])]
        return f"bb_{stage}_{j}.{parts[2]}.{layer[parts[3]]}"
    assert legendary == "fc", legendary
    return "out"


def release_2_0_maps(spec: ResNetVdSpec) -> list[ModuleMap]:
    """The module maps for release/2.0 names: the current maps with their Paddle prefixes renamed."""
    return [replace(m, paddle=_release_2_0_prefix(spec, m.paddle)) for m in legendary_maps(spec)]


def resnet_vd_layout(spec: ResNetVdSpec, keys: Collection[str], source: str) -> tuple[str, list[ModuleMap]]:
    """Which naming generation ``keys`` use (by key prefix) and its module maps."""
    legendary = [k for k in keys if k.startswith(_LEGENDARY_PREFIXES)]
    release = [k for k in keys if k.startswith(_RELEASE_2_0_PREFIXES)]
    if legendary and release:
        raise PaddleCheckpointError(
            f"{source}: keys of both PaddleClas naming generations: current {legendary[:3]} and release/2.0 "
            f"{release[:3]}"
        )
    if release:
        return RELEASE_2_0, release_2_0_maps(spec)
    return LEGENDARY, legendary_maps(spec)


# MobileNetV1's 13 blocks grouped as timm's five stages.
MOBILENETV1_STAGES = (1, 2, 2, 6, 2)


@dataclass(frozen=True)
class MobileNetV3Spec:
    """Paddle's blocks grouped as timm's stages, and the indices of the blocks with SE (``NET_CONFIG``)."""

    stages: tuple[int, ...]
    se_blocks: frozenset[int]


MOBILENETV3_LARGE = MobileNetV3Spec((1, 2, 3, 4, 2, 3), frozenset({3, 4, 5, 10, 11, 12, 13, 14}))
MOBILENETV3_SMALL = MobileNetV3Spec((1, 2, 3, 2, 3), frozenset({0, 3, 4, 5, 6, 7, 8, 9, 10}))


def _stage_positions(stages: tuple[int, ...]) -> list[str]:
    """timm's ``blocks.{s}.{j}`` for each of Paddle's flat block indices."""
    return [f"blocks.{s}.{j}" for s, depth in enumerate(stages) for j in range(depth)]


def _conv_bn(paddle: str, conv: str, bn: str) -> list[ModuleMap]:
    return [ModuleMap(f"{paddle}.conv", conv, Kind.CONV), ModuleMap(f"{paddle}.bn", bn, Kind.BN)]


def mobilenetv1_maps() -> list[ModuleMap]:
    maps = _conv_bn("conv", "conv_stem", "bn1")
    for i, timm in enumerate(_stage_positions(MOBILENETV1_STAGES)):
        maps += _conv_bn(f"blocks.{i}.depthwise_conv", f"{timm}.conv_dw", f"{timm}.bn1")
        maps += _conv_bn(f"blocks.{i}.pointwise_conv", f"{timm}.conv_pw", f"{timm}.bn2")
    maps.append(ModuleMap("fc", "classifier", Kind.LINEAR))
    return maps


def mobilenetv3_maps(spec: MobileNetV3Spec) -> list[ModuleMap]:
    maps = _conv_bn("conv", "conv_stem", "bn1")
    for i, timm in enumerate(_stage_positions(spec.stages)):
        paddle = f"blocks.{i}"
        maps += _conv_bn(f"{paddle}.expand_conv", f"{timm}.conv_pw", f"{timm}.bn1")
        maps += _conv_bn(f"{paddle}.bottleneck_conv", f"{timm}.conv_dw", f"{timm}.bn2")
        if i in spec.se_blocks:
            maps.append(ModuleMap(f"{paddle}.mid_se.conv1", f"{timm}.se.conv_reduce", Kind.CONV_BIAS))
            maps.append(ModuleMap(f"{paddle}.mid_se.conv2", f"{timm}.se.conv_expand", Kind.CONV_BIAS))
        maps += _conv_bn(f"{paddle}.linear_conv", f"{timm}.conv_pwl", f"{timm}.bn3")
    last = f"blocks.{len(spec.stages)}.0"
    maps += _conv_bn("last_second_conv", f"{last}.conv", f"{last}.bn1")
    maps.append(ModuleMap("last_conv", "conv_head", Kind.CONV))
    maps.append(ModuleMap("fc", "classifier", Kind.LINEAR, weight_scale=1.0 - DROPOUT_P))
    return maps

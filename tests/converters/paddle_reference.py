"""Build PaddleClas reference networks, save them as real ``.pdparams`` files, and record their eval logits.

Run ONLY under ``.venv-paddle/bin/python`` (``scripts/setup_paddle.sh``), never imported by the test process:
paddle must stay out of any process that imports torch. Usage::

    paddle_reference.py OUT_DIR ARCH [ARCH ...]

For every ARCH (a PaddleClas builder name) it writes ``OUT_DIR/ARCH.pdparams`` (``paddle.save``; protocol
2 for ``MobileNetV3_small_x1_0``, so that ``_codecs.encode`` bytes are exercised, Paddle's default 4 for the
rest) and ``OUT_DIR/ARCH.SIZE.logits.npy`` for each input ``OUT_DIR/input.SIZE.npy`` (2x3xSIZExSIZE, standard
normal, seeded); 97 makes every stride-2 stage odd-sized, which is where ceil-mode average pooling and
padding conventions would part. Every BatchNorm gets random weight, bias, running mean and running
variance, and every bias random values, before saving (see ``_randomise``): a default-initialised BN is
the identity in eval mode, and a wrong ``_mean`` / ``_variance`` (or weight / bias) map would then go
unnoticed.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

SIZES = (224, 97)
SEED = 0


def _import_ppcls() -> None:
    """Put the paddleclas wheel's own folder on sys.path (that is where ``ppcls`` lives) and init its logger.

    The folder is found without importing ``paddleclas`` itself, whose ``__init__`` needs OpenCV.
    """
    spec = importlib.util.find_spec("paddleclas")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("paddle_reference.py: paddleclas is not installed (run scripts/setup_paddle.sh)")
    sys.path.insert(0, next(iter(spec.submodule_search_locations)))
    from ppcls.utils import logger

    logger.init_logger()


def _builder(arch: str):
    from ppcls.arch.backbone.legendary_models import mobilenet_v1, mobilenet_v3, resnet

    for module in (resnet, mobilenet_v1, mobilenet_v3):
        if hasattr(module, arch):
            return getattr(module, arch)
    raise SystemExit(f"paddle_reference.py: no PaddleClas builder named {arch!r}")


def _randomise(model, rng: np.random.Generator, calibration: np.ndarray) -> None:
    """Random BN statistics and affine parameters that still let the input reach the logits.

    Purely random running statistics swamp the signal: the logits of a random-init net then depend on its
    biases alone, and a parity test on them checks little. So each BN's statistics are first measured on
    its own input (a forward pre-hook, in eval mode, layer after layer on a calibration batch), then
    perturbed (mean shifted by 0.2 std, variance scaled by 0.5-2), and weight / bias drawn at random.
    """
    import paddle

    def calibrate(layer, inputs):
        x = inputs[0].numpy()
        c = x.shape[1]
        mean = x.mean(axis=(0, 2, 3))
        var = x.var(axis=(0, 2, 3)) + 1e-3
        layer._mean.set_value((mean + 0.2 * np.sqrt(var) * rng.standard_normal(c)).astype("float32"))
        layer._variance.set_value((var * rng.uniform(0.5, 2.0, c)).astype("float32"))
        layer.weight.set_value(rng.uniform(0.5, 1.5, c).astype("float32"))
        layer.bias.set_value(rng.normal(0.0, 0.2, c).astype("float32"))
        return None

    for name, param in model.named_parameters():  # the SE convs' and the classifier's biases
        if name.endswith(".bias") and not name.endswith("bn.bias"):
            param.set_value(rng.normal(0.0, 0.1, param.shape).astype("float32"))
    hooks = [
        layer.register_forward_pre_hook(calibrate)
        for _, layer in model.named_sublayers()
        if isinstance(layer, paddle.nn.BatchNorm | paddle.nn.BatchNorm2D)
    ]
    model.eval()
    with paddle.no_grad():
        model(paddle.to_tensor(calibration))
    for hook in hooks:
        hook.remove()


def main(out: Path, archs: list[str]) -> None:
    import paddle

    paddle.set_device("cpu")
    paddle.seed(SEED)
    _import_ppcls()
    rng = np.random.default_rng(SEED)
    inputs = {}
    for size in SIZES:
        inputs[size] = rng.standard_normal((2, 3, size, size)).astype("float32")
        np.save(out / f"input.{size}.npy", inputs[size])
    for arch in archs:
        start = time.perf_counter()
        model = _builder(arch)()
        _randomise(model, rng, rng.standard_normal((2, 3, 128, 128)).astype("float32"))
        protocol = 2 if arch == "MobileNetV3_small_x1_0" else 4
        paddle.save(model.state_dict(), str(out / f"{arch}.pdparams"), protocol=protocol)
        with paddle.no_grad():
            for size, x in inputs.items():
                np.save(out / f"{arch}.{size}.logits.npy", model(paddle.to_tensor(x)).numpy())
        print(f"{arch}: {len(model.state_dict())} keys, protocol {protocol}, {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]), sys.argv[2:])

"""Converters from released checkpoint formats to timm state dicts.

Importing this package registers the Paddle-faithful timm models (``paddle_resnet34_vd``,
``paddle_mobilenetv1_100``, ``paddle_mobilenetv3_large_100``, ``paddle_mobilenetv3_small_100``), so that
``timm.create_model`` finds them wherever converted PaddleClas weights are loaded, and the ScaleKD students'
(``scalekd_vit_{small,base}_patch16_224``, ``scalekd_convnext_tiny``, ``scalekd_mixer_{s16,b16}_224``,
:mod:`ssld_eval.converters.scalekd_timm`). ScaleKD (mmpretrain) and SimReg ``.pth`` files are read by
:mod:`ssld_eval.converters.torch_pickles` (weights-only unpickling with a named allow-list).
"""

from ssld_eval.converters import paddle_mobilenetv3, paddle_timm, scalekd_timm  # noqa: F401 (registers the timm models)
from ssld_eval.converters.paddleclas import (
    PADDLECLAS_ARCHS,
    ConvertedBackbone,
    convert_paddleclas,
    convert_paddleclas_state_dict,
)
from ssld_eval.converters.pdparams import PaddleCheckpointError, read_pdparams
from ssld_eval.converters.scalekd import SCALEKD_ARCHS, convert_scalekd, convert_scalekd_state_dict
from ssld_eval.converters.simreg import SIMREG_ARCHS, convert_simreg, convert_simreg_state_dict
from ssld_eval.converters.torch_keymap import ConvertedTorchBackbone
from ssld_eval.converters.torch_pickles import TorchCheckpointError, read_torch_checkpoint

__all__ = [
    "PADDLECLAS_ARCHS",
    "SCALEKD_ARCHS",
    "SIMREG_ARCHS",
    "ConvertedBackbone",
    "ConvertedTorchBackbone",
    "PaddleCheckpointError",
    "TorchCheckpointError",
    "convert_paddleclas",
    "convert_paddleclas_state_dict",
    "convert_scalekd",
    "convert_scalekd_state_dict",
    "convert_simreg",
    "convert_simreg_state_dict",
    "read_pdparams",
    "read_torch_checkpoint",
]

"""Converters from released checkpoint formats to timm state dicts.

Importing this package registers the Paddle-faithful timm models (``paddle_resnet34_vd``,
``paddle_mobilenetv1_100``, ``paddle_mobilenetv3_large_100``, ``paddle_mobilenetv3_small_100``), so that
``timm.create_model`` finds them wherever converted PaddleClas weights are loaded.
"""

from ssld_eval.converters import paddle_mobilenetv3, paddle_timm  # noqa: F401 (registers the timm models)
from ssld_eval.converters.paddleclas import (
    PADDLECLAS_ARCHS,
    ConvertedBackbone,
    convert_paddleclas,
    convert_paddleclas_state_dict,
)
from ssld_eval.converters.pdparams import PaddleCheckpointError, read_pdparams

__all__ = [
    "PADDLECLAS_ARCHS",
    "ConvertedBackbone",
    "PaddleCheckpointError",
    "convert_paddleclas",
    "convert_paddleclas_state_dict",
    "read_pdparams",
]

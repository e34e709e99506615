"""CLI command modules (each exposes ``configure(parser)`` and ``run(args) -> int``)."""

#: ``--arch`` of every command that loads a checkpoint (transfer, export, inspect)
ARCH_HELP = ("timm architecture of a checkpoint without a sidecar .json, or SOURCE:NAME for another framework's "
             "checkpoint, converted on load: paddleclas:NAME with PaddleClas's builder name (e.g. "
             "paddleclas:ResNet50_vd, paddleclas:MobileNetV3_large_x1_0), scalekd:NAME with ScaleKD's model-zoo "
             "name (resnet50, vit_s16, vit_b16, swin_t, convnext_t, mixer_s16, mixer_b16; a raw distiller "
             "checkpoint or pth_transfer.py output), simreg:NAME with SimReg's --arch (resnet18, resnet50, "
             "mobilenet); a wrong NAME lists the supported ones")

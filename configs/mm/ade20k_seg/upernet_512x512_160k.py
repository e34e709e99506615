# UperNet, 512x512 crops, 160k iterations, batch 16 (4 GPUs x 4), SGD 0.01 poly: mmseg's R50 ADE20K recipe
# with a timm backbone, as in the ScaleKD tables. ssld_eval.tasks.ade20k_seg fills backbone.arch/weights/
# model_kwargs, decode_head/auxiliary_head in_channels (from the backbone's feature_info), data and classes.
_base_ = 'mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py'

custom_imports = dict(imports=['ssld_eval.mm.backbone'], allow_failed_imports=False)

norm_cfg = dict(type='SyncBN', requires_grad=True)

model = dict(
    pretrained=None,  # mmseg would hand 'open-mmlab://resnet50_v1c' to the backbone
    backbone=dict(
        _delete_=True,
        type='StrictTimmBackbone',
        arch='resnet50',
        weights=None,
        frozen_stages=-1,
        norm_eval=False,
        norm_cfg=norm_cfg,
        init_cfg=None),
    decode_head=dict(in_channels=None),
    auxiliary_head=dict(in_channels=None))

# the recipe's total batch, for the effective-batch check and optional linear LR scaling
auto_scale_lr = dict(enable=False, base_batch_size=16)

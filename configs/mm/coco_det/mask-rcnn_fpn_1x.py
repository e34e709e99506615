# Mask R-CNN FPN 1x (12 epochs, SGD 0.02, batch 16 = 8 GPUs x 2), mmdet's R50 recipe with a timm backbone.
# ssld_eval.tasks.coco_det fills backbone.arch/weights/model_kwargs, neck.in_channels (from the backbone's
# feature_info), the data root, classes and normalisation; the backbone weights come only through the
# suite's strict loader (init_cfg stays None).
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['ssld_eval.mm.backbone'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='StrictTimmBackbone',
        arch='resnet50',
        weights=None,
        frozen_stages=1,  # as mmdet's R50: stem and first stage frozen, BN statistics fixed
        norm_eval=True,
        init_cfg=None),
    neck=dict(in_channels=None))

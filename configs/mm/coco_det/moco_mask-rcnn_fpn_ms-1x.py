# The MoCo / mmselfsup detection protocol: Mask R-CNN R50-FPN, multi-scale 1x, SyncBN in backbone, neck and
# heads, nothing frozen, BN statistics trained, a 4-conv + 1-fc box head. Filled in by ssld_eval.tasks.coco_det
# like mask-rcnn_fpn_1x.py; on CPU or a single process the task turns SyncBN into BN (recorded).
_base_ = './mask-rcnn_fpn_1x.py'

norm_cfg = dict(type='SyncBN', requires_grad=True)

model = dict(
    backbone=dict(frozen_stages=-1, norm_eval=False, norm_cfg=norm_cfg),
    neck=dict(norm_cfg=norm_cfg),
    roi_head=dict(
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)))

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomChoiceResize',
         scales=[(1333, 640), (1333, 672), (1333, 704), (1333, 736), (1333, 768), (1333, 800)],
         keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

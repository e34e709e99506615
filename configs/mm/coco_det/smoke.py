# The 'smoke' profile of every coco-det recipe, for CPUs and the built-in data: merged over the recipe by
# ssld_eval.mm.recipes (an overlay, not a child config, so one file serves every recipe and each keeps its
# own augmentation and head types). Mask R-CNN stays Mask R-CNN (FPN, RPN, RoIAlign, box and mask heads):
# images, proposal budgets, head widths (256 -> 64: at 160 px the 4-conv mask head would otherwise cost more
# than everything else), batch and schedule shrink. One process, no data-loader workers, no checkpoints.

# every image size in the recipe's pipelines is multiplied by this (1333x800 -> 267x160)
ssld_image_scale = 0.2
width = 64

train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=100, val_interval=100)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=100, milestones=[80], gamma=0.1),
]
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=2e-4, weight_decay=0.05),
    clip_grad=dict(max_norm=35, norm_type=2))

train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False)
val_dataloader = dict(num_workers=0, persistent_workers=False)
test_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False)

model = dict(
    neck=dict(out_channels=width),
    rpn_head=dict(in_channels=width, feat_channels=width),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=width),
        bbox_head=dict(in_channels=width, conv_out_channels=width, fc_out_channels=256),
        mask_roi_extractor=dict(out_channels=width),
        mask_head=dict(in_channels=width, conv_out_channels=width)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=500, max_per_img=200),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=200), rcnn=dict(max_per_img=30)))

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=-1, save_last=False))
log_processor = dict(by_epoch=False)

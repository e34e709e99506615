# The 'smoke' profile of every ade20k-seg recipe, for CPUs and the built-in data: merged over the recipe by
# ssld_eval.mm.recipes. UperNet stays UperNet (PPM + FPN fusion, auxiliary FCN head): image and crop sizes,
# head widths (512 -> 64, 256 -> 32), batch and schedule shrink. One process, no data-loader workers, no
# checkpoints.

# every image and crop size in the recipe's pipelines is multiplied by this (2048x512 -> 512x128, crops 128)
ssld_image_scale = 0.25

train_cfg = dict(max_iters=120, val_interval=120)
optim_wrapper = dict(optimizer=dict(_delete_=True, type='AdamW', lr=3e-4, weight_decay=0.01))
param_scheduler = [dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=120, by_epoch=False)]

train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False)
val_dataloader = dict(num_workers=0, persistent_workers=False)
test_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False)

model = dict(
    backbone=dict(norm_eval=True),
    decode_head=dict(channels=64),
    auxiliary_head=dict(channels=32))

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=-1, save_last=False))

"""OpenMMLab integration: the strict timm backbone adapter, recipes, runner glue and safe loading.

Nothing is imported here on purpose: ``ssld_eval.mm.task_config`` must stay importable without mmengine."""

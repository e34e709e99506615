"""OpenMMLab integration: the strict timm backbone adapter, recipes, runner glue and safe loading.

Nothing is imported here on purpose: the task registry imports the task modules, which import these lazily."""

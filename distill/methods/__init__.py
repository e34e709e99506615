"""One module per distillation method; each registers itself with :func:`distill.registry.register_method`."""

"""The layer below both ``distill`` and ``ssld_eval``: what each of them needs exactly once.

Torch-free where it can be (atomic writes, provenance, the student sidecar's schema), so that the report,
the sweep and the record key may use it too. It imports neither ``distill`` nor ``ssld_eval``.
"""

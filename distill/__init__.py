"""The distillation core: build student backbones from strong teachers.

Students and teachers are any timm model. Methods register themselves in :mod:`distill.registry`; a run
writes ``student.safetensors`` (student weights only) and ``student.json`` (provenance). This package never
imports ``ssld_eval``: its only contract with the rest of the suite is those two files.
"""

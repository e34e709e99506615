"""The source papers' tables, regenerated from the shipped CSVs beside ssld-eval's own numbers:
``ssld-eval tables``. Torch-free."""

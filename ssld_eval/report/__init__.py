"""The HTML comparison report of a results folder: ``ssld-eval report``.

Torch-free by design (it reads JSON records with pandas and draws with matplotlib), so a report renders on
a laptop from a results folder copied off a cluster.
"""

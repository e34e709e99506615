"""``ssld-eval sweep``: a grid of backbones x tasks x data sets x seeds, each job one ``ssld-eval transfer``
run named by its record key, so a sweep restarted after a crash runs only what is missing. Torch-free: the
sweep process only plans and launches; the jobs import torch."""

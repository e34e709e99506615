"""Linear-probe machinery on frozen features: the L-BFGS logistic-regression solver and its
regularisation path (:mod:`ssld_eval.probe.lbfgs`), and the transfer metrics (:mod:`ssld_eval.probe.metrics`)."""

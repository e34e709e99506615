"""McNemar's exact test and Holm's correction against hand-worked examples."""

from __future__ import annotations

import numpy as np
import pytest

from ssld_eval.stats.significance import holm, mcnemar


def test_mcnemar_hand_worked():
    """b=1, c=9 discordant of 20: p = 2 * P(X <= 1), X ~ Bin(10, 1/2) = 2 * 11 / 1024."""
    a = np.array([True] * 6 + [True] + [False] * 9 + [False] * 4)
    b = np.array([True] * 6 + [False] + [True] * 9 + [False] * 4)
    result = mcnemar(a, b)
    assert (result.b, result.c, result.n) == (1, 9, 20)
    assert result.p_value == pytest.approx(22 / 1024, abs=1e-12)
    assert mcnemar(b, a).p_value == result.p_value


def test_mcnemar_without_discordant_pairs_is_not_significant():
    a = np.array([True, False, True])
    assert mcnemar(a, a.copy()).p_value == 1.0


def test_mcnemar_balanced_discordance():
    """b = c = 5: the observed count is the centre, so p = 1."""
    a = np.array([True] * 5 + [False] * 5)
    assert mcnemar(a, ~a).p_value == pytest.approx(1.0)


def test_mcnemar_refuses_non_boolean_or_unequal_inputs():
    with pytest.raises(ValueError, match="must be boolean"):
        mcnemar(np.array([1, 0]), np.array([True, False]))
    with pytest.raises(ValueError, match="equal-length"):
        mcnemar(np.array([True, False]), np.array([True]))


def test_holm_worked_example():
    """p = [0.01, 0.04, 0.03]: sorted 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> running max 0.06."""
    result = holm([0.01, 0.04, 0.03])
    assert result.adjusted == pytest.approx((0.03, 0.06, 0.06))
    assert result.significant == (True, False, False)
    assert result.to_dict()["alpha"] == 0.05


def test_holm_caps_at_one_and_keeps_order():
    result = holm([0.5, 0.001, 0.9, 0.02], alpha=0.1)
    assert result.adjusted == pytest.approx((1.0, 0.004, 1.0, 0.06))
    assert result.significant == (False, True, False, True)


@pytest.mark.parametrize(("p", "alpha", "match"), [([], 0.05, "non-empty"), ([1.2], 0.05, r"lie in \[0, 1\]"),
                                                   ([0.1], 0.0, "alpha=0.0")])
def test_holm_refuses_bad_input(p, alpha, match):
    with pytest.raises(ValueError, match=match):
        holm(p, alpha)

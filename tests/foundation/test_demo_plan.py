"""The demo covers every registered method and task, and its recipes exist and validate."""

import pytest

from distill.recipe import load_recipe
from distill.registry import method_names
from ssld_eval import demo
from ssld_eval.tasks import task_names


def test_every_registered_method_has_a_demo_recipe():
    assert {name for name, _ in demo.STUDENT_RECIPES} == set(method_names())


@pytest.mark.parametrize("recipe", [demo.TEACHER_RECIPE] + [r for _, r in demo.STUDENT_RECIPES])
def test_demo_recipes_load(recipe):
    assert load_recipe(demo.DISTILL_CONFIGS / recipe).source


def test_plan_covers_registered_tasks_and_refuses_unplanned_ones():
    plan = demo.demo_plan(task_names())
    assert set(plan) == set(task_names())
    with pytest.raises(RuntimeError, match="no entry"):
        demo.demo_plan([*task_names(), "brand-new-task"])

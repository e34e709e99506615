"""The jinja2 environment of the report and the HTML tables, kept apart from the charts so that rendering
a table never imports matplotlib. Autoescaping is on for every template (and for template strings), so a
user string can only reach the page as text; nothing here marks user input safe."""

from __future__ import annotations

import jinja2


def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("ssld_eval.report", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "j2"), default_for_string=True,
                                            default=True),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )

"""The HTML files songscope writes (the report, the catalogue profile): Jinja2 templates in
``songscope/templates``, every value escaped unless a template marks it safe."""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def _environment():
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("songscope", "templates"), autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def render(template: str, **context: Any) -> str:
    """The page `template` (a file in ``songscope/templates``) filled with `context`."""
    return _environment().get_template(template).render(**context)

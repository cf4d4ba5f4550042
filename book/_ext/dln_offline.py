"""Sphinx extension: keep the built book self-contained and its console clean.

Jupyter Book 1 always loads ``sphinx_thebe``, whose configuration script (a ``const`` that points
to a CDN copy of thebe) is registered twice, which raises a console ``SyntaxError`` and mentions a
remote URL. The companion executes chapters ahead of time and runs offline, so live kernels
(thebe) are not offered: this extension drops thebe's scripts from every page.
"""

from __future__ import annotations


def _is_thebe(script) -> bool:
    filename = getattr(script, "filename", None) or str(script)
    body = (getattr(script, "attributes", None) or {}).get("body", "")
    return "thebe" in filename or "THEBE_JS_URL" in body


def _drop_thebe(app, pagename, templatename, context, doctree):
    if "script_files" in context:
        context["script_files"] = [s for s in context["script_files"] if not _is_thebe(s)]


def setup(app):
    app.connect("html-page-context", _drop_thebe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

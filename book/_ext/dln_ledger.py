"""Sphinx extension: the Results ledger fails the build when a chapter's check fails.

When the builder starts, the ledger page (``book/chapters/ledger.md``) is rewritten from the
executed chapters' glued records (:mod:`dlnlib.companion.ledger`), so its status column is computed at build
time, and every problem :func:`dlnlib.companion.ledger.build_problems` reports (a failed record, a checkable
result that is not pending and has no record, a record of an unknown result) is logged as a Sphinx
warning. Under ``-W`` (``make book``) a warning fails the build.
"""

from __future__ import annotations

from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)


def ledger_warnings(root: Path, *, write: bool = True) -> list[str]:
    """The ledger's build problems for the repository at ``root`` (and rewrite its page).

    Parameters
    ----------
    root : pathlib.Path
        Repository root (the Sphinx source folder).
    write : bool, optional
        Keyword-only. Rewrite ``book/chapters/ledger.md`` when ``book/chapters`` exists.

    Returns
    -------
    list of str
        The warning messages.
    """
    from dlnlib.companion import ledger
    from dlnlib.companion._paths import EXECUTED_DIR

    out_dir = Path(root) / EXECUTED_DIR
    if write and out_dir.is_dir():
        ledger.write_ledger_page(root, out_dir / "ledger.md")
    records = ledger.collect_records(root)
    return ledger.build_problems(ledger.ledger_rows(records), records)


def _check_ledger(app) -> None:
    for message in ledger_warnings(Path(app.srcdir)):
        logger.warning(message, type="dln", subtype="ledger")


def setup(app):
    app.connect("builder-inited", _check_ledger)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

"""The book's machinery, separate from the mathematics in :mod:`dlnlib`.

Nothing here computes a result of the paper. These modules turn the library's results into the
companion book and its reruns:

* :mod:`dlnlib.companion.chapter`: :class:`~dlnlib.companion.chapter.Chapter`, the one object a
  chapter notebook creates (house figure style, figure files with provenance, glue, ledger records);
* :mod:`dlnlib.companion.text`: words and tables for glued prose (``"5-4-3"``, ``"2, 3 and 4"``,
  ``{1, 2}``, Markdown tables);
* :mod:`dlnlib.companion.figures`: drawings made from the library's objects (the network of Figure 1);
* :mod:`dlnlib.companion.cli`: ``python -m dlnlib`` (``execute``, ``run``, ``runs``, ``list``,
  ``ledger``, ``campaign``);
* :mod:`dlnlib.companion.rerun`: what ``python -m dlnlib run`` leaves behind (verdict and checks,
  figure numbers, the diff against the book's run, an offline ``index.html``);
* :mod:`dlnlib.companion.report`, :mod:`dlnlib.companion.ledger`: the generated Figures, Execution
  report and Results ledger pages;
* :mod:`dlnlib.companion.citation`: figure numbers as the book shows them, captions as plain text,
  and each figure's citation and BibTeX entry.

``import dlnlib`` never imports this subpackage (nor matplotlib, IPython or papermill); import the
module you need, e.g. ``from dlnlib.companion.chapter import Chapter``.
"""

"""Drawings made from the library's objects rather than from a computation's output.

:func:`draw_network` draws the paper's Figure 1 (a linear network) from its widths.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["draw_network"]


def draw_network(ax, dims: Sequence[int], *, max_nodes: int = 12, labels: bool = True):
    """Draw a linear network with widths ``dims`` (the paper's Figure 1): layers as columns of nodes.

    Column ``i`` holds the ``d_i`` units of layer ``i`` (input ``x`` on the left, output on the
    right); every pair of consecutive columns is fully connected and labelled by its weight matrix
    ``W_i`` of shape ``d_i x d_{i-1}`` (Section 1 of [CLC]: ``y = W_N ... W_1 x``). A layer wider than
    ``max_nodes`` is drawn with ``max_nodes`` nodes and an ellipsis.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Where to draw (its axis frame is switched off).
    dims : sequence of int
        Widths ``(d_0, ..., d_N)``, each ``>= 1``, at least two.
    max_nodes : int, optional
        Keyword-only. Most nodes drawn per column (``>= 3``).
    labels : bool, optional
        Keyword-only. Write ``W_i`` above each block of edges and ``d_i`` under each column.

    Returns
    -------
    dict
        ``{"nodes": list of (x, y) arrays per column, "edges": number of drawn edges}``.

    Raises
    ------
    ValueError
        If ``dims`` has fewer than two widths, a width below 1, or ``max_nodes < 3``.
    """
    d = [int(v) for v in dims]
    if len(d) < 2 or any(v < 1 for v in d) or any(float(v) != float(w) for v, w in zip(d, dims, strict=True)):
        raise ValueError(f"dims must hold at least two integer widths >= 1, got {dims!r}")
    if int(max_nodes) < 3:
        raise ValueError(f"max_nodes must be at least 3, got {max_nodes!r}")
    shown = [min(v, int(max_nodes)) for v in d]
    top = max(shown)
    gap = 2.0  # horizontal distance between layers (room for the labels)
    cols = []
    for i, k in enumerate(shown):
        y = np.arange(k) - (k - 1) / 2.0
        cols.append(np.stack([np.full(k, gap * i), y], axis=1))
    n_edges = 0
    for i in range(len(d) - 1):
        a, b = cols[i], cols[i + 1]
        for p in a:
            for q in b:
                ax.plot([p[0], q[0]], [p[1], q[1]], color="0.6", lw=0.6, zorder=1)
                n_edges += 1
        if labels:
            ax.text(gap * (i + 0.5), top / 2.0 + 0.35, f"$W_{{{i + 1}}}$", ha="center", va="bottom", fontsize=11)
    names = ["input $x$"] + [f"hidden {i}" for i in range(1, len(d) - 1)] + ["output"]
    for i, c in enumerate(cols):
        face = "C0" if i == 0 else ("C2" if i == len(d) - 1 else "C1")
        ax.scatter(c[:, 0], c[:, 1], s=160, color=face, edgecolor="k", zorder=3)
        if d[i] > shown[i]:
            ax.text(gap * i, c[-1, 1] + 0.6, "⋮", ha="center", va="bottom", fontsize=12)
        if labels:
            ax.text(gap * i, -top / 2.0 - 0.45, f"{names[i]}\n$d_{{{i}}}={d[i]}$", ha="center", va="top", fontsize=9)
    ax.set_xlim(-0.8, gap * (len(d) - 1) + 0.8)
    ax.set_ylim(-top / 2.0 - 1.6, top / 2.0 + 1.0)
    ax.set_aspect("equal")
    ax.axis("off")
    return {"nodes": cols, "edges": n_edges}

"""The Results ledger: one row per numbered item of [CLC], with a status computed from the chapters.

Every chapter records its check of a numbered result with :meth:`dlnlib.companion.chapter.Chapter.record`,
which glues a JSON record under ``<chapter>-ledger-<slug>``. This module holds the fixed part of the
ledger (:data:`ITEMS`: the statement in a few words, how it is checked, the test that guards it)
and computes each row's status from the records of the executed chapters (``book/chapters``):

* ``"verified"`` / ``"illustrated"``: every record of the result passed (``"verified"`` if at least
  one record is a numerical verification, else ``"illustrated"``);
* ``"failed"``: some record has ``ok=False``, or a checkable result has no record at all;
* ``"not_checkable"``: the item is a hypothesis or a definition (unless a record of it failed).

A row marked ``pending`` belongs to a chapter that is not in the book yet: while it has no record it
reads ``"failed"`` without failing the build. A failed record always fails the build
(:func:`build_problems`, turned into Sphinx warnings by ``book/_ext/dln_ledger.py``).

This module is standard library only (no matplotlib): ``python -m dlnlib ledger`` and the Sphinx
extension import it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ._paths import EXECUTED_DIR

__all__ = [
    "ITEMS",
    "STATUSES",
    "LedgerItem",
    "LedgerRow",
    "build_problems",
    "collect_records",
    "format_table",
    "ledger_json",
    "ledger_rows",
    "run_cli",
    "write_ledger_page",
]

STATUSES = ("verified", "illustrated", "not_checkable", "failed")
"""The possible statuses of a row."""

_CH = {
    1: "ch01_model",
    2: "ch02_invariants",
    3: "ch03_convergence",
    4: "ch04_critical",
    5: "ch05_hessian",
    6: "ch06_geometry",
    7: "ch07_ovf",
    8: "ch08_stepsize",
    9: "ch09_pure_spurious",
    10: "ch10_section4",
    11: "ch11_rates_remarks",
}


@dataclass(frozen=True)
class LedgerItem:
    """The fixed part of a ledger row: a numbered item of [CLC] (or a related result the book checks).

    Attributes
    ----------
    result : str
        The paper's name, e.g. ``"Lemma 3.2 (i)"`` (the key chapters record under).
    statement : str
        The statement in a few words.
    how : str
        How it is checked: exact identity, numerical test with its tolerance, Monte Carlo,
        illustration, or "not numerically checkable" with the reason.
    test : str
        Node id of the test in ``tests/`` that guards it (``tests/test_x.py::test_name``).
    chapters : tuple of str
        Chapters expected to record it (the first one is the row's place when nothing is recorded).
    checkable : bool
        ``False`` for hypotheses and definitions (status ``"not_checkable"``).
    section : str or None
        Section label shown when no record gives one (for rows that are not checkable).
    notes : str or None
        Label of the item on the Mathematical notes page (``notes-...``), or ``None``.
    notes_role : str
        ``"prf:ref"`` for a statement block of the notes page, ``"ref"`` for a section.
    pending : bool
        The chapter that checks it is not in the book yet: a missing record does not fail the build.
    paper : bool
        ``True`` for a numbered item of [CLC], ``False`` for a related result.
    """

    result: str
    statement: str
    how: str
    test: str
    chapters: tuple[str, ...]
    checkable: bool = True
    section: str | None = None
    notes: str | None = None
    notes_role: str = "prf:ref"
    pending: bool = False
    paper: bool = True


def _notes(result: str) -> str:
    """Notes label of a numbered result: ``"Lemma 3.2 (ii)"`` -> ``"notes-lemma-3-2"``."""
    base = re.sub(r"\s*\([ivx]+\)$", "", result)
    return "notes-" + "-".join(re.findall(r"[a-z0-9]+", base.lower()))


def _item(result: str, statement: str, how: str, test: str, chapters, **kw) -> LedgerItem:
    kw.setdefault("notes", _notes(result))
    return LedgerItem(result, statement, how, test, tuple(_CH[c] for c in chapters), **kw)


_HYPOTHESIS = "not numerically checkable: a hypothesis on the data, not a result; enforced as input validation by "
_T_CHECK_DATA = "tests/test_model.py::test_check_data_errors_name_the_problem"

ITEMS: tuple[LedgerItem, ...] = (
    _item(
        "Assumption 1",
        "m ≥ d_x ≥ d_y, and every hidden width is at least d_y (dimension condition)",
        _HYPOTHESIS + "`dlnlib.check_data` (ValueError naming Assumption 1)",
        _T_CHECK_DATA,
        [1],
        checkable=False,
        section="ch01-assumptions",
    ),
    _item(
        "Assumption 2",
        "X and Y have full row rank",
        _HYPOTHESIS + "`dlnlib.check_data` and the flow integrators (ValueError naming Assumption 2)",
        _T_CHECK_DATA,
        [1],
        checkable=False,
        section="ch01-assumptions",
    ),
    _item(
        "Assumption 3",
        "the reduced target has distinct singular values",
        _HYPOTHESIS + "`dlnlib.check_data`; `ovf_experiment` accepts repeated values only with "
        "`allow_degenerate=True` (chapter 7)",
        _T_CHECK_DATA,
        [1],
        checkable=False,
        section="ch01-assumptions",
    ),
    _item(
        "Assumption 4",
        "(one hidden layer) distinct sets of singular values give distinct critical values",
        "not numerically checkable: a hypothesis on the data (generic); chapter 4 reports the smallest gap "
        "between the critical values of its data, and `limit_critical_value` leaves a limit unresolved when "
        "two values coincide",
        "tests/test_critical.py::test_critical_values_merge_duplicates",
        [4],
        checkable=False,
        section="ch04-critical-values",
    ),
    _item(
        "Definition 2.1",
        "the GDD is the gradient flow dW/dt = −∇L(W) for the Frobenius metric; its critical points are the zeros of ∇L",
        "not numerically checkable: a definition; its implementation (`dlnlib.gradient`, "
        "`dlnlib.gradient_flow`) is tested against finite differences",
        "tests/test_model.py::test_gradient_matches_central_finite_differences",
        [2],
        checkable=False,
        section="ch02-lemma-2-3",
    ),
    _item(
        "Definition 4.1",
        "normal hyperbolicity: an invariant manifold whose normal directions split into "
        "stable and unstable bundles that contract or expand faster than along the manifold",
        "not numerically checkable: a definition; chapter 6 computes the splitting T C ⊕ E^s ⊕ E^u it asks "
        "for with `dlnlib.geometry.stable_unstable_dimensions` (Proposition 5)",
        "tests/test_geometry.py::test_formula_equals_tangent_and_kernel_dimension",
        [6],
        checkable=False,
        section="ch06-strata",
    ),
    _item(
        "Theorem 2.2",
        "Łojasiewicz: a bounded trajectory of an analytic gradient flow converges to a single "
        "critical point, at a guaranteed rate",
        "numerical test: the Łojasiewicz exponent θ fitted along flows (exponential regime θ = 1/2, degenerate "
        "minimum and non-strict saddle) against the local expansion, to 0.02 in θ and "
        "5 % in the rate",
        "tests/test_rates.py::test_flow_matches_predicted_exponents",
        [11],
    ),
    _item(
        "Lemma 2.3",
        "along the flow the invariants C_i = W_{i+1}ᵀW_{i+1} − W_iW_iᵀ are constant",
        "numerical test: drift of the C_i along the flow relative to max‖W_i(0)‖², tolerance 1e-8",
        "tests/test_dynamics.py::test_flow_conserves_invariants_and_decreases_loss",
        [2, 6],
    ),
    _item(
        "Lemma 2.4",
        "‖W_{N:1}‖² lies between two polynomials of degree N in ‖W_1‖² whose coefficients "
        "depend only on the invariants",
        "numerical test of the explicit sandwich at every snapshot, relative tolerance 1e-10",
        "tests/test_convergence.py::test_lemma24_sandwich_and_power_trace_on_random_weights",
        [3],
    ),
    _item(
        "Lemma 3.1",
        "critical points satisfy W_{N:i+1}ᵀ (W_{N:1}X − Y) Xᵀ W_{i−1:1}ᵀ = 0 for every i",
        "numerical test: the equations hold at one constructed point per index set S, relative tolerance 1e-10",
        "tests/test_critical.py::test_constructed_points_are_critical",
        [4],
    ),
    _item(
        "Lemma 3.2 (i)",
        "at a critical point the end-to-end map is U_S U_Sᵀ Σ_YX Σ_XX⁻¹ for an index set S with |S| = rank ≤ r_max",
        "numerical test: constructed points to 1e-10; gradient-flow limits identified to 1e-4",
        "tests/test_critical.py::test_limit_critical_value_identifies_every_set",
        [4],
    ),
    _item(
        "Lemma 3.2 (ii)",
        "after a permutation putting S first, the rows of W_{N:2} outside S vanish and its S rows have rank |S|",
        "numerical test: the blocks the lemma sets to zero vanish to 1e-10 (relative) at random critical points of "
        "every admissible S, filling and non-filling; the same measurement fails at random weights",
        "tests/test_lemma32.py::test_random_critical_points_have_the_block_form",
        [4],
    ),
    _item(
        "Lemma 3.2 (iii)",
        "the columns of W_{N−1:1} at the indices outside S vanish, its S columns have rank |S|, rank W_{N−1:2} ≥ |S|",
        "numerical test: the column blocks and the ranks (rank Z' = |S|, rank of the middle product ≥ |S|) "
        "at the same random critical points, tolerance 1e-10",
        "tests/test_lemma32.py::test_zero_point_and_tight_point",
        [4],
    ),
    _item(
        "Lemma 3.2 (iv)",
        "the critical values are c + ½ Σ_{i∉S} s_i², a finite set",
        "numerical test: loss at constructed points to 1e-10; final losses of gradient-flow runs to 1e-6",
        "tests/test_critical.py::test_critical_values_brute_force_tiny",
        [4],
    ),
    _item(
        "Proposition 1",
        "every gradient-flow trajectory is bounded and converges to a critical point",
        "numerical test over many flows: weight norm bounded, gradient below the stopping tolerance",
        "tests/test_dynamics.py::test_flow_stops_when_converged_and_at_critical_point",
        [3],
    ),
    _item(
        "Proposition 2",
        "pyramidal widths and invariants with enough positive eigenvalues give L̄(t) ≤ L̄(0) e^{−2κt}",
        "numerical test of the bound along certified flows (excess < 1e-6 "
        "decades) and a control that must violate the naive rate",
        "tests/test_convergence.py::test_prop2_bound_holds_along_the_reduced_flow",
        [3],
        notes="notes-proposition-2",
    ),
    _item(
        "Proposition 3",
        "the first and second variations of L (gradient and Hessian quadratic form)",
        "numerical test: closed-form Hessian against central finite differences (1e-6) and the direct formula "
        "(1e-10); the cubic term along non-strict directions",
        "tests/test_prop3_line.py::test_second_variation_and_line_polynomial",
        [5],
    ),
    _item(
        "Proposition 4",
        "every local minimum is global, no local maximum; N = 2: all saddles strict; N ≥ 3: "
        "non-strict saddles exist; rank(W_{N−1}⋯W_2) > |S| forces a negative eigenvalue",
        "exact inertia counts at constructed critical points; multistart search for the square loss",
        "tests/test_hessian.py::test_depth_three_non_strict_and_strict_saddles_same_set",
        [5, 6, 9],
    ),
    _item(
        "Proposition 5",
        "(one hidden layer) each critical stratum is a submanifold of dimension (27), its "
        "tangent space is the Hessian kernel, and (28) splits the space",
        "exact integer counts: formula (27) = numerical tangent dimension = dim ker Hessian, n₋ = (28)",
        "tests/test_geometry.py::test_formula_equals_tangent_and_kernel_dimension",
        [6, 10],
    ),
    _item(
        "Theorem 4.2",
        "Hirsch–Pugh–Shub: the local stable and unstable manifolds of a normally hyperbolic "
        "manifold are smooth, of the dimensions of the stable and unstable bundles",
        "numerical test: the codimension of W^s (number of expanding flow directions) equals n₋ at every saddle "
        "stratum of chapter 10; convergence on W^s and escape off it at the Hessian rates (relative error < 1e-2)",
        "tests/test_manifolds.py::test_expanding_directions_count_is_codimension",
        [6, 10],
    ),
    _item(
        "Conjecture 1",
        "(OVF) for almost every data and initialization the flow converges to a global minimum",
        "Monte Carlo: fraction of runs at a global minimum with a 95 % Wilson interval (consistent with an "
        "almost-everywhere statement, never a proof)",
        "tests/test_experiments.py::test_negative_control_is_classified_as_saddle",
        [7],
    ),
    _item(
        "Remark 1",
        "Assumptions 1 and 2 are mild: rank-deficient data reduce to a smaller problem that satisfies them",
        "numerical test: the end-to-end trajectories of the rank-deficient problem and of its "
        "reduction coincide (chapter 11)",
        "tests/test_relu_remarks.py::test_remark1_rank_deficient_flow_is_the_reduced_flow",
        [11],
    ),
    _item(
        "Remark 2",
        "the argument extends to descent directions satisfying an angle condition (SGD, momentum, Adam)",
        "illustration: SGD, heavy ball and Adam runs: invariant drift, boundedness, limits against the "
        "critical values, and the angle between the step and −∇L (chapter 11)",
        "tests/test_optimizers.py::test_sgd_full_batch_is_gradient_descent",
        [11],
    ),
    _item(
        "Remark 3",
        "Lemma 2.3 holds for any loss of the end-to-end map",
        "numerical test: invariants along the flow of softmax cross-entropy (± weight decay on the product) and "
        "per-neuron balances of ReLU networks (chapter 11)",
        "tests/test_relu_remarks.py::test_composite_flow_invariants",
        [11],
    ),
    _item(
        "Remark 4",
        "the hypothesis of Proposition 2 holds on large sets: W_1 small, later layers large",
        "illustration: initializations drawn as the remark suggests are certified",
        "tests/test_convergence.py::test_remark4_weights_errors",
        [3],
    ),
    _item(
        "Remark 5",
        "the global minimum is the least-squares map W_LS = Σ_YX Σ_XX⁻¹ with loss c",
        "numerical test: W_LS maps to Σ̄ with loss c to 1e-9; learned maps within 1e-5 of the optimum",
        "tests/test_model.py::test_least_squares_and_constant",
        [1, 7],
    ),
    _item(
        "Remark 6",
        "the rank condition of Proposition 4 is weaker than Kawaguchi's and already forces a "
        "negative Hessian eigenvalue at a saddle",
        "illustration: every random saddle with rank(W_{N−1}⋯W_2) > |S| has n₋ > 0",
        "tests/test_landscape.py::test_middle_rank_makes_saddles_strict",
        [5],
    ),
    _item(
        "Remark 7",
        "Proposition 5 also holds on the stratum its proof sets aside (read here as r = 0, through the origin)",
        "exact integer counts on the r = 0 strata, as for Proposition 5",
        "tests/test_geometry.py::test_formula_special_cases",
        [6],
    ),
    _item(
        "Figure 1",
        "the network: layers d_0, …, d_N and weights W_1, …, W_N",
        "illustration: drawn from the widths by `dlnlib.companion.figures.draw_network`",
        "tests/test_companion.py::test_draw_network_from_dims",
        [10],
        notes=None,
    ),
    _item(
        "Figure 2",
        "the landscape of the loss: critical values stratified by rank",
        "illustration: computed critical values against n₋ per stratum (chapter 10); shown only if every saddle "
        "has n₋ > 0 and every minimum none",
        "tests/test_critical.py::test_critical_index_sets_sorted_and_flags",
        [10],
        notes=None,
    ),
    _item(
        "Figure 3",
        "the local stable and unstable manifolds of a critical manifold",
        "illustration: orbits on the computed W^s and W^u of a stratum (chapter 10)",
        "tests/test_manifolds.py::test_portrait_geometry",
        [10],
        notes=None,
    ),
    _item(
        "Figure 4",
        "trajectories near a saddle manifold approach it at an exponential rate, then leave",
        "illustration: distance to the stratum along W^s runs with the predicted slopes (chapter 10)",
        "tests/test_manifolds.py::test_shooting_builds_points_that_converge",
        [10],
        notes=None,
    ),
    # results the book checks that are not numbered items of [CLC]
    _item(
        "Reduction (2)-(3)",
        "the SVD change of variables of §2.1 turns L into ½‖Σ̄ − W̄_N⋯W̄_1‖² + c",
        "numerical test: loss identity, round trip and singular values to 1e-9 (relative)",
        "tests/test_model.py::test_reduction_round_trip_and_loss_identity",
        [1],
        notes="notes-reduction",
        notes_role="ref",
        paper=False,
    ),
    _item(
        "AMG classification",
        "(Achour–Malgouyres–Gerchinovitz) closed-form inertia at tight critical points; "
        "non-top index sets are strict saddles",
        "exact inertia counts against the closed form",
        "tests/test_hessian.py::test_deep_tight_inertia_formula",
        [5],
        notes="notes-amg-classification",
        paper=False,
    ),
    _item(
        "NRT step-size theorem",
        "(Nguegnang–Rauhut–Terstiege) below the step-size bound, gradient descent "
        "from a nearly balanced start does not increase the loss",
        "numerical test on instances: loss non-increasing and ‖W_{N:1}‖ ≤ M at 0.9 × bound; first divergence "
        "far above the bound",
        "tests/test_stepsize.py::test_report_instance_bound_and_norm_along_gd",
        [8],
        notes="notes-nrt-theorem",
        paper=False,
    ),
    _item(
        "TKB pure/spurious",
        "(Trager–Kohn–Bruna) a non-filling architecture with a convex non-quadratic loss "
        "can have a bad local minimum; square-loss critical points of maximal rank are pure",
        "certified local minimum (gradient, Hessian modulo symmetry); classification of every square-loss "
        "critical point",
        "tests/test_losses.py::test_bad_local_minimum_of_non_filling_log_cosh",
        [9],
        notes="notes-tkb-pure-spurious",
        paper=False,
    ),
)
"""Every row of the ledger, in the paper's order (related results last)."""


@dataclass(frozen=True)
class LedgerRow:
    """A ledger row: the fixed item and its computed status.

    Attributes
    ----------
    item : LedgerItem
        The fixed part.
    status : str
        One of :data:`STATUSES`.
    records : tuple of dict
        The chapters' records of this result (``chapter``, ``section``, ``status``, ``figure``, ``how``).
    """

    item: LedgerItem
    status: str
    records: tuple[dict, ...] = field(default=())

    @property
    def result(self) -> str:
        """The result's name."""
        return self.item.result

    @property
    def has_failed_record(self) -> bool:
        """Whether some chapter recorded a failed check of this result."""
        return any(r.get("status") == "failed" for r in self.records)

    @property
    def where(self) -> str:
        """Chapter and section of each record (or the expected place), e.g. ``"ch02_invariants § ch02-lemma-2-3"``."""
        if self.records:
            return "; ".join(f"{r['chapter']} § {r['section'] or _chapter_label(r['chapter'])}" for r in self.records)
        place = self.item.chapters[0]
        return f"{place} § {self.item.section or _chapter_label(place)}"

    @property
    def figure(self) -> str | None:
        """The measured figures of the records (``"; "``-joined), or ``None``."""
        figs = [f"{r['figure']}" for r in self.records if r.get("figure") is not None]
        if not figs:
            return None
        if len(self.records) > 1:
            figs = [f"{r['chapter'][:4]}: {r['figure']}" for r in self.records if r.get("figure") is not None]
        return "; ".join(figs)

    @property
    def how(self) -> str:
        """How the chapters checked it (their own words), else the item's description."""
        hows = [r["how"] for r in self.records if r.get("how")]
        return "; ".join(hows) if hows else self.item.how


def _chapter_label(chapter: str) -> str:
    return chapter.split("_")[0]


def collect_records(root: Path) -> dict[str, list[dict]]:
    """The ledger records glued by the executed chapters, by result name.

    Parameters
    ----------
    root : pathlib.Path
        Repository root (reads ``book/chapters/ch*.ipynb``).

    Returns
    -------
    dict of str to list of dict
        For each recorded result, its records in chapter order.
    """
    from .report import glued_text

    out: dict[str, list[dict]] = {}
    for nb_path in sorted((Path(root) / EXECUTED_DIR).glob("ch*.ipynb")):
        nb = json.loads(nb_path.read_text(encoding="utf-8"))
        for key, text in glued_text(nb).items():
            if key.startswith(f"{nb_path.stem}-ledger-"):
                rec = json.loads(text)
                out.setdefault(rec["result"], []).append(rec)
    return out


def _status(item: LedgerItem, records: list[dict]) -> str:
    if any(r.get("status") == "failed" for r in records):
        return "failed"
    if not item.checkable:
        return "not_checkable"
    if not records:
        return "failed"
    return "verified" if any(r.get("status") == "verified" for r in records) else "illustrated"


def ledger_rows(records: dict[str, list[dict]]) -> list[LedgerRow]:
    """Every row of :data:`ITEMS` with its status computed from ``records``.

    Parameters
    ----------
    records : dict of str to list of dict
        Records by result name (:func:`collect_records`).

    Returns
    -------
    list of LedgerRow
        One per item, in the order of :data:`ITEMS`.
    """
    return [LedgerRow(it, _status(it, records.get(it.result, [])), tuple(records.get(it.result, []))) for it in ITEMS]


def build_problems(rows: list[LedgerRow], records: dict[str, list[dict]] | None = None) -> list[str]:
    """What must fail the book build: failed rows that are not pending, failed records, unknown results.

    Parameters
    ----------
    rows : list of LedgerRow
        The ledger (:func:`ledger_rows`).
    records : dict or None, optional
        The records (:func:`collect_records`), to report records of results the ledger does not know.

    Returns
    -------
    list of str
        One message per problem (empty when the build may pass).
    """
    problems = []
    for row in rows:
        if row.has_failed_record:
            chapters = ", ".join(r["chapter"] for r in row.records if r.get("status") == "failed")
            problems.append(f"Results ledger: {row.result} failed its check in {chapters}")
        elif row.status == "failed" and not row.item.pending:
            problems.append(f"Results ledger: {row.result} has no record (expected from {row.item.chapters[0]})")
    known = {it.result for it in ITEMS}
    for name, recs in sorted((records or {}).items()):
        if name not in known:
            chapters = ", ".join(r["chapter"] for r in recs)
            problems.append(f"Results ledger: {chapters} recorded {name!r}, which is not a row of the ledger")
    return problems


def ledger_json(rows: list[LedgerRow]) -> list[dict]:
    """The ledger as JSON-ready objects with keys ``result``, ``status``, ``where``, ``check``, ``figure``.

    Parameters
    ----------
    rows : list of LedgerRow
        The ledger.

    Returns
    -------
    list of dict
        One object per row; ``check`` is the guarding test's node id, ``figure`` the measured number
        as a string or ``None``.
    """
    return [dict(result=r.result, status=r.status, where=r.where, check=r.item.test, figure=r.figure) for r in rows]


def format_table(rows: list[LedgerRow], *, verbose: bool = False) -> str:
    """The ledger as a plain-text table for the terminal.

    Parameters
    ----------
    rows : list of LedgerRow
        The ledger.
    verbose : bool, optional
        Keyword-only. Under each row, also print the statement, how it was checked and the test
        (the other columns of the book's page).

    Returns
    -------
    str
        One line per row (result, status, where, measured figure), then the counts per status.
    """
    head = ("result", "status", "where", "figure")
    cells = [
        (r.result + (" (pending)" if r.item.pending and not r.records else ""), r.status, r.where, r.figure or "–")
        for r in rows
    ]
    widths = [max(len(c[k]) for c in [head, *cells]) for k in range(3)]
    lines = ["  ".join(c[k].ljust(widths[k]) for k in range(3)) + "  " + c[3] for c in [head, *cells]]
    if verbose:
        for k, r in reversed(list(enumerate(rows, start=1))):
            lines[k + 1 : k + 1] = [
                f"    statement: {r.item.statement}",
                f"    how:       {r.how}",
                f"    test:      {r.item.test}",
            ]
    lines.insert(1, "-" * (sum(widths) + 6 + 6))
    counts = {s: sum(r.status == s for r in rows) for s in STATUSES}
    lines.append("")
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items()) + f" ({len(rows)} rows)")
    return "\n".join(lines)


def _md(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


_STATUS_MD = {
    "verified": "verified",
    "illustrated": "illustrated",
    "not_checkable": "not checkable",
    "failed": "**FAILED**",
}


def _result_cell(item: LedgerItem) -> str:
    if item.notes is None:
        return _md(item.result)
    if item.notes_role == "ref":
        return f"{{ref}}`{_md(item.result)} <{item.notes}>`"
    return f"{{prf:ref}}`{_md(item.result)} <{item.notes}>`"


def _where_cell(row: LedgerRow) -> str:
    if row.records:
        return "<br>".join(
            f"{_chapter_label(r['chapter'])}: {{ref}}`{r['section'] or _chapter_label(r['chapter'])}`"
            for r in row.records
        )
    if row.item.pending:
        return f"not yet in the book ({row.item.chapters[0]})"
    place = row.item.chapters[0]
    return f"{_chapter_label(place)}: {{ref}}`{row.item.section or _chapter_label(place)}`"


def _markdown_rows(rows: list[LedgerRow]) -> list[str]:
    lines = ["| result | statement | where | how | measured | test | status |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        status = _STATUS_MD[r.status] + (" (pending)" if r.item.pending and r.status == "failed" else "")
        lines.append(
            f"| {_result_cell(r.item)} | {_md(r.item.statement)} | {_where_cell(r)} | {_md(r.how)} | "
            f"{_md(r.figure) if r.figure else '–'} | `{r.item.test}` | {status} |"
        )
    return lines


def write_ledger_page(root: Path, out: Path) -> list[LedgerRow]:
    """Write ``ledger.md``, the book's Results ledger page, from the executed chapters.

    Parameters
    ----------
    root : pathlib.Path
        Repository root (see :func:`collect_records`).
    out : pathlib.Path
        Output markdown file.

    Returns
    -------
    list of LedgerRow
        The rows written.
    """
    records = collect_records(root)
    rows = ledger_rows(records)
    counts = {s: sum(r.status == s for r in rows) for s in STATUSES}
    paper = [r for r in rows if r.item.paper]
    lines = [
        "(ledger)=",
        "# Results ledger",
        "",
        "One row per numbered item of {cite:t}`chitour2023geometric` (then the related results the book "
        "checks): the statement in a few words, the section that checks it, how, the measured figure, the test "
        "in `tests/` that guards the code it relies on, and the status. The status is computed when the book is "
        "built from the records each chapter glues (`Chapter.record`): *verified* (a numerical check passed), "
        "*illustrated* (an illustration or a Monte Carlo experiment consistent with the statement), *not "
        "checkable* (a hypothesis or a definition: the row says what enforces it), or *failed* (a check failed, "
        "or no chapter recorded it). A failed check fails the build. *Pending* rows belong to chapters not yet "
        "in the book. The same table prints in a terminal with `python -m dlnlib ledger` (`--json` for a "
        "machine-readable list).",
        "",
        f"Status of the {len(rows)} rows: "
        + ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in counts.items() if n)
        + f" ({len(paper)} numbered items of the paper).",
        "",
        *_markdown_rows(paper),
        "",
        "## Related results checked by the book",
        "",
        *_markdown_rows([r for r in rows if not r.item.paper]),
    ]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return rows


def run_cli(root: Path, *, as_json: bool = False, verbose: bool = False) -> tuple[str, int]:
    """The ``ledger`` command: the table (or JSON) and the exit status.

    Parameters
    ----------
    root : pathlib.Path
        Repository root.
    as_json : bool, optional
        Keyword-only. Print the JSON list instead of the table.
    verbose : bool, optional
        Keyword-only. Table with the statement, how and test of every row (:func:`format_table`).

    Returns
    -------
    text : str
        What to print.
    status : int
        1 if the ledger would fail the book build (:func:`build_problems`), else 0.
    """
    records = collect_records(root)
    rows = ledger_rows(records)
    problems = build_problems(rows, records)
    if as_json:
        text = json.dumps(ledger_json(rows), indent=2, ensure_ascii=False)
    else:
        text = format_table(rows, verbose=verbose)
    if problems and not as_json:
        text += "\n" + "\n".join(problems)
    return text, int(bool(problems))

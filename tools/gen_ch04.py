"""Generate book/src/ch04_critical.ipynb (run from the repository root: python tools/gen_ch04.py)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tools.nbgen import write  # noqa: E402


def set_markdown_output_format(path):
    """Render the chapter's text/markdown outputs (tables) with the MyST parser instead of CommonMark."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nb.metadata["mystnb"] = {"render_markdown_format": "myst"}
    nbformat.write(nb, path)


cells = [
("md", r"""
(ch04)=
# Critical points and critical values

**Paper:** {cite:t}`chitour2023geometric`, Lemma 3.1 and Lemma 3.2 (critical points and the finite set of critical
values), with the non-filling case of {cite:t}`achour2024loss` and the plateaus of {cite:t}`saxe2014exact`.
**Statement reproduced:** every critical point has end-to-end map $U_SU_S^\T\Sigma_{YX}\Sigma_{XX}^{-1}$ for an index
set $S$ with $|S|\le r_{\max}$, and loss $c + \tfrac12\sum_{i\notin S}s_i^2$; hence the loss takes finitely many
critical values, every gradient-flow run ends exactly on one of them, and a run from a small initialization lingers at
the values of the top sets $\emptyset, \{1\}, \{1,2\}, \dots$ on its way down. **Verdict:** the numbers below
{glue}`ch04_critical-verdict` the statement.
"""),
("params", r"""
# Parameters (papermill): rerun with `python -m dlnlib run ch04 -p name value`
seed = 0
dims = [5, 4, 4, 4]  # widths (d_0, ..., d_N)
n_samples = 200
target_singular_values = [3.0, 2.2, 1.5, 0.8]  # singular values of the noiseless target map (d_y of them)
noise = 0.05
n_runs = 40  # gradient-flow runs; the second half starts on invariant sets
t_max = 300.0
small_init = 0.01  # scale of the small initialization (saddle-to-saddle run)
plateau_t_max = 1200.0
"""),
("code", r"""
import numpy as np

import dlnlib
from dlnlib.landscape import drop_directions, format_index_set, plateaus
from dlnlib.plotting import Chapter

ch = Chapter("ch04_critical", seed=seed, dims=dims, n_samples=n_samples,
             target_singular_values=target_singular_values, noise=noise, n_runs=n_runs, t_max=t_max,
             small_init=small_init, plateau_t_max=plateau_t_max)
rng = np.random.default_rng(seed)
"""),
("md", r"""
## The finite set of critical values

The data: $X\in\R^{d_x\times m}$ with independent $N(0, 1/m)$ entries (so $XX^\T\approx I$ but not equal), and
$Y = QAX + \text{noise}$ with $A = [\diag(a)\;0]$, $a$ = `target_singular_values` and $Q$ a random rotation. The
singular values $s_1>\dots>s_{d_y}$ of the reduced target $\Sigma_{YX}\Sigma_{XX}^{-1/2}$ (chapter {ref}`ch01`) are
close to $a$.

:::{prf:lemma} Lemma 3.2 of {cite:t}`chitour2023geometric` (with {cite:t}`achour2024loss` for $r_{\max}<d_y$)
:label: lem-ch04-critical-values

Under Assumptions 1–3, let $\Sigma_{YX}\Sigma_{XX}^{-1}\Sigma_{XY} = U\diag(s_1^2,\dots,s_{d_y}^2)U^\T$. Every critical
point $W$ has an index set $S\subset\{1,\dots,d_y\}$ with $|S| = \rank W_{N:1}\le r_{\max} = \min_i d_i$ such that

```{math}
:label: eq-ch04-critical
W_{N:1} = U_SU_S^\T\,\Sigma_{YX}\Sigma_{XX}^{-1}, \qquad \L(W) = c + \tfrac12\sum_{i\notin S} s_i^2 ,
```

where criticality means $W_{N:i+1}^\T(W_{N:1}X-Y)X^\T W_{i-1:1}^\T = 0$ for every $i$ (Lemma 3.1). The critical
values are the numbers {eq}`eq-ch04-critical` over admissible $S$; the smallest, at $S = \{1,\dots,r_{\max}\}$, is the
global minimum.
:::

`dlnlib.critical_index_sets` enumerates the admissible $S$ with their values and `dlnlib.critical_point` builds, for
each $S$, an explicit critical point on a random point of its critical manifold (MATH.md §6). We check that the
gradient vanishes there and that the loss equals the predicted value.
"""),
("code", r"""
d_x, d_y = dims[0], dims[-1]
X = rng.standard_normal((d_x, n_samples)) / np.sqrt(n_samples)
A = np.zeros((d_y, d_x))
A[:, :d_y] = np.diag(target_singular_values)
Q = np.linalg.qr(rng.standard_normal((d_y, d_y)))[0]
Y = Q @ A @ X + noise * rng.standard_normal((d_y, n_samples)) / np.sqrt(n_samples)
red = dlnlib.reduce_data(X, Y)
sets = dlnlib.critical_index_sets(X, Y, dims)
values = dlnlib.critical_values(X, Y, dims)

points = [dlnlib.critical_point(X, Y, dims, cs.index_set, rng=rng) for cs in sets]
value_err = max(abs(dlnlib.loss(w, X, Y) - cs.value) / cs.value for w, cs in zip(points, sets))
grad_rel = max(np.sqrt(sum(np.sum(g * g) for g in dlnlib.gradient(w, X, Y))) / np.linalg.norm(Y @ X.T)
               for w in points)
W_ls = dlnlib.least_squares(X, Y)
U = red.U_Y
prod_err = max(np.abs(dlnlib.end_to_end(w) - U[:, cs.index_set] @ U[:, cs.index_set].T @ W_ls).max()
               for w, cs in zip(points, sets))
gmin = next(cs for cs in sets if cs.is_global_minimum)

ch.glue("n-sets", len(sets))
ch.glue("n-values", len(values))
ch.glue("value-err", value_err, "{:.1e}")
ch.glue("grad-rel", grad_rel, "{:.1e}")
ch.glue("prod-err", prod_err, "{:.1e}")
ch.glue("s", ", ".join(f"{v:.3f}" for v in red.singular_values), "{}")
ch.glue("c", red.constant, "{:.4f}")
ch.glue("global-min", gmin.value, "{:.4f}")
ch.glue("min-gap", float(np.min(np.diff(values))), "{:.3f}")
print(f"s = {np.round(red.singular_values, 4)}, c = {red.constant:.4f}")
print(f"{len(sets)} admissible index sets, {len(values)} distinct critical values")
print(f"max relative |L - value| = {value_err:.1e}, max relative gradient = {grad_rel:.1e}, "
      f"max |W_N:1 - U_S U_S^T W_LS| = {prod_err:.1e}")
"""),
("code", r"""
fig, ax = ch.subplots(figsize=(7.5, 4.2))
sizes = np.array([cs.rank for cs in sets])
vals = np.array([cs.value for cs in sets])
top = np.array([cs.is_top for cs in sets])
ax.scatter(sizes[~top], vals[~top], s=28, color="C0", label="saddle, $S$ not top", zorder=3)
ax.scatter(sizes[top], vals[top], s=36, color="C1", label=r"saddle, top $S=\{1,\dots,r\}$", zorder=3)
ax.plot(sizes[top], vals[top], color="C1", lw=1, ls="--", zorder=2)
ax.scatter([gmin.rank], [gmin.value], s=180, marker="*", color="C3", label="global minimum", zorder=4)
for cs in sets:
    ax.annotate(format_index_set(cs.index_set), (cs.rank, cs.value), xytext=(6, -3), textcoords="offset points",
                fontsize=7)
ax.set_xticks(range(min(dims) + 1))
ax.set_xlim(-0.3, min(dims) + 0.7)
ax.set_xlabel(r"$|S| = \operatorname{rank} W_{N:1}$")
ax.set_ylabel(r"critical value $c + \frac{1}{2}\sum_{i\notin S} s_i^2$")
ax.legend(loc="upper right", fontsize=8)
ch.save(fig, "values");
"""),
("md", r"""
```{glue:figure} ch04_critical-values
:name: fig-ch04-values

The {glue}`ch04_critical-n-values` critical values of the loss, one per admissible index set $S$ (labels in the
paper's 1-based numbering), against $|S|$. Top sets $\{1,\dots,r\}$ (orange, dashed) are the lowest value at each rank;
the star is the global minimum, {glue}`ch04_critical-global-min`. Singular values $s$ = ({glue}`ch04_critical-s`),
constant $c$ = {glue}`ch04_critical-c`.
```

The {glue}`ch04_critical-n-sets` admissible index sets give {glue}`ch04_critical-n-values` distinct critical values
({numref}`fig-ch04-values`; the smallest gap between two of them is {glue}`ch04_critical-min-gap`, so Assumption 4
holds). At the constructed critical points the loss equals {eq}`eq-ch04-critical` to a relative
{glue}`ch04_critical-value-err`, the gradient vanishes to {glue}`ch04_critical-grad-rel` (relative to
$\|\Sigma_{YX}\|_F$), and the end-to-end map is $U_SU_S^\T\Sigma_{YX}\Sigma_{XX}^{-1}$ to
{glue}`ch04_critical-prod-err`.
Removing $s_i$ from $S$ costs $\tfrac12 s_i^2$, so the value depends on which singular values are kept, not only on
how many: a rank-3 saddle that drops $s_1$ lies above rank-2 saddles that keep it.
"""),
("md", r"""
## Every run ends exactly on a critical value

By Proposition 1 of {cite:t}`chitour2023geometric` every gradient-flow trajectory converges to a critical point, so
its final loss must be one of the values above. From generic initializations the limit is the global minimum (the
overfitting conjecture, MATH.md §9), which would show only one value. To reach the others we also start runs on
*invariant sets*: in the reduced coordinates of chapter {ref}`ch01` ($X = I$, $Y = \Sbar$, where the loss is
$\L - c$), zeroing row $i$ of $\Wbar_N$ and column $i$ of $\Wbar_1$ for $i$ in a set $D$ is preserved by the flow,
exactly even in floating point, so the network never learns the directions in $D$ and the flow ends at the best
critical value with $S\cap D=\emptyset$. We run {glue}`ch04_critical-n-runs` flows with
`dlnlib.gradient_flow_batch` (one vectorized Dormand–Prince integration, separate step sizes), half from Gaussian
initializations and half from such restricted ones with random $D$ of size 1 or 2, up to $t$ =
{glue}`ch04_critical-t-max`, and identify each limit with `dlnlib.limit_critical_value`: it reads $S$ off the end-to-end
map and accepts only if the product matches $I_S\Sbar$ to $10^{-4}$ and the loss matches $c_S$ to $10^{-3}$ of the
smallest gap between critical values.
"""),
("code", r"""
Xr, Yr = np.eye(d_x), red.sigma_bar  # the reduced problem (loss = L - c)
drops, inits = [], []
for k, child in enumerate(rng.spawn(n_runs)):
    drop = [] if k < n_runs // 2 else sorted(child.choice(d_y, size=int(child.integers(1, 3)), replace=False).tolist())
    inits.append(drop_directions(red.to_reduced(dlnlib.random_weights(dims, child)), drop))
    drops.append(drop)
batch = [np.stack(layer) for layer in zip(*inits)]
runs = dlnlib.gradient_flow_batch(batch, Xr, Yr, t_max, grad_tol=1e-9)
limits = [dlnlib.limit_critical_value(runs.trajectory_weights(k), Xr, Yr) for k in range(n_runs)]
final = runs.loss[:, -1] + red.constant  # back to the original loss
predicted = [tuple(i for i in range(d_y) if i not in D)[: min(dims)] for D in drops]
resolved = np.array([lim.resolved for lim in limits])
as_predicted = np.array([lim.index_set == p for lim, p in zip(limits, predicted)])
dist_to_value = max(abs(f - (lim.value + red.constant)) / (lim.value + red.constant) for f, lim in zip(final, limits))
n_distinct = len({lim.index_set for lim in limits})

ch.glue("n-runs", n_runs)
ch.glue("t-max", t_max, "{:g}")
ch.glue("frac-resolved", resolved.mean(), "{:.0%}")
ch.glue("frac-predicted", as_predicted.mean(), "{:.0%}")
ch.glue("n-global", sum(lim.is_global_minimum for lim in limits))
ch.glue("n-distinct", n_distinct)
ch.glue("dist-to-value", dist_to_value, "{:.1e}")
ch.glue("n-converged", int(np.sum(runs.status == 1)))
print(runs.message)
print(f"resolved {resolved.sum()}/{n_runs}, index set as predicted {as_predicted.sum()}/{n_runs}, "
      f"{n_distinct} distinct limits, max relative |final loss - value| = {dist_to_value:.1e}")
"""),
("code", r"""
fig, ax = ch.subplots(figsize=(7.5, 4.2))
hit = sorted({lim.index_set for lim in limits}, key=lambda S: -dlnlib.critical_value_of(X, Y, S))
for v in values:
    ax.axhline(v, color="0.8", lw=0.7, zorder=1)
hit_values = np.array([dlnlib.critical_value_of(X, Y, S) for S in hit])
label_y = np.log10(hit_values)  # label heights, pushed apart (top down) so that they do not overlap
for k in range(1, len(label_y)):
    label_y[k] = min(label_y[k], label_y[k - 1] - 0.11)
for S, v, ly in zip(hit, hit_values, label_y):
    ax.axhline(v, color="0.45", lw=0.9, zorder=1)
    ax.annotate(format_index_set(S), (n_runs - 0.5, v), xytext=(n_runs + 1.5, 10**ly), textcoords="data",
                fontsize=7, va="center", annotation_clip=False,
                arrowprops=dict(arrowstyle="-", color="0.6", lw=0.5))
idx = np.arange(n_runs)
generic = np.array([len(D) == 0 for D in drops])
ax.scatter(idx[generic], final[generic], s=22, color="C3", label="Gaussian initialization", zorder=3)
ax.scatter(idx[~generic], final[~generic], s=22, color="C0", label="restricted initialization ($D\\neq\\emptyset$)",
           zorder=3)
ax.set_yscale("log")
ax.set_xlabel("run")
ax.set_ylabel(r"final loss $\mathcal{L}(W(t_{\max}))$")
ax.legend(loc="center left", fontsize=8)
ch.save(fig, "runs");
"""),
("md", r"""
```{glue:figure} ch04_critical-runs
:name: fig-ch04-runs

Final losses of {glue}`ch04_critical-n-runs` gradient-flow runs (dots) against all critical values (light lines); the
values reached are darker and labelled with their index set. Red: Gaussian initializations, all at the global
minimum. Blue: initializations on the invariant set that never learns the directions $D$, ending at the saddle value
of the best $S$ avoiding $D$.
```

All runs end on a critical value ({numref}`fig-ch04-runs`): `limit_critical_value` resolves
{glue}`ch04_critical-frac-resolved` of them, the final loss equals the identified value to a relative
{glue}`ch04_critical-dist-to-value`, and the identified set is the predicted one (all indices outside $D$) for
{glue}`ch04_critical-frac-predicted` of the runs; {glue}`ch04_critical-n-global` runs end at the global minimum and
the runs reach {glue}`ch04_critical-n-distinct` distinct critical values in total. ({glue}`ch04_critical-n-converged`
runs also met the stopping rule $\|\nabla\L\|<10^{-9}$ before $t_{\max}$; the others are identified from their
end-to-end map, which is already within the tolerances.)
"""),
("md", r"""
## From saddle to saddle: plateaus of a small initialization

From a small initialization the trajectory starts next to the critical point $W = 0$ ($S=\emptyset$), and
{cite:t}`saxe2014exact` describe the learning curve as a sequence of plateaus separated by quick drops: the
network learns the singular directions one at a time, in decreasing order of $s_i$. In the language of Lemma 3.2, the
trajectory passes near the saddles of the top sets $\emptyset, \{1\}, \{1,2\},\dots$ and the plateaus sit *exactly* at
their critical values. We integrate the flow (reduced coordinates, Gaussian initialization of scale
{glue}`ch04_critical-small-init`) and segment the loss curve with `dlnlib.landscape.plateaus`: a stretch of the curve
belongs to a critical value when it stays within 2% of the gap between that value and its nearest neighbour.
"""),
("code", r"""
w_small = red.to_reduced(dlnlib.random_weights(dims, rng, scale=small_init))
t_grid = np.linspace(0.0, plateau_t_max, 2401)
slow = dlnlib.gradient_flow(w_small, Xr, Yr, plateau_t_max, t_eval=t_grid, grad_tol=None)
sets_r = dlnlib.critical_index_sets(Xr, Yr, dims)
visited = plateaus(slow.loss, sets_r, steps=slow.t, rtol=0.02, min_length=5)
top_chain = [tuple(range(k)) for k in range(min(dims) + 1)]
follows_top = [p.index_set for p in visited] == top_chain[: len(visited)]
for p in visited:
    print(f"S = {format_index_set(p.index_set):14s} value {p.value + red.constant:8.4f}   "
          f"t in [{p.start:6.1f}, {p.stop:6.1f}]   dwell {p.dwell:6.1f}")
ch.glue("small-init", small_init, "{:g}")
ch.glue("plateau-t-max", plateau_t_max, "{:g}")
ch.glue("n-plateaus", len(visited))
ch.glue("visited", " → ".join(format_index_set(p.index_set) for p in visited), "{}")
ch.glue("first-dwell", visited[0].dwell, "{:.0f}")
ch.glue("dwells", ", ".join(f"{p.dwell:.0f}" for p in visited[:-1]), "{}");
"""),
("code", r"""
fig, ax = ch.subplots(figsize=(7.5, 4.0))
for cs in sets_r:
    ax.axhline(cs.value + red.constant, color="C1" if cs.is_top else "0.85", lw=0.9 if cs.is_top else 0.6, zorder=1)
ax.plot(slow.t, slow.loss + red.constant, color="C0", zorder=3, label=r"$\mathcal{L}(W(t))$")
for p in visited:
    ax.plot([p.start, p.stop], [p.value + red.constant] * 2, color="C3", lw=4, alpha=0.5, zorder=2)
    ax.annotate(format_index_set(p.index_set), ((p.start + p.stop) / 2, p.value + red.constant),
                xytext=(0, 5), textcoords="offset points", ha="center", fontsize=8)
ax.set_yscale("log")
ax.set_xlabel("$t$")
ax.set_ylabel("loss")
ax.plot([], [], color="C1", lw=0.9, label="critical values of top sets")
ax.plot([], [], color="C3", lw=4, alpha=0.5, label="detected plateaus")
ax.legend(loc="upper right", fontsize=8)
ch.save(fig, "plateaus");
"""),
("md", r"""
```{glue:figure} ch04_critical-plateaus
:name: fig-ch04-plateaus

Loss of the gradient flow from a Gaussian initialization of scale {glue}`ch04_critical-small-init` (blue), with the
critical values of the top sets (orange) and of the other sets (grey). Thick red segments: the plateaus found by
`dlnlib.landscape.plateaus`, labelled by their index set.
```

The run visits, in this order, {glue}`ch04_critical-visited` ({numref}`fig-ch04-plateaus`): the staircase of top sets
of {numref}`fig-ch04-values`, one singular value learned at a time, in decreasing order, ending at the global minimum.
The plateaus before the last one last {glue}`ch04_critical-dwells` time units. The first, at the saddle $W=0$, is set
by the initialization: near $0$ the gradient is of order $\|W\|^{N-1}$, so leaving takes a time of order
$1/(s_1\|W(0)\|^{N-2})$ for depth $N\ge3$; later ones are longer when the next singular value is small. Every plateau
sits at a critical value to within 2% of the gap; the run never lingers at a value of a non-top set (those saddles
have negative curvature directions that the top-down learning order does not approach, chapter {ref}`ch05`).
"""),
("code", r"""
# NBVAL_CHECK_OUTPUT
confirmed = bool(value_err < 1e-10 and grad_rel < 1e-10 and prod_err < 1e-10 and resolved.all()
                 and as_predicted.all() and dist_to_value < 1e-6 and follows_top and len(visited) >= 3)
ch.glue("verdict", "confirm" if confirmed else "do NOT confirm", "{}")
print("critical values, limits and plateaus as predicted by Lemma 3.2:", confirmed)
print("plateau sequence:", [format_index_set(p.index_set) for p in visited])
"""),
]
if __name__ == "__main__":
    write(str(ROOT / "book/src/ch04_critical.ipynb"), cells)
    set_markdown_output_format(ROOT / "book/src/ch04_critical.ipynb")

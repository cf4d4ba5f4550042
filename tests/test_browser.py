"""Open the built book in headless Chromium (Debian's chromium + chromedriver; `make test` installs them).

For every page (chapters, Mathematical notes, Results ledger, Figures, Execution, API): MathJax
typeset the math (no MathJax errors), every image loaded, every internal link and cross-reference
resolves, no MyST role is left as raw text, and the browser console shows no errors. A screenshot of
each chapter, the notes and the ledger is kept in `_build/screenshots/` for inspection.
"""

import functools
import http.server
import re
import shutil
import tempfile
import threading
from pathlib import Path

import pytest

from dlnlib.companion import cli

pytestmark = [pytest.mark.book, pytest.mark.browser]

CHROME_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,2000",
]


@pytest.fixture(scope="module")
def server(html):
    handler = functools.partial(_QuietHandler, directory=str(html))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium")
    chromedriver = shutil.which("chromedriver")
    assert chromium and chromedriver, "Debian packages chromium and chromium-driver are required (make browser-deps)"
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    profile = tempfile.mkdtemp(prefix="dln-chromium-")
    for flag in [*CHROME_FLAGS, f"--user-data-dir={profile}"]:
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(executable_path=chromedriver), options=opts)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _pages(root):
    pages = [
        "index.html",
        "book/intro.html",
        "book/notes.html",
        "book/chapters/ledger.html",
        "book/chapters/figures.html",
        "book/chapters/execution.html",
        "book/api.html",
    ]
    pages += [f"book/chapters/{c.name}.html" for c in cli.list_chapters(root)]
    return pages


def _wait_for_mathjax(driver):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script(
            "return !!(window.MathJax && MathJax.startup && MathJax.startup.promise) || "
            "document.querySelectorAll('.math').length === 0"
        )
    )
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "if (window.MathJax && MathJax.startup && MathJax.startup.promise) {"
        "  MathJax.startup.promise.then(() => done(true)).catch(() => done(false)); } else { done(true); }"
    )
    # typesetting can finish after the startup promise on long pages: poll until every math
    # element holds its rendering (or give up after 20 s and let the assertions report it)
    try:
        WebDriverWait(driver, 20, poll_frequency=0.2).until(
            lambda d: d.execute_script(
                "return Array.from(document.querySelectorAll('.math'))"
                ".every(e => e.querySelector('mjx-container') || e.tagName === 'MJX-CONTAINER')"
            )
        )
    except TimeoutException:
        pass


def _render_problems(driver, page):
    """Math not typeset or in error, images not loaded, unresolved references on the open page."""
    problems = []
    n_math = driver.execute_script("return document.querySelectorAll('.math').length")
    n_typeset = driver.execute_script("return document.querySelectorAll('mjx-container').length")
    n_errors = driver.execute_script("return document.querySelectorAll('mjx-merror, .MathJax_Error').length")
    raw_tex = driver.execute_script(
        "return Array.from(document.querySelectorAll('.math')).filter(e => !e.querySelector('mjx-container'))"
        ".map(e => e.textContent.slice(0, 60))"
    )
    if n_math and n_typeset < n_math:
        problems.append(f"{page}: {n_typeset} typeset of {n_math} math elements; raw: {raw_tex[:3]}")
    if n_errors:
        problems.append(f"{page}: {n_errors} MathJax errors")
    broken_imgs = driver.execute_script(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
    )
    if broken_imgs:
        problems.append(f"{page}: images not loaded: {broken_imgs}")
    bad_refs = driver.execute_script(
        "return Array.from(document.querySelectorAll('span.xref, .problematic, a.reference.internal'))"
        ".filter(a => a.classList.contains('problematic') || (a.tagName === 'SPAN' && a.closest('a') === null))"
        ".map(a => a.textContent)"
    )
    if bad_refs:
        problems.append(f"{page}: unresolved references: {bad_refs[:5]}")
    raw_roles = driver.execute_script(
        "const m = (document.querySelector('main') || document.body).cloneNode(true);"
        "m.querySelectorAll('code, pre, .highlight').forEach(e => e.remove());"  # quoted syntax is fine
        "const t = m.textContent;"
        "return t.match(/\\{(prf:ref|ref|numref|eq|cite(:t|:p)?|glue(:text)?)\\}`[^`]*`?/g) || [];"
    )
    if raw_roles:
        problems.append(f"{page}: MyST roles left as raw text: {raw_roles[:5]}")
    return problems


def test_pages_render_math_images_links_without_console_errors(root, server, driver):
    from selenium.webdriver.support.ui import WebDriverWait

    shots = root / "_build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    problems = []
    for page in _pages(root):
        driver.get(f"{server}/{page}")
        if page == "index.html":  # a redirect to the root document: follow it, then check only the console
            WebDriverWait(driver, 30).until(lambda d: d.current_url.endswith("intro.html"))
        _wait_for_mathjax(driver)
        if page != "index.html":
            problems += _render_problems(driver, page)
        severe = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        if severe:
            problems.append(f"{page}: console errors: {severe[:3]}")
        if page.startswith("book/chapters/ch") or page in ("book/notes.html", "book/chapters/ledger.html"):
            driver.save_screenshot(str(shots / (Path(page).stem + ".png")))
    assert not problems, "\n".join(problems)


def test_site_root_serves_favicon(server):
    """Browsers ask for /favicon.ico whatever the page links; a 404 there is a console error."""
    import urllib.request

    with urllib.request.urlopen(f"{server}/favicon.ico") as resp:
        assert resp.status == 200
        assert resp.read(4) == b"\x00\x00\x01\x00"  # ICO magic


def test_internal_links_resolve(root, html, server, driver):
    missing = set()
    for page in _pages(root)[1:]:
        driver.get(f"{server}/{page}")
        hrefs = driver.execute_script(
            "return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"
            ".filter(h => h.startsWith(location.origin))"
        )
        for h in hrefs:
            target = h.split("#")[0].removeprefix(server + "/")
            if target and not (html / target).exists():
                missing.add((page, target))
    assert not missing, sorted(missing)[:10]


def test_a_figure_numref_points_to_its_figure(root, server, driver):
    driver.get(f"{server}/book/chapters/ch01_model.html")
    ok = driver.execute_script(
        "const a = Array.from(document.querySelectorAll('a.reference.internal'))"
        ".find(x => x.getAttribute('href') === '#fig-ch01-reduction');"
        "return !!a && !!document.getElementById('fig-ch01-reduction') && /Fig/.test(a.textContent);"
    )
    assert ok, "the {numref} to fig-ch01-reduction does not resolve to a numbered figure"


def test_ledger_page_lists_every_result_with_a_status_and_links_to_the_notes(root, server, driver):
    from dlnlib.companion import ledger

    driver.get(f"{server}/book/chapters/ledger.html")
    _wait_for_mathjax(driver)
    rows = driver.execute_script(
        "return Array.from(document.querySelectorAll('table tbody tr')).map(tr => ({"
        "  cells: Array.from(tr.cells).map(td => td.innerText.trim()),"
        "  notes: Array.from(tr.cells[0].querySelectorAll('a')).map(a => a.getAttribute('href'))}))"
    )
    assert [r["cells"][0] for r in rows] == [it.result for it in ledger.ITEMS]
    for row, it in zip(rows, ledger.ITEMS):
        assert row["cells"][-1].split()[0].lower() in ("verified", "illustrated", "not", "failed"), row["cells"]
        if it.notes:
            assert row["notes"] and row["notes"][0].split("#")[-1] == it.notes, (it.result, row["notes"])


def test_code_cells_fold_hide_test_markers_wrap_and_figures_say_how_to_reproduce(root, server, driver):
    """Reader view of the code: set-up and plotting cells are folded (myst-nb ``details`` toggles), no
    nbval marker shows anywhere, code lines wrap inside the column at 1280 px, and every chapter figure is
    followed by the command that reproduces it (the chapter id ``dlnlib run`` accepts and the seed)."""
    problems = []
    for c in cli.list_chapters(root):
        chapter_id = c.name.split("_")[0]
        driver.get(f"{server}/book/chapters/{c.name}.html")
        page = driver.execute_script(
            "const main = document.querySelector('main') || document.body;"
            "const figs = Array.from(main.querySelectorAll('figure[id^=\"fig-ch\"]'));"
            "return {"
            "  nbval: document.body.textContent.includes('NBVAL'),"
            "  folded: main.querySelectorAll('div.cell details.hide.above-input').length,"
            "  shown: Array.from(main.querySelectorAll('div.cell div.cell_input'))"
            "    .filter(e => !e.closest('details')).length,"
            "  wide: (main.querySelectorAll('div.cell details').forEach(d => { d.open = true; }),"  # unfold all
            "    Array.from(main.querySelectorAll('div.cell div.cell_input pre, div.cell div.cell_output pre'))"
            "    .filter(p => p.scrollWidth > p.clientWidth + 1).map(p => p.textContent.slice(0, 40))),"
            "  figs: figs.map(f => ({id: f.id, next: f.nextElementSibling && f.nextElementSibling.classList"
            "    .contains('dln-reproduce') ? f.nextElementSibling.textContent : ''}))};"
        )
        if page["nbval"]:
            problems.append(f"{c.name}: 'NBVAL' visible in the page")
        if not page["folded"]:
            problems.append(f"{c.name}: no folded code cell")
        if page["shown"] < 2:  # the parameters cell and at least one computational cell
            problems.append(f"{c.name}: only {page['shown']} code cell(s) shown unfolded")
        if page["wide"]:
            problems.append(f"{c.name}: code lines overflow the column: {page['wide'][:3]}")
        if not page["figs"]:
            problems.append(f"{c.name}: no labelled figure found")
        for fig in page["figs"]:
            want = f"python -m dlnlib run {chapter_id} -p seed "
            if not fig["next"].startswith("Reproduce this figure: ") or want not in fig["next"]:
                problems.append(f"{c.name}: {fig['id']} is not followed by `{want}…` (got {fig['next']!r})")
    for page in _pages(root)[1:]:
        if not page.startswith("book/chapters/ch"):
            driver.get(f"{server}/{page}")
            if driver.execute_script("return document.body.textContent.includes('NBVAL')"):
                problems.append(f"{page}: 'NBVAL' visible in the page")
    assert not problems, "\n".join(problems)


# --- legible figures and pages (issue 12, section 2) ---------------------------------------------

MIN_TEXT_PX = 10.0  # smallest figure text a reader gets on a 1280 px wide page


def _figure_sidecars(root):
    """SHA-256 of each saved figure PNG -> its provenance sidecar (myst-nb names images by hash)."""
    import hashlib
    import json

    sidecars = {}
    for js in sorted((root / "figures").glob("*/*.json")):
        png = js.with_suffix(".png")
        if png.exists():
            sidecars[hashlib.sha256(png.read_bytes()).hexdigest()] = (js.relative_to(root), json.loads(js.read_text()))
    return sidecars


def _chapter_figures(driver):
    """(image file name, rendered width in CSS px) of every figure image on the open page."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('figure img'))"
        ".map(i => [i.getAttribute('src').split('/').pop(), i.getBoundingClientRect().width, i.complete])"
    )


def test_figure_text_renders_at_least_10px_at_1280px(root, server, driver):
    """Rendered px of the smallest text = pt / 72 * (rendered image width / saved image width in inches)."""
    sidecars = _figure_sidecars(root)
    driver.set_window_size(1280, 2000)
    assert driver.execute_script("return window.innerWidth") == 1280
    measured, problems = [], []
    for chapter in cli.list_chapters(root):
        page = f"book/chapters/{chapter.name}.html"
        driver.get(f"{server}/{page}")
        figures = _chapter_figures(driver)
        if not figures:
            problems.append(f"{page}: no figure images")
        for name, width, complete in figures:
            entry = sidecars.get(name.rsplit(".", 1)[0])
            if entry is None:
                problems.append(  # e.g. nbval rerun without DLN_FIGURES_DIR rewrote figures/ (make test sets it)
                    f"{page}: {name} is no saved figures/<chapter>/<name>.png (figures/ and the build disagree)"
                )
                continue
            path, prov = entry
            leg = prov.get("legibility")
            if not leg or leg.get("min_fontsize_pt") is None:
                problems.append(f"{path}: no legibility record (figure size, smallest font)")
                continue
            assert complete and width > 0, f"{page}: {name} not rendered"
            px = leg["min_fontsize_pt"] / 72 * width / leg["image_width_in"]
            measured.append((px, str(path)))
            if px < MIN_TEXT_PX:
                problems.append(
                    f"{path}: smallest text {leg['min_fontsize_pt']} pt ({leg['min_font_text']!r}) renders at "
                    f"{px:.1f} px (image {leg['image_width_in']} in shown {width:.0f} px wide)"
                )
    assert measured, "no figure measured"
    assert not problems, "\n".join(problems)


def test_a_click_on_a_figure_opens_the_full_size_image(root, server, driver):
    driver.get(f"{server}/book/chapters/ch02_invariants.html")
    links = driver.execute_script(
        "return Array.from(document.querySelectorAll('figure img'))"
        ".map(i => { const a = i.closest('a');"
        "  return [i.src, a ? a.href : null, a ? getComputedStyle(a).cursor : null]; })"
    )
    assert links
    for src, href, cursor in links:
        assert href == src, (src, href)
        assert cursor == "zoom-in"


def _all_pages(root, html):
    pages = _pages(root)[1:]  # index.html only redirects
    pages += [p.relative_to(html).as_posix() for p in sorted((html / "book" / "api").glob("*.html"))]
    return pages


def test_pages_have_no_horizontal_overflow_at_400px(root, html, server, driver):
    """On a phone the page itself never scrolls sideways: wide content scrolls inside its own box."""
    problems = []
    driver.set_window_size(400, 900)
    try:
        assert driver.execute_script("return window.innerWidth") <= 420, "window did not shrink to a phone width"
        for page in _all_pages(root, html):
            driver.get(f"{server}/{page}")
            _wait_for_mathjax(driver)
            r = driver.execute_script(
                "const se = document.scrollingElement, cw = se.clientWidth;"
                "const scrolls = e => { for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {"
                "  const o = getComputedStyle(p).overflowX; if (o !== 'visible') return true; } return false; };"
                "const wide = Array.from(document.body.querySelectorAll('*')).filter(e => {"
                "  const b = e.getBoundingClientRect(); return b.width > 0 && b.right > cw + 1 && !scrolls(e); });"
                "return {sw: se.scrollWidth, cw: cw,"
                "  wide: wide.slice(0, 4).map(e => e.tagName + '.' + e.className + ': ' + e.textContent.slice(0, 50))};"
            )
            if r["sw"] > r["cw"]:
                problems.append(f"{page}: scrollWidth {r['sw']} > clientWidth {r['cw']}; too wide: {r['wide']}")
    finally:
        driver.set_window_size(1280, 2000)
    assert not problems, "\n".join(problems)


def test_numbered_equation_keeps_clear_of_its_number_at_400px(root, server, driver):
    """Equation (2.2) and its number do not overlap on a phone; the equation scrolls inside its box."""
    driver.set_window_size(400, 900)
    try:
        driver.get(f"{server}/book/chapters/ch02_invariants.html")
        _wait_for_mathjax(driver)
        r = driver.execute_script(
            "const d = document.getElementById('equation-eq-ch02-gd-increment');"
            "const n = d.querySelector('span.eqno').getBoundingClientRect();"
            "const m = d.querySelector('mjx-container').getBoundingClientRect();"
            "const c = d.querySelector('mjx-container');"
            "return {overlap: !(n.right <= m.left || m.right <= n.left || n.bottom <= m.top || m.bottom <= n.top),"
            "  same_line: !(n.bottom <= m.top || m.bottom <= n.top), cut: c.scrollWidth > c.clientWidth + 1,"
            "  right: m.right, cw: document.scrollingElement.clientWidth};"
        )
    finally:
        driver.set_window_size(1280, 2000)
    assert not r["overlap"], r
    assert r["right"] <= r["cw"] + 1, r
    # an equation wider than its box scrolls; its number then sits on a line of its own, not at the cut
    assert not (r["cut"] and r["same_line"]), r


def test_figures_page_cites_each_figure_by_number_in_plain_text_and_images_have_alt(root, server, driver):
    from dlnlib.companion.report import figure_entries

    n_figures = sum(e["provenance"] is not None for e in figure_entries(root))
    driver.get(f"{server}/book/chapters/figures.html")
    page = driver.execute_script(
        "const q = s => Array.from(document.querySelectorAll(s));"
        "return {cites: q('div.dln-citation:not(.dln-bibtex) pre').map(p => ({text: p.innerText,"
        "          wraps: p.scrollWidth <= p.clientWidth + 1})),"
        "        bibtex: q('div.dln-bibtex pre').map(p => p.innerText),"
        "        copy: q('div.dln-citation button.copybtn').length,"
        "        toc: q('.sidebar-secondary-items .section-nav a').map(a => a.textContent.trim())}"
    )
    assert len(page["cites"]) == n_figures and len(page["bibtex"]) == n_figures, (len(page["cites"]), n_figures)
    for cite in page["cites"]:
        text = cite["text"]
        assert re.search(r"Fig\. \d+\.\d+: ", text), text[:200]
        assert "fig-ch" not in text and "$" not in text and not re.search(r"\\[A-Za-z]+|\{\w+(:\w+)?\}`", text), text
        assert cite["wraps"], f"citation scrolls sideways: {text[:80]}"
    for entry in page["bibtex"]:
        assert re.match(r"@misc\{dln-companion-fig-\d+-\d+,", entry), entry[:80]
        assert "fig-ch" not in entry and "$" not in entry, entry
    assert page["copy"] >= 2 * n_figures, "every citation and BibTeX entry needs a copy button"
    figure_links = [t for t in page["toc"] if t.startswith("Fig")]
    assert len(figure_links) == n_figures and all(re.fullmatch(r"Fig\. \d+\.\d+", t) for t in figure_links), page["toc"]
    assert not any("fig-ch" in t for t in page["toc"]), page["toc"]

    for name in [c.name for c in cli.list_chapters(root)] + ["figures"]:
        driver.get(f"{server}/book/chapters/{name}.html")
        images = driver.execute_script(
            "return Array.from(document.querySelectorAll('article img, main img'))"
            ".map(i => ({src: i.getAttribute('src'), alt: (i.getAttribute('alt') || '').trim()}))"
        )
        for img in images:
            alt = img["alt"]
            assert alt and "_images/" not in alt and not alt.endswith(".png"), f"{name}: {img}"
            assert "$" not in alt and not re.search(r"\\[A-Za-z]+", alt), f"{name}: {alt}"

"""The report in a real browser: Debian's headless Chromium driven by Playwright.

Needs /usr/bin/chromium and the `playwright` Python client (scripts/install-browser.sh
installs both; `make test` runs it first). When they are missing the test tries that script
and fails if it cannot: a report nobody opened is not tested. STABLEX_SKIP_BROWSER=1 skips
on purpose.

The main test opens the report of the end-to-end study run (conftest.study_run: every stage
on 400 Le Monde texts, 2 real seeds) unless STABLEX_REPORT_RUN names a finished run.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from report_run import HOSTILE, build_handmade_run
from stablex.report import build_report
from stablex.report.sections import SECTIONS

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(os.environ.get("STABLEX_SKIP_BROWSER") == "1", reason="STABLEX_SKIP_BROWSER=1")


def _ensure_browser() -> None:
    try:
        import playwright  # noqa: F401

        ready = CHROMIUM.exists()
    except ImportError:
        ready = False
    if not ready:
        res = subprocess.run(
            ["sh", str(ROOT / "scripts" / "install-browser.sh"), sys.executable], capture_output=True, text=True
        )
        if res.returncode != 0 or not CHROMIUM.exists():
            pytest.fail(f"cannot install the browser (scripts/install-browser.sh):\n{res.stdout}\n{res.stderr}")


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    _ensure_browser()
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        yield ctx
        ctx.close()


@pytest.fixture(scope="session")
def real_run(study_run) -> Path:
    """The end-to-end test's run (every stage done on real seeds), or STABLEX_REPORT_RUN when set."""
    given = os.environ.get("STABLEX_REPORT_RUN")
    return Path(given) if given else study_run.run


def open_page(ctx, path: Path):
    """Open `path` with every network request refused; collect console errors, page errors and dialogs."""
    page = ctx.new_page()
    events: dict[str, list[str]] = {"errors": [], "dialogs": [], "requests": []}
    page.on("console", lambda m: events["errors"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: events["errors"].append(str(e)))

    def on_dialog(d):
        events["dialogs"].append(d.message)
        d.dismiss()

    page.on("dialog", on_dialog)

    def route(r):
        if not r.request.url.startswith("file://"):
            events["requests"].append(r.request.url)
            r.abort()
        else:
            r.continue_()

    page.route("**/*", route)
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")
    return page, events


def shown_words(page, selector: str) -> list[str]:
    return page.eval_on_selector_all(f"{selector} .w", "els => els.map(e => e.textContent)")


def test_report_in_chromium(browser, real_run):
    out = build_report(real_run)
    page, events = open_page(browser, out)
    for sid, _, _ in SECTIONS:
        assert page.locator(f"section#{sid} h2").count() == 1, sid
    # a complete run: no section says it is missing
    assert page.locator(".missing").count() == 0, page.locator(".missing").all_inner_texts()
    assert page.locator("#verdict .card").count() == 2
    assert page.locator("#accuracy svg circle").count() == len(list((real_run / "seeds").glob("*/metrics.json")))
    assert page.locator("#variability figure.small svg").count() >= 4
    assert page.locator("#tradeoff svg").count() == 1

    # the viewer: one map per seed shown, words coloured, and switching the text changes them
    n_texts = page.locator("#text-select option").count()
    assert n_texts >= 2
    n_seeds = page.locator("#seed-maps .map").count()
    assert n_seeds >= 2
    first = shown_words(page, "#seed-maps .map:first-child")
    assert first and first == shown_words(page, "#consensus-map")
    assert page.locator("#feature-map .w").count() > 0
    assert page.locator("#consensus-spread svg rect").count() > 0
    page.screenshot(path=str(ARTIFACTS / "report-top.png"))
    page.select_option("#text-select", "1")
    second = shown_words(page, "#seed-maps .map:first-child")
    assert second and second != first
    page.click("#next-text")
    assert page.eval_on_selector("#text-select", "s => s.value") == "2"
    assert shown_words(page, "#seed-maps .map:first-child") != second
    page.locator("#viewer").scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-viewer.png"))
    page.screenshot(path=str(ARTIFACTS / "report-full.png"), full_page=True)
    assert events == {"errors": [], "dialogs": [], "requests": []}
    page.close()


def test_markup_in_a_text_renders_as_text(browser, tmp_path):
    texts = [f"Titre {HOSTILE} fin.", "Un autre texte, sans rien.", "Encore un texte ; le dernier !"]
    out = build_report(build_handmade_run(tmp_path, texts))
    page, events = open_page(browser, out)
    page.wait_for_timeout(300)  # give an injected handler (img onerror) time to fire
    assert events["dialogs"] == [] and events["errors"] == []
    assert page.locator("img").count() == 0
    # the viewer shows the markup literally, as words of the text
    value = page.eval_on_selector_all(
        "#text-select option", "os => os.find(o => o.textContent.includes('alert(1)')).value"
    )
    page.select_option("#text-select", value)
    text = page.inner_text("#seed-maps .map:first-child")
    assert "<script>alert(1)</script>" in text and "onerror=alert(2)>" in text
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#viewer").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "report-escaping.png"))
    page.close()


def test_screenshot_with_chromium_alone(tmp_path):
    """chromium's own --screenshot, no driver: the page renders without a Playwright client too."""
    _ensure_browser()
    out = build_report(build_handmade_run(tmp_path / "run", ["Un texte.", "Un autre texte."]))
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            str(CHROMIUM),
            *FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1280,900",
            out.resolve().as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.exists() and shot.stat().st_size > 10_000
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTIFACTS / "report-chromium-screenshot.png")

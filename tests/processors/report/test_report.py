"""``runstream report`` opened in a real headless Chromium: rendered, inert, charts drawn.

Six real SDK runs go into the embedded store, one of them named with markup that would run
script if the report concatenated strings; the report is written by the CLI, then loaded by
the system Chromium through Playwright (no browser download), which records console
messages, page errors, dialogs and every request the page makes.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from runstream.settings import Settings
from runstream_processors.cli.main import cli
from runstream_processors.report.data import Selection, gather
from support.runs import make_run, store

HOSTILE = "<script>window.pwned=1;console.error('pwned')</script><img src=x onerror=alert(1)>"
SWEEP = [(0.001, "adam", 32), (0.01, "adam", 64), (0.03, "sgd", 96), (0.1, "sgd", 32),
         (0.3, "adam", 64), (1.0, "sgd", 96)]  # fmt: skip
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM = next((found for name in BROWSERS if (found := shutil.which(name))), None)


def report(*args: str) -> str:
    result = CliRunner().invoke(cli, ["report", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def sweep(runstream_dir: Settings) -> list[str]:
    """Six finished runs; the third is named with markup. eval.accuracy = 0.9 + lr / 10."""
    return [
        make_run(HOSTILE if i == 2 else f"run-{i}", lr=lr, steps=120, optimizer=opt, batch=batch,
                 project="demo", tags=["sweep"])
        for i, (lr, opt, batch) in enumerate(SWEEP)
    ]  # fmt: skip


@dataclass
class Page:
    page: Any
    console_errors: list[str]
    page_errors: list[str]
    dialogs: list[str]
    requests: list[str]

    def count(self, selector: str) -> int:
        return int(self.page.locator(selector).count())


@pytest.fixture
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (deploy/local/chromium.sh installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
        )
        yield chromium
        chromium.close()


def open_page(browser: Any, path: Path) -> Page:
    page = browser.new_page(viewport={"width": 1240, "height": 1800})
    opened = Page(page, [], [], [], [])
    page.on("console", lambda m: m.type == "error" and opened.console_errors.append(m.text))
    page.on("pageerror", lambda error: opened.page_errors.append(str(error)))
    page.on("dialog", lambda dialog: (opened.dialogs.append(dialog.message), dialog.dismiss()))
    page.on("request", lambda request: opened.requests.append(request.url))
    page.goto(path.as_uri(), wait_until="load")
    return opened


def test_report_renders_in_chromium_with_every_chart(
    sweep: list[str], browser: Any, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "report.html"
    assert "6 runs, ranked by eval.accuracy" in report("--project", "demo", "--out", str(out))
    shown = open_page(browser, out)

    assert shown.console_errors == [] and shown.page_errors == [] and shown.dialogs == []
    assert shown.requests == [out.as_uri()]  # the file itself and nothing else
    page = shown.page
    assert page.title().startswith("runstream report: project demo")

    # best eval.accuracy first: the highest lr won
    names = page.locator("#leaderboard tbody tr .name").all_inner_texts()
    assert names == ["run-5", "run-4", "run-3", HOSTILE, "run-1", "run-0"]
    assert shown.count("img") == 0 and page.evaluate("typeof window.pwned") == "undefined"

    charts = page.locator("figure.curve").evaluate_all("fs => fs.map(f => f.dataset.metric)")
    assert charts == ["eval.accuracy", "train.accuracy", "eval.loss", "train.loss"]  # same key next
    for metric, shape in [("train.loss", "path.line"), ("eval.accuracy", "circle.line")]:
        drawn = page.locator(f'figure[data-metric="{metric}"] svg {shape}')
        assert drawn.count() == 6
        box = drawn.first.bounding_box()
        assert box is not None and box["width"] > 0 and box["height"] > 0
    # a 120-step line is 120 points, one per step
    loss = page.locator('figure[data-metric="train.loss"] path.line').first.get_attribute("d")
    assert loss is not None and loss.count("L") == 119

    bars = page.locator("#importance g.bar text[text-anchor=end]").all_text_contents()
    assert bars[0] == "lr" and set(bars) == {"lr", "batch", "optimizer"}  # stored by the refresh
    assert shown.count("#parallel polyline.run") == 6
    axes = page.locator("#parallel g.paxis text[font-weight='600']").all_text_contents()
    assert axes == ["batch", "lr", "optimizer", "eval.accuracy"]
    assert page.locator("#params thead th").all_inner_texts() == ["run", "batch", "lr", "optimizer"]
    assert shown.count("#params tbody tr") == 6


def test_named_runs_and_a_metric(sweep: list[str], browser: Any, tmp_path: Path) -> None:
    """Runs by id prefix and by name, ranked by a loss: lowest first; too few for importance."""
    out = tmp_path / "two.html"
    report(sweep[0][:8], "run-5", "--metric", "eval.loss", "--out", str(out))
    shown = open_page(browser, out)
    assert shown.console_errors == [] and shown.page_errors == []
    page = shown.page
    names = page.locator("#leaderboard tbody tr .name").all_inner_texts()
    assert names == ["run-5", "run-0"]
    assert "lowest is best" in page.locator("p.meta").first.inner_text()
    assert page.locator("#importance-empty").is_visible()  # 2 runs: nothing to correlate
    assert shown.count("#parallel polyline.run") == 2


def test_importance_comes_from_param_importance_latest_when_computed(
    sweep: list[str], runstream_dir: Settings
) -> None:
    with store(runstream_dir) as client:
        client.command(
            "INSERT INTO runstream.param_importance (project, run_group, tag, metric, which, "
            "goal, param, kind, pearson, spearman, rf_importance, permutation_importance, "
            "ci_low, ci_high, log_scale, runs_used, runs_total, computed_at) VALUES "
            "('demo', '', '', 'eval.accuracy', 'best', 'max', 'batch', 'numeric', 0.5, 0.5, "
            "0.7, 0.6, 0.1, 0.9, false, 6, 6, now64() + 60), "
            "('demo', '', '', 'eval.accuracy', 'best', 'max', 'lr', 'numeric', 0.9, 0.9, 0.2, "
            "0.3, 0.1, 0.4, true, 6, 6, now64() + 60)"
        )
        data = gather(client, Selection(project="demo"))
    assert data.importance_method == "random-forest importance"
    assert [(row.param, row.score) for row in data.importance] == [("batch", 0.7), ("lr", 0.2)]


def test_no_matching_runs_is_one_clear_error(sweep: list[str]) -> None:
    result = CliRunner().invoke(cli, ["report", "--tag", "nope"])
    assert result.exit_code != 0
    assert "no runs match (tag nope)" in str(result.exception)

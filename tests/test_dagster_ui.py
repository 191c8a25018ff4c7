"""The Dagster UI as an operator sees it: `dagster dev` on 127.0.0.1, driven by headless Chromium (Selenium).

It loads the global asset graph and an asset's checks tab of the hand-computed warehouse, checks that the main
assets and their checks are on screen, and saves screenshots under test-output/browser/ (git-ignored).

Chromium and its driver are Debian packages (`chromium`, `chromium-driver`): `make test` installs them with apt
when it runs as root. This test installs nothing; it skips, saying so, only when they are missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import REPO

pytestmark = pytest.mark.slow

OUTPUT = REPO / "test-output" / "browser"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

REPOSITORY = "__repository__@orchestration.definitions"
# the global lineage shows one box per group, raw files to Stripe
GROUPS = [
    "ingestion",
    "staging",
    "intermediate",
    "usage",
    "billing",
    "publishing",
    "stripe",
    "reconciliation",
]
# the billing group: the issuing ledger, the invoices, credit notes, prepaid credits and the publishing gate
BILLING_ASSETS = [
    "fct_billing_ledger",
    "fct_invoice_lines",
    "fct_invoices",
    "fct_credit_notes",
    "fct_credit_ledger",
    "publish_blockers",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dagster dev exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(1)
    pytest.fail(
        f"dagster dev did not answer on {url} within {timeout_s} s:\n{log.read_text()[-4000:]}"
    )


@pytest.fixture(scope="module")
def dagster_ui(scenarios_dir, _dagster_home, tmp_path_factory):
    """`dagster dev` over the scenarios warehouse, on the session's Dagster instance: the UI shows the runs,
    materializations and check results of the integration run that built it."""
    home = _dagster_home
    port = _free_port()
    log = tmp_path_factory.mktemp("ui") / "dagster_dev.log"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "MH_DATA_DIR": str(scenarios_dir),
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }
    dagster = str(Path(sys.executable).parent / "dagster")
    with log.open("w") as out:
        proc = subprocess.Popen(
            [dagster, "dev", "-m", "orchestration.definitions", "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_server(url, proc, log)
        yield url
    finally:
        # SIGINT lets dagster dev stop its webserver and daemon; kill the group if it lingers
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip(
            "Chromium or chromedriver is not installed (Debian packages chromium and chromium-driver); "
            "`make test` installs them with apt when it runs as root"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # an explicit driver and browser: Selenium Manager (which would look for drivers online) never runs
    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1600,1000",
        "--no-first-run",
        "--disable-background-networking",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _wait_for_text(driver, texts: list[str], timeout_s: float = 90) -> None:
    """Wait until every text is in the rendered page; fail listing the ones that never appeared."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    def missing(d) -> list[str]:
        body = d.find_element("tag name", "body").text + d.page_source
        return [t for t in texts if t not in body]

    try:
        WebDriverWait(driver, timeout_s, poll_frequency=1).until(lambda d: not missing(d))
    except TimeoutException:
        pytest.fail(f"not shown after {timeout_s} s: {missing(driver)} (url {driver.current_url})")


def _dismiss_newsletter(driver) -> None:
    """The first visit opens Dagster's "Join the community" dialog over the page; skip it."""
    for button in driver.find_elements("xpath", "//button[normalize-space()='Skip']"):
        if button.is_displayed():
            button.click()
            time.sleep(0.5)


def _screenshot(driver, name: str) -> Path:
    _dismiss_newsletter(driver)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / name
    assert driver.save_screenshot(str(path)), f"could not save {path}"
    assert path.stat().st_size > 10_000  # a rendered page, not a blank image
    return path


def test_asset_graph_shows_the_pipeline(dagster_ui, browser):
    browser.get(f"{dagster_ui}/asset-groups")
    _wait_for_text(browser, ["Global asset lineage", *GROUPS])
    time.sleep(2)  # let the graph finish its layout animation before the picture
    _screenshot(browser, "global_asset_lineage.png")

    # the billing group's lineage: the graph draws only what fits the view, so its picture is the proof and
    # the group's list view names every asset
    browser.get(f"{dagster_ui}/locations/{REPOSITORY}/asset-groups/billing")
    _wait_for_text(browser, ["fct_invoices", "fct_billing_ledger"])
    time.sleep(2)
    _screenshot(browser, "billing_asset_graph.png")
    browser.get(f"{dagster_ui}/locations/{REPOSITORY}/asset-groups/billing/list")
    _wait_for_text(browser, BILLING_ASSETS)
    _screenshot(browser, "billing_assets.png")


def test_asset_checks_are_shown_with_their_results(dagster_ui, browser):
    """dbt tests surface as Dagster asset checks, evaluated by the integration run: the invoices mart's
    checks tab lists them as passed."""
    browser.get(f"{dagster_ui}/assets/billing/fct_invoices?view=checks")
    _wait_for_text(
        browser,
        [
            "not_null_fct_invoices_invoice_id",
            "unique_fct_invoices_invoice_id",
            "This is a blocking asset check.",
            "Passed",
        ],
    )
    _screenshot(browser, "fct_invoices_checks.png")

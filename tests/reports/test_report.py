"""report.html as a person sees it: rendered by headless Chromium, every figure loaded, the key numbers shown."""

from __future__ import annotations

import json
import shutil

import pytest

import headstart
from headstart.reports.html import write_report
from tests.conftest import copy_sample

# Every test here trains a network or uses a fitted one: the fast loop (-m 'not slow') leaves them to CI.
pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    data = copy_sample(root / "data", ["bag", "sneaker", "shirt", "t-shirt"], 10)
    result = headstart.train(data, "efficientnet_lite0", "head", out=root / "run", image_size=64, epochs=4)
    return result.run_dir


def test_run_directory_has_the_report_its_figures_and_predictions(run):
    for name in ("report.html", "training.png", "confusion.png", "calibration.png", "predictions.csv"):
        assert (run / name).is_file(), name
    page = (run / "report.html").read_text()
    assert "<script" not in page and "http://" not in page and "https://" not in page  # offline, self-contained
    summary = json.loads((run / "summary.json").read_text())
    wrong = sum(1 for line in (run / "predictions.csv").read_text().splitlines()[1:] if line.endswith(",False"))
    assert wrong == round((1 - summary["scores"]["accuracy"]) * summary["scores"]["n"])


def test_report_rebuilds_from_the_run_files(run):
    before = (run / "report.html").read_text()
    (run / "report.html").unlink()
    write_report(run)
    assert (run / "report.html").read_text() == before


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="needs Debian's chromium and chromium-driver")
def test_report_renders_in_headless_chromium(run):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        browser.get((run / "report.html").as_uri())
        images = browser.execute_script(
            "return Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0]);"
        )
        text = browser.find_element("tag name", "body").text
    finally:
        browser.quit()
    assert len(images) >= 3 and all(loaded for _, loaded in images), images
    summary = json.loads((run / "summary.json").read_text())
    scores = summary["scores"]
    assert f"{scores['accuracy']:.1%}" in text and f"{scores['macro_f1']:.1%}" in text
    assert f"{scores['calibration']['ece']:.3f}" in text and "Most confident mistakes" in text

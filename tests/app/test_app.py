"""``headstart app`` (issue 32): the page in real headless Chromium against a real app process on a free loopback
port: make an image project and a text project, add examples, train, see the accuracy, try it, export; the browser
asks no other host for anything. Bad input through the same API the page uses."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

from headstart.tasks.image import SAMPLE_DIR
from headstart.tasks.text import SAMPLE_FILE

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
ARTIFACTS = Path(os.environ.get("HEADSTART_TEST_ARTIFACTS", "test-artifacts"))
TRAINING_TIMEOUT = 600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class App:
    """`headstart app` as a real process on 127.0.0.1, stopped at the end."""

    def __init__(self, projects: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.projects = projects
        self.log = open(projects.parent / f"app-{self.port}.log", "w+")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen([sys.executable, "-m", "headstart", "app", "--project", str(projects), "--port",
                                         str(self.port), "--no-browser"], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, Path(self.log.name).read_text()
            try:
                requests.get(self.url + "/api/projects", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.2)
        raise AssertionError("the app did not answer within 60 s")

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, self.url + path, timeout=60, **kwargs)

    def wait_trained(self, project: str) -> dict:
        deadline = time.monotonic() + TRAINING_TIMEOUT
        while time.monotonic() < deadline:
            training = self.api("GET", f"/api/projects/{project}").json()["training"]
            if training and training["state"] != "running":
                return training
            time.sleep(1)
        raise AssertionError(f"{project} did not finish training in {TRAINING_TIMEOUT} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


@pytest.fixture
def app(tmp_path):
    running = App(tmp_path / "projects")
    yield running
    running.stop()


def sample_images(label: str, n: int, split: str = "train") -> list[Path]:
    return sorted((SAMPLE_DIR / split / label).glob("*.png"))[:n]


def sample_texts(label: str, n: int, split: str = "train") -> list[str]:
    with SAMPLE_FILE.open(encoding="utf-8", newline="") as handle:
        return [r["text"] for r in csv.DictReader(handle) if r["label"] == label and r["split"] == split][:n]


@pytest.fixture
def browser(request):
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("needs Debian's chromium and chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_window_size(1300, 1800)
    yield driver
    if getattr(request.node, "failed", False):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / f"{request.node.name}.png"))
    driver.quit()


def requested_hosts(driver) -> set[str]:
    """Every host the page asked for anything (Chrome's network log)."""
    hosts = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = urlparse(message["params"]["request"]["url"])
            if url.scheme in ("http", "https", "ws", "wss"):
                hosts.add(url.netloc)
    return hosts


def wait_for(driver, condition, timeout: float = 60, what: str = "the page"):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # the page redraws a section after each answer: an element found a moment ago may be gone
    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, timeout, poll_frequency=0.5, ignored_exceptions=ignored).until(
        condition, message=f"waiting for {what}")


def make_project(driver, app: App, name: str, kind: str, classes: list[str]) -> None:
    from selenium.webdriver.support.ui import Select

    driver.get(app.url)
    wait_for(driver, lambda d: d.find_element("id", "project-name").is_displayed())
    driver.find_element("id", "project-name").send_keys(name)
    Select(driver.find_element("id", "project-kind")).select_by_value(kind)
    driver.find_element("id", "create-project").click()
    wait_for(driver, lambda d: d.find_element("id", "project-view").is_displayed())
    for label in classes:
        driver.find_element("id", "class-name").send_keys(label)
        driver.find_element("id", "add-class").click()
        wait_for(driver, lambda d, label=label: d.find_elements("css selector", f"[data-class-card='{label}']"))


def count_shown(driver, label: str) -> str:
    return driver.find_element("css selector", f"[data-count='{label}']").text


def train_and_read_score(driver, app: App, project: str) -> dict:
    driver.find_element("id", "train").click()
    wait_for(driver, lambda d: d.find_element("id", "progress-line").text.startswith("running"), 60, "training to start")
    wait_for(driver, lambda d: d.find_element("id", "score").text, TRAINING_TIMEOUT, "the accuracy")
    run = sorted((app.projects / project / "runs").iterdir())[-1]
    return json.loads((run / "summary.json").read_text()), run


@pytest.mark.slow
def test_an_image_project_from_upload_to_export_in_the_browser(app, browser):
    make_project(browser, app, "shoes", "image", ["sneaker", "trouser"])
    for label in ("sneaker", "trouser"):
        browser.find_element("css selector", f"input[data-class='{label}']").send_keys(
            "\n".join(str(p) for p in sample_images(label, 12)))
        wait_for(browser, lambda d, label=label: count_shown(d, label) == "12 examples", 30, f"{label} uploads")
    assert sorted(p.name for p in (app.projects / "shoes" / "data").iterdir()) == ["sneaker", "trouser"]

    summary, run = train_and_read_score(browser, app, "shoes")
    score = browser.find_element("id", "score").text
    assert f"accuracy {100 * summary['scores']['accuracy']:.1f}%" in score and "points over" in score
    assert summary["strategy"] in browser.find_element("id", "reason").text  # auto's choice, with its reason
    assert browser.find_elements("css selector", "#confusion td.diag")

    test_image = sample_images("trouser", 1, "test")[0]
    browser.find_element("id", "try-files").send_keys(str(test_image))
    wait_for(browser, lambda d: d.find_elements("css selector", "#try-results tr[data-label]"), 120, "a prediction")
    shown = browser.find_element("css selector", "#try-results tr[data-label]").get_attribute("data-label")
    from headstart import load

    assert shown == load(run).predict([str(test_image)])[0]

    href = browser.find_element("id", "export-onnx").get_attribute("href")
    exported = zipfile.ZipFile(io.BytesIO(requests.get(href, timeout=300).content))
    names = {Path(n).name for n in exported.namelist()}
    assert {"model.onnx", "model.json"} <= names
    assert requested_hosts(browser) == {f"127.0.0.1:{app.port}"}


@pytest.mark.slow
def test_a_text_project_in_the_browser(app, browser):
    make_project(browser, app, "reviews", "text", ["fresh", "rotten"])
    for label in ("fresh", "rotten"):
        area = browser.find_element("css selector", f"textarea[data-class='{label}']")
        area.send_keys("\n".join(sample_texts(label, 16)))
        browser.find_element("css selector", f"button[data-add='{label}']").click()
        wait_for(browser, lambda d, label=label: count_shown(d, label) == "16 examples", 30, f"{label} texts")
    summary, run = train_and_read_score(browser, app, "reviews")
    assert f"accuracy {100 * summary['scores']['accuracy']:.1f}%" in browser.find_element("id", "score").text
    browser.find_element("id", "try-texts").send_keys("A moving, beautifully acted film.")
    browser.find_element("id", "try-send").click()
    wait_for(browser, lambda d: d.find_elements("css selector", "#try-results tr[data-label]"), 120, "a prediction")
    href = browser.find_element("id", "export-onnx").get_attribute("href")
    names = zipfile.ZipFile(io.BytesIO(requests.get(href, timeout=300).content)).namelist()
    assert any(n.endswith("tokenizer/tokenizer.json") for n in names)
    assert requested_hosts(browser) == {f"127.0.0.1:{app.port}"}


def test_bad_input_gets_a_message_and_nothing_is_lost(app):
    assert "not allowed" in app.api("POST", "/api/projects", json={"name": "../up", "kind": "image"}).json()["detail"]
    assert "unknown project kind" in app.api("POST", "/api/projects", json={"name": "x", "kind": "audio"}).json()["detail"]
    assert app.api("POST", "/api/projects", json={"name": "shoes", "kind": "image"}).ok
    assert "exists already" in app.api("POST", "/api/projects", json={"name": "shoes", "kind": "image"}).json()["detail"]
    for label in ("sneaker", "trouser"):
        assert app.api("POST", "/api/projects/shoes/classes", json={"name": label}).ok
    assert "exists already" in app.api("POST", "/api/projects/shoes/classes", json={"name": "Sneaker"}).json()["detail"]

    photo = sample_images("sneaker", 1)[0].read_bytes()
    files = [("files", ("a.png", photo)), ("files", ("notes.png", b"not an image")), ("files", ("empty.png", b""))]
    answer = app.api("POST", "/api/projects/shoes/examples", params={"label": "sneaker"}, files=files).json()
    assert answer["added"] == 1 and len(answer["skipped"]) == 2
    assert "notes.png is not a readable image" in answer["skipped"][0] and "empty.png is empty" in answer["skipped"][1]
    assert "reads images" in app.api("POST", "/api/projects/shoes/examples", params={"label": "sneaker"},
                                     json={"texts": ["a text"]}).json()["detail"]
    assert "no class 'boot'" in app.api("POST", "/api/projects/shoes/examples", params={"label": "boot"},
                                        files=files[:1]).json()["detail"]
    assert "at least two classes" in app.api("POST", "/api/projects/shoes/train", json={}).json()["detail"]

    # files added by hand while the app runs are seen at once
    for label in ("sneaker", "trouser"):
        for path in sample_images(label, 8):
            shutil.copy(path, app.projects / "shoes" / "data" / label / path.name)
    classes = app.api("GET", "/api/projects/shoes").json()["classes"]
    assert classes == {"sneaker": 9, "trouser": 8}

    started = app.api("POST", "/api/projects/shoes/train", json={"strategy": "linear-probe"})
    assert started.ok, started.text
    again = app.api("POST", "/api/projects/shoes/train", json={})
    assert again.status_code == 400 and "training already" in again.json()["detail"]
    # nobody follows the progress (a closed tab): the training goes on to the end
    assert app.wait_trained("shoes")["state"] == "done"
    run = app.api("GET", "/api/projects/shoes").json()["runs"][-1]
    assert app.api("GET", f"/api/projects/shoes/runs/{run}").json()["accuracy"] is not None
    assert app.api("GET", f"/api/projects/shoes/runs/{run}/files/../../project.json").status_code in (400, 404)

    # relabel and remove: files move, nothing is deleted
    example = sorted((app.projects / "shoes" / "data" / "sneaker").iterdir())[0].name
    assert app.api("POST", "/api/projects/shoes/relabel", json={"label": "sneaker", "example": example,
                                                                "to": "trouser"}).ok
    assert (app.projects / "shoes" / "data" / "trouser" / example).is_file()
    assert app.api("POST", "/api/projects/shoes/relabel", json={"label": "trouser", "example": example, "to": None}).ok
    assert list((app.projects / "shoes" / "removed").rglob(example))
    assert "no example" in app.api("POST", "/api/projects/shoes/relabel",
                                   json={"label": "trouser", "example": "../../project.json", "to": None}).json()["detail"]
    (app.projects / "shoes" / "project.json").write_text("{broken")
    assert "damaged" in app.api("GET", "/api/projects/shoes").json()["detail"]

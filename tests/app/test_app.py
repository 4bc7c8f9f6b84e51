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
from tests.conftest import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
ARTIFACTS = Path(os.environ.get("HEADSTART_TEST_ARTIFACTS", "test-artifacts"))
TRAINING_TIMEOUT = 600


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
                self.process.wait(timeout=90)
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
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 # a real camera stream from Chromium's fake device (a moving test picture), allowed without asking
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"):
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


def train_and_read_score(driver, app: App, project: str, strategy: str | None = None,
                         unlabelled: bool = False) -> dict:
    """Press Train (with ``strategy`` chosen under Advanced, else auto; ``unlabelled``: learning from the unlabelled
    examples too) and wait for the score."""
    if strategy is not None or unlabelled:
        from selenium.webdriver.support.ui import Select

        driver.find_element("css selector", "details summary").click()
        if strategy is not None:
            Select(driver.find_element("id", "strategy")).select_by_value(strategy)
        if unlabelled:
            driver.find_element("id", "use-unlabelled").click()
    driver.find_element("id", "train").click()
    wait_for(driver, lambda d: d.find_element("id", "progress-line").text.startswith("running"), 60, "training to start")
    wait_for(driver, lambda d: d.find_element("id", "score").text, TRAINING_TIMEOUT, "the accuracy")
    run = sorted(p for p in (app.projects / project / "runs").iterdir() if p.is_dir())[-1]
    return json.loads((run / "summary.json").read_text()), run


@pytest.mark.slow
def test_an_image_project_from_upload_to_export_in_the_browser(app, browser):
    make_project(browser, app, "shoes", "image", ["footwear", "trouser"])
    # 70 files at once: the page sends them 32 to a request
    footwear = sample_images("sneaker", 30) + sample_images("sandal", 30) + sample_images("ankle-boot", 10)
    for label, files in (("footwear", footwear), ("trouser", sample_images("trouser", 12))):
        browser.find_element("css selector", f"input[data-class='{label}']").send_keys("\n".join(map(str, files)))
        shown = f"{len(files)} examples"
        wait_for(browser, lambda d, label=label, shown=shown: count_shown(d, label) == shown, 60, f"{label} uploads")
    assert sorted(p.name for p in (app.projects / "shoes" / "data").iterdir()) == ["footwear", "trouser"]
    assert "imbalanced: 70 examples" in browser.find_element("id", "warnings").text
    # examples not labelled yet, for Label next: files, and a picture from the webcam
    pool = sample_images("trouser", 18)[12:] + sample_images("ankle-boot", 14)[10:]
    browser.find_element("css selector", "input[data-class='']").send_keys("\n".join(map(str, pool)))
    wait_for(browser, lambda d: count_shown(d, "") == "10 examples", 60, "the unlabelled uploads")
    browser.find_element("css selector", "button[data-webcam='']").click()
    capture_from_webcam(browser, hold=1.5)  # held: a picture every quarter second until let go
    wait_for(browser, lambda d: count_shown(d, "") != "10 examples", 60, "the webcam's pictures")
    taken = len(list((app.projects / "shoes" / "unlabelled").glob("*.jpg")))
    assert 3 <= taken <= 8 and count_shown(browser, "") == f"{10 + taken} examples"

    summary, run = train_and_read_score(browser, app, "shoes")
    score = browser.find_element("id", "score").text
    assert f"accuracy {100 * summary['scores']['accuracy']:.1f}%" in score and "points over" in score
    assert summary["strategy"] in browser.find_element("id", "reason").text  # auto's choice, with its reason
    assert browser.find_elements("css selector", "#confusion td.diag")

    test_image = sample_images("trouser", 1, "test")[0]
    assert not browser.find_element("id", "resume").is_displayed()
    browser.find_element("id", "try-files").send_keys(str(test_image))
    wait_for(browser, lambda d: d.find_elements("css selector", "#try-results tr[data-label]"), 120, "a prediction")
    shown = browser.find_element("css selector", "#try-results tr[data-label]").get_attribute("data-label")
    from headstart import load

    assert shown == load(run).predict([str(test_image)])[0]
    browser.find_element("id", "try-webcam").click()
    capture_from_webcam(browser)
    wait_for(browser, lambda d: "webcam-" in d.find_element("id", "try-results").text, 120, "the webcam's prediction")
    browser.find_element("id", "camera-close").click()

    label_the_first_suggestion(browser, app, "shoes", run, 10 + taken)

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
    unlabelled = sample_texts("fresh", 22)[16:] + sample_texts("rotten", 22)[16:]
    browser.find_element("css selector", "textarea[data-class='']").send_keys("\n".join(unlabelled))
    browser.find_element("css selector", "button[data-add='']").click()
    wait_for(browser, lambda d: count_shown(d, "") == "12 examples", 30, "the unlabelled texts")
    # auto's ranking would take a minute more; the unlabelled texts are learnt from too (semi-supervised)
    summary, run = train_and_read_score(browser, app, "reviews", "linear-probe", unlabelled=True)
    assert summary["strategy"] == "linear-probe"
    assert summary["unlabeled"]["pool"] == 12, summary["unlabeled"]
    assert f"accuracy {100 * summary['scores']['accuracy']:.1f}%" in browser.find_element("id", "score").text
    browser.find_element("id", "try-texts").send_keys("A moving, beautifully acted film.")
    browser.find_element("id", "try-send").click()
    wait_for(browser, lambda d: d.find_elements("css selector", "#try-results tr[data-label]"), 120, "a prediction")
    href = browser.find_element("id", "export-onnx").get_attribute("href")
    names = zipfile.ZipFile(io.BytesIO(requests.get(href, timeout=300).content)).namelist()
    assert any(n.endswith("tokenizer/tokenizer.json") for n in names)
    label_the_first_suggestion(browser, app, "reviews", run, 12)
    assert requested_hosts(browser) == {f"127.0.0.1:{app.port}"}


def capture_from_webcam(driver, hold: float = 0) -> None:
    """Press Capture (for ``hold`` seconds) once the camera shows a picture (Chromium's fake device)."""
    from selenium.webdriver.common.action_chains import ActionChains

    wait_for(driver, lambda d: d.execute_script("return document.getElementById('camera-video').videoWidth > 0"),
             30, "the webcam's picture")
    button = driver.find_element("id", "camera-capture")
    ActionChains(driver).click_and_hold(button).pause(hold).release(button).perform()


def label_the_first_suggestion(driver, app: App, project: str, run: Path, pool_size: int) -> None:
    """Label next: the page lists the unlabelled examples `headstart suggest` ranks first, in its order, and one click
    labels the first (it leaves the unlabelled examples and joins the class)."""
    driver.find_element("id", "suggest").click()
    wait_for(driver, lambda d: d.find_elements("css selector", "#suggestions li"), 180, "the suggestions")
    items = driver.find_elements("css selector", "#suggestions li")
    from headstart import load

    kind = json.loads((app.projects / project / "project.json").read_text())["kind"]
    pool = app.projects / project / ("unlabelled" if kind == "image" else "unlabelled.csv")
    expected = load(run).suggest(str(pool), len(items))
    first = items[0].get_attribute("data-suggested")
    assert [i.get_attribute("data-suggested") for i in items] == [
        Path(r["input"]).name if kind == "image" else r["input"] for r in expected]
    assert len(items) == min(12, pool_size)
    label = next(iter(json.loads(requests.get(f"{app.url}/api/projects/{project}", timeout=30).text)["classes"]))
    before = count_shown(driver, label)
    items[0].find_element("css selector", f"button[data-label-to='{label}']").click()
    wait_for(driver, lambda d: count_shown(d, "") == f"{pool_size - 1} examples", 30, "the label to be saved")
    assert count_shown(driver, label) == f"{int(before.split()[0]) + 1} examples"
    assert first not in [i.get_attribute("data-suggested") for i in driver.find_elements("css selector", "#suggestions li")]
    if kind == "image":
        assert (app.projects / project / "data" / label / first).is_file() and not (pool / first).exists()
    else:
        texts = {table: [(r["text"], r.get("label")) for r in csv.DictReader(io.StringIO(
            (app.projects / project / table).read_text(encoding="utf-8")))] for table in ("unlabelled.csv", "data.csv")}
        assert first not in [text for text, _ in texts["unlabelled.csv"]] and (first, label) in texts["data.csv"]


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

    assert "split folder" in app.api("POST", "/api/projects/shoes/classes", json={"name": "Train"}).json()["detail"]
    for bad in ({"strategy": "magic"}, {"epochs": True}, {"epochs": 0}):
        assert app.api("POST", "/api/projects/shoes/train", json=bad).status_code == 400
    # a page of another site cannot drive the app through the visitor's browser
    assert app.api("POST", "/api/projects", json={"name": "x", "kind": "image"},
                   headers={"Origin": "http://evil.example"}).status_code == 403
    assert app.api("POST", "/api/projects", data='{"name": "x", "kind": "image"}',
                   headers={"content-type": "text/plain"}).json()["detail"] == "send the request as application/json"

    started = app.api("POST", "/api/projects/shoes/train", json={"strategy": "linear-probe"})
    assert started.ok, started.text
    again = app.api("POST", "/api/projects/shoes/train", json={})
    assert again.status_code == 400 and "training already" in again.json()["detail"]
    # the training opens the images again each epoch: none moves meanwhile
    moving = app.api("POST", "/api/projects/shoes/relabel", json={"label": "sneaker", "to": "trouser",
                                                                  "example": sample_images("sneaker", 1)[0].name})
    assert moving.status_code == 400 and "is training" in moving.json()["detail"]
    assert (app.projects / "shoes" / "data" / "sneaker" / sample_images("sneaker", 1)[0].name).is_file()
    # a page following the progress goes away half-way (a closed tab): the training goes on to the end
    with requests.get(app.url + "/api/projects/shoes/train/events", stream=True, timeout=60) as stream:
        assert next(stream.iter_lines()).startswith(b"data: ")
    assert app.wait_trained("shoes")["state"] == "done"
    run = app.api("GET", "/api/projects/shoes").json()["runs"][-1]
    assert run["finished"] and app.api("GET", f"/api/projects/shoes/runs/{run['run']}").json()["accuracy"] is not None
    escape = app.api("GET", f"/api/projects/shoes/runs/{run['run']}/files/..%2F..%2Fproject.json")
    assert escape.status_code == 400 and "no file" in escape.json()["detail"]

    # Label next: nothing unlabelled yet, then a repeat, an image labelled already, a bad n, a name that is no example
    suggest = f"/api/projects/shoes/runs/{run['run']}/suggest"
    assert "no unlabelled examples" in app.api("POST", suggest, json={}).json()["detail"]
    assert "untick" in app.api("POST", "/api/projects/shoes/train", json={"unlabelled": True}).json()["detail"]
    new = [("files", (p.name, p.read_bytes())) for p in sample_images("sneaker", 12)[10:]]
    answer = app.api("POST", "/api/projects/shoes/unlabelled", files=[*new, new[0], files[0]]).json()
    assert answer["added"] == 2 and answer["project"]["unlabelled"] == 2
    assert "unlabelled examples already" in answer["skipped"][0] and "labelled already (in sneaker)" in answer["skipped"][1]
    for bad in ({"n": 0}, {"n": True}, {"n": 101}):
        assert "n must be" in app.api("POST", suggest, json=bad).json()["detail"]
    found = app.api("POST", suggest, json={"n": 1}).json()
    assert len(found["suggestions"]) == 1 and found["suggestions"][0]["predicted"] in ("sneaker", "trouser")
    chosen = found["suggestions"][0]["example"]
    assert app.api("GET", f"/api/projects/shoes/unlabelled/{chosen}").content in [f[1][1] for f in new]
    for bad, why in (({"example": "../project.json", "to": "sneaker"}, "no example"),
                     ({"example": chosen, "to": "boot"}, "no class 'boot'")):
        assert why in app.api("POST", "/api/projects/shoes/unlabelled/label", json=bad).json()["detail"]
    assert app.api("POST", "/api/projects/shoes/unlabelled/label", json={"example": chosen, "to": "sneaker"}).json()[
        "unlabelled"] == 1
    assert (app.projects / "shoes" / "data" / "sneaker" / chosen).is_file()

    # relabel and remove: files move, never over another file, nothing is deleted
    data = app.projects / "shoes" / "data"
    shutil.copy(sample_images("trouser", 20)[-1], data / "sneaker" / "00001.png")
    shutil.copy(sample_images("sneaker", 20)[-1], data / "trouser" / "00001.png")  # same name, other picture
    assert app.api("POST", "/api/projects/shoes/relabel", json={"label": "sneaker", "example": "00001.png",
                                                                "to": "trouser"}).ok
    assert (data / "trouser" / "00001.png").read_bytes() == sample_images("sneaker", 20)[-1].read_bytes()
    assert (data / "trouser" / "00001-1.png").read_bytes() == sample_images("trouser", 20)[-1].read_bytes()
    assert app.api("POST", "/api/projects/shoes/relabel", json={"label": "trouser", "example": "00001-1.png",
                                                                "to": None}).ok
    assert list((app.projects / "shoes" / "removed").rglob("00001-1.png"))
    assert "no example" in app.api("POST", "/api/projects/shoes/relabel",
                                   json={"label": "trouser", "example": "../../project.json", "to": None}).json()["detail"]
    (app.projects / "shoes" / "project.json").write_text("{broken")
    assert "damaged" in app.api("GET", "/api/projects/shoes").json()["detail"]
    listed = app.api("GET", "/api/projects").json()
    assert listed == [{"name": "shoes", "error": listed[0]["error"]}] and "damaged" in listed[0]["error"]


def test_a_hand_made_text_table_is_read_and_kept_whole(app):
    """data.csv written by hand (a byte-order mark, other column names, a split column): counted, added to and
    relabelled without losing a column or a row."""
    assert app.api("POST", "/api/projects", json={"name": "reviews", "kind": "text"}).ok
    table = app.projects / "reviews" / "data.csv"
    table.write_text("\ufeffReview,Sentiment,split\ngreat fun,fresh,train\ndull,rotten,train\nslow,rotten,test\n",
                     encoding="utf-8")
    # the test split's row is not counted: it is not trained on
    assert app.api("GET", "/api/projects/reviews").json()["classes"] == {"fresh": 1, "rotten": 1}
    added = app.api("POST", "/api/projects/reviews/examples", params={"label": "fresh"},
                    json={"texts": ["a joy", "great fun"]}).json()
    assert added["added"] == 1 and "in fresh already" in added["skipped"][0]
    assert app.api("POST", "/api/projects/reviews/relabel", json={"label": "rotten", "example": "slow",
                                                                  "to": "fresh"}).ok
    assert app.api("POST", "/api/projects/reviews/relabel", json={"label": "rotten", "example": "dull", "to": None}).ok
    with table.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["Review"], r["Sentiment"], r["split"]) for r in rows] == [
        ("great fun", "fresh", "train"), ("slow", "fresh", "test"), ("a joy", "fresh", "")]
    removed = next((app.projects / "reviews" / "removed").rglob("data.csv")).read_text(encoding="utf-8")
    assert removed.splitlines() == ["Review,Sentiment,split", "dull,rotten,train"]
    long = app.api("POST", "/api/projects/reviews/examples", params={"label": "fresh"},
                   json={"texts": ["x" * 25_000, "a bore"]}).json()
    assert long["added"] == 1 and "25,000 characters" in long["skipped"][0]  # left out alone, not the paste
    for text in ("great fun", "slow", "a joy", "a bore"):
        assert app.api("POST", "/api/projects/reviews/relabel", json={"label": "fresh", "example": text, "to": None}).ok
    # a header and no rows: the project still opens, and takes texts again (its classes lived in the rows)
    assert app.api("GET", "/api/projects/reviews").json()["classes"] == {}
    assert app.api("POST", "/api/projects/reviews/classes", json={"name": "fresh"}).ok
    assert app.api("POST", "/api/projects/reviews/examples", params={"label": "fresh"}, json={"texts": ["back"]}).ok
    # unlabelled texts in a table made by hand: read as `suggest` reads it, its other columns kept
    pool = app.projects / "reviews" / "unlabelled.csv"
    pool.write_text("Review,source\nnice one,web\n", encoding="utf-8")
    assert app.api("GET", "/api/projects/reviews").json()["unlabelled"] == 1
    added = app.api("POST", "/api/projects/reviews/unlabelled", json={"texts": ["another", "nice one", "back"]}).json()
    assert added["added"] == 1 and added["skipped"] == ["text 2 is among the unlabelled already",
                                                        "text 3 is labelled already"]
    assert "no unlabelled text" in app.api("POST", "/api/projects/reviews/unlabelled/label",
                                           json={"example": "never added", "to": "fresh"}).json()["detail"]
    assert app.api("POST", "/api/projects/reviews/unlabelled/label", json={"example": "nice one", "to": "fresh"}).ok
    assert pool.read_text(encoding="utf-8").splitlines() == ["Review,source", "another,"]
    assert table.read_text(encoding="utf-8").splitlines()[-1] == "nice one,fresh,"  # Review,Sentiment,split
    pool.write_bytes("text\ncaf\xe9 noir\n".encode("latin-1"))  # not UTF-8: the project still opens, nothing rewritten
    assert app.api("GET", "/api/projects/reviews").json()["unlabelled"] == 1
    refused = app.api("POST", "/api/projects/reviews/unlabelled", json={"texts": ["z"]})
    assert "not UTF-8" in refused.json()["detail"] and pool.read_bytes() == "text\ncaf\xe9 noir\n".encode("latin-1")
    table.write_bytes("text,label\ncaf\xe9 society,fresh\n".encode("latin-1"))  # not UTF-8
    kept = table.read_bytes()
    refused = app.api("POST", "/api/projects/reviews/examples", params={"label": "fresh"}, json={"texts": ["y"]})
    assert refused.status_code == 400 and "not UTF-8" in refused.json()["detail"] and table.read_bytes() == kept
    table.write_text("words,mood\nok,fresh\n", encoding="utf-8")  # columns the app cannot tell
    refused = app.api("POST", "/api/projects/reviews/examples", params={"label": "fresh"}, json={"texts": ["x"]})
    assert refused.status_code == 400 and "no text column" in refused.json()["detail"]
    assert table.read_text(encoding="utf-8") == "words,mood\nok,fresh\n"  # not rewritten


def test_a_training_that_fails_or_has_nothing_to_score_says_so(app):
    assert app.api("POST", "/api/projects", json={"name": "tiny", "kind": "image"}).ok
    for label, n in (("sneaker", 2), ("trouser", 1)):
        assert app.api("POST", "/api/projects/tiny/classes", json={"name": label}).ok
        files = [("files", (p.name, p.read_bytes())) for p in sample_images(label, n)]
        assert app.api("POST", "/api/projects/tiny/examples", params={"label": label}, files=files).ok
    assert app.api("POST", "/api/projects/tiny/train", json={"strategy": "linear-probe"}).ok
    failed = app.wait_trained("tiny")
    assert failed["state"] == "failed" and "trouser" in failed["error"], failed

    files = [("files", (p.name, p.read_bytes())) for p in sample_images("trouser", 3)[1:]]
    assert app.api("POST", "/api/projects/tiny/examples", params={"label": "trouser"}, files=files).ok
    assert app.api("POST", "/api/projects/tiny/train", json={"strategy": "linear-probe"}).ok
    assert app.wait_trained("tiny")["state"] == "done"
    run = app.api("GET", "/api/projects/tiny").json()["runs"][-1]["run"]
    results = app.api("GET", f"/api/projects/tiny/runs/{run}").json()
    assert results["finished"] and results["accuracy"] is None and "at least 3 per class" in results["note"]


@pytest.mark.slow
def test_stop_restart_and_resume(tmp_path):
    """Stop a fine-tune half-way, then stop the app in the middle of the next attempt and start it again: the run
    is resumable, and Resume ends it as a finished run."""
    projects = tmp_path / "projects"
    app = App(projects)
    try:
        assert app.api("POST", "/api/projects", json={"name": "shoes", "kind": "image"}).ok
        for label in ("sneaker", "trouser"):
            assert app.api("POST", "/api/projects/shoes/classes", json={"name": label}).ok
            files = [("files", (p.name, p.read_bytes())) for p in sample_images(label, 10)]
            assert app.api("POST", "/api/projects/shoes/examples", params={"label": label}, files=files).ok
        started = app.api("POST", "/api/projects/shoes/train", json={"strategy": "fine-tune", "epochs": 4})
        assert started.ok, started.text
        deadline = time.monotonic() + TRAINING_TIMEOUT
        while (app.api("GET", "/api/projects/shoes").json()["training"]["epoch"].get("done", 0) < 1
               and time.monotonic() < deadline):
            time.sleep(0.5)
        training = app.api("GET", "/api/projects/shoes").json()["training"]
        assert training["epoch"]["loss"] >= 0 and training["left"] is not None
        app.stop()  # the app stops its training as Ctrl-C would
    finally:
        app.stop()
    run = sorted(p for p in (projects / "shoes" / "runs").iterdir() if p.is_dir())[-1]
    assert not (run / "summary.json").exists() and not (projects / "shoes" / ".training.json").exists()

    again = App(projects)
    try:
        state = again.api("GET", f"/api/projects/shoes/runs/{run.name}").json()
        assert state == {"run": run.name, "finished": False, "resumable": True}
        assert again.api("POST", "/api/projects/shoes/train", json={"resume": run.name}).ok
        assert again.wait_trained("shoes")["state"] == "done"
        assert again.api("GET", f"/api/projects/shoes/runs/{run.name}").json()["finished"]
    finally:
        again.stop()

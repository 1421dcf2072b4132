"""The results page: rendered from a smoke run, opened in headless Chromium, tables and images in the DOM."""

import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bench.cli import main
from bench.core.registry import TABLES, known_names

SMOKE = ["--detector", "tiny", "--manipulation", "FaceSwap", "--profile", "smoke", "--quiet"]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


class Dom(HTMLParser):
    """Counts what the page shows: result tables, embedded images, run sections."""

    def __init__(self) -> None:
        super().__init__()
        self.tables, self.images, self.sections, self.runs = [], [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and "results" in (a.get("class") or ""):
            self.tables.append(a)
        elif tag == "img":
            self.images.append(a)
        elif tag == "section" and (a.get("id") or "").startswith("table-"):
            self.sections.append(a["id"].removeprefix("table-"))
        elif tag == "details" and (a.get("id") or "").startswith("run-"):
            self.runs.append(a["id"].removeprefix("run-"))


def parse(html: str) -> Dom:
    dom = Dom()
    dom.feed(html)
    return dom


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory):
    """A real smoke run (a two-level sweep of the frozen detector and the threshold remedy), then the report."""
    root = tmp_path_factory.mktemp("results")
    assert main(["sweep", "--method", "none,threshold", "--compression", "c23,c40,jpeg_q50",
                 "--results", str(root), *SMOKE]) == 0
    assert main(["report", "--results", str(root), *SMOKE]) == 0
    return root


def test_report_has_every_table_figure_and_run(smoke_report):
    html = (smoke_report / "report.html").read_text(encoding="utf-8")
    dom = parse(html)
    tables = [n for n in known_names(TABLES) if n in TABLES.module_dict]
    assert sorted(dom.sections) == sorted(tables) and dom.sections[:2] == ["cross_compression", "main"]
    runs = sorted(p.stem for p in (smoke_report / "runs").glob("*.json"))
    assert len(runs) == 6 and sorted(dom.runs) == runs
    assert all(img["src"].startswith("data:image/png;base64,") for img in dom.images)
    assert {"sweep_tiny_FaceSwap"} <= {img["alt"].split(",")[0] for img in dom.images} | {
        Path(p).stem for p in os.listdir(smoke_report / "figures")}
    record = json.loads((smoke_report / "runs" / f"{runs[0]}.json").read_text())
    assert record["versions"]["torch"] in html and "configuration (as the run resolved it)" in html
    assert "6 unaggregated rows" in html  # the sweep's CSV


def test_roman_numerals_order_the_tables():
    from bench.report.page import roman

    assert [roman(n) for n in ("I", "III", "IV", "IX", "X", "XI", "", "D1")] == [1, 3, 4, 9, 10, 11, 0, 0]


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run installs it in CI)")
    return exe


def run_chromium(exe: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.iterdir()))}"  # fresh each call
    return subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=180, check=False)


def test_report_in_headless_chromium(smoke_report, tmp_path):
    exe = chromium()
    url = (smoke_report / "report.html").resolve().as_uri()
    res = run_chromium(exe, tmp_path, "--dump-dom", url)
    assert res.returncode == 0, res.stderr[-2000:]
    dom = parse(res.stdout)
    n_tables = len([n for n in known_names(TABLES) if n in TABLES.module_dict])
    assert len(dom.sections) == n_tables and len(dom.tables) >= n_tables
    assert dom.images and all(i["src"].startswith("data:image/png") for i in dom.images)
    shot = tmp_path / "report.png"
    res = run_chromium(exe, tmp_path, f"--screenshot={shot}", "--window-size=1280,1800", url)
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a page, not a blank image
    keep = os.environ.get("BLEACHBENCH_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "report.png")

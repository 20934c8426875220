"""The HTML report in a real browser: headless Chromium renders the report of a committed result set
(results/paper_inductive_bias: 3 datasets, VAE-BGM and CTGAN, every technique) at 1,400 px and the
page must render, scroll no table or the page sideways, load every image and open with the Verdict.

Chromium is required, not optional: `make test` installs it (Makefile `chromium`); without it this
test fails instead of skipping.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from tabaug_ray.cli import main

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "paper_inductive_bias"
WIDTH = 1400

# Measures the rendered page once it has loaded (images included) and writes the figures into the DOM
# that `--dump-dom` prints. Injected into a copy of the report; the report itself has no script.
PROBE = """
<script>
window.addEventListener("load", () => {
  const doc = document.documentElement;
  const imgs = [...document.images];
  const scrollers = [...document.querySelectorAll("div.scroll")];
  const sections = [...document.querySelectorAll("section")];
  const top = el => el.getBoundingClientRect().top + window.scrollY;
  const out = {
    innerWidth: window.innerWidth, scrollWidth: doc.scrollWidth, height: doc.scrollHeight,
    text: document.body.innerText.length,
    images: imgs.length, broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt),
    wide: scrollers.filter(d => d.scrollWidth > d.clientWidth + 1)
                   .map(d => [d.previousElementSibling ? d.previousElementSibling.textContent : "", d.scrollWidth]),
    sections: sections.map(s => [s.id, top(s)]),
    first_h2: (document.querySelector("h2") || {}).textContent,
  };
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("chromium is not installed: `make test` installs it (apt-get install chromium); "
                    "the screenshot test does not skip")
    return path


def browse(html: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio",
           "--no-first-run", "--virtual-time-budget=10000", *args, html.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def report_html(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("shot") / "report.html"
    assert main(["report", str(RESULTS), "--metric", "js", "--metric", "accuracy", "--out", str(out)]) == 0
    return out


def test_html_report_renders_in_chromium_at_1400_px(report_html, tmp_path):
    probe_page = tmp_path / "probe.html"
    probe_page.write_text(report_html.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
                          encoding="utf-8")
    run = browse(probe_page, f"--window-size={WIDTH},1000", "--dump-dom")
    found = re.search(r'<pre id="probe">(.*?)</pre>', run.stdout, re.S)
    assert found, f"chromium printed no measurements (exit {run.returncode}): {run.stderr[-2000:]}"
    m = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<")
                   .replace("&gt;", ">"))
    assert m["innerWidth"] == WIDTH and m["text"] > 1000 and m["height"] > 2000  # the page rendered
    assert m["scrollWidth"] <= WIDTH, f"the page scrolls sideways at {WIDTH} px: {m['scrollWidth']} px wide"
    assert not m["wide"], f"tables wider than the page (horizontal scroll bars): {m['wide']}"
    assert m["images"] >= 3 and not m["broken"], f"images that did not load: {m['broken']}"
    ids = [s[0] for s in m["sections"]]
    assert ids[0] == "verdict" and m["first_h2"] == "Verdict", ids
    assert all(top > m["sections"][0][1] for _, top in m["sections"][1:])  # and it is the first on the page
    assert {"leaderboard", "results", "significance", "metrics", "diagnostics"} <= set(ids)
    # the screenshot a reader sees (kept next to the test's tmp files for a look)
    shot = tmp_path / "report.png"
    run = browse(report_html, f"--window-size={WIDTH},2400", f"--screenshot={shot}")
    assert shot.is_file(), f"no screenshot (exit {run.returncode}): {run.stderr[-2000:]}"
    assert png_size(shot) == (WIDTH, 2400) and shot.stat().st_size > 50_000

"""The HTML report: self-contained, renders in a real browser without errors, and says what summary.json says.

How the browser test works: headless Chromium (Debian's ``chromium``) opens a copy of the report with a
small probe script put first in its ``<head>``. The probe records every ``error`` event (script errors
and resources that fail to load), every ``console.error``, every Content-Security-Policy violation, then,
on ``load``, checks that each image is complete with a non-zero natural width, and lists the resources
the page fetched (data: URIs are not fetched; anything else would be the network). It writes its
findings as JSON into an attribute of ``<html>``, and ``--dump-dom`` prints the DOM after the load event.
Chromium's own log (``--enable-logging=stderr``) is read too: any ``CONSOLE`` line fails the test. A
second test feeds the same probe a page with a broken image and a console error, to show it can fail.

Without Chromium the browser tests are skipped, unless ``CI=true``, where they fail: CI installs it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import costsim_in_process

from sim.output.report import REPORT_FILE, WORKFLOW_FILE, number_paths, read_run, write_report

ROOT = Path(__file__).resolve().parents[1]
SUPPORT = ROOT / "workflows" / "support-agent.yaml"
COSTSIM = Path(sys.executable).parent / "costsim"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-extensions", "--enable-logging=stderr", "--v=0"]

PROBE = """<script>
(function () {
  var problems = [];
  window.addEventListener('error', function (e) {
    var target = e.target && e.target !== window ? (e.target.tagName + ' ' + (e.target.src || e.target.href)) : '';
    problems.push('error: ' + (e.message || target));
  }, true);
  window.addEventListener('securitypolicyviolation', function (e) {
    problems.push('blocked by the content security policy: ' + e.blockedURI);
  });
  var consoleError = console.error;
  console.error = function () {
    problems.push('console.error: ' + Array.prototype.join.call(arguments, ' '));
    consoleError.apply(console, arguments);
  };
  window.addEventListener('load', function () {
    var images = Array.prototype.slice.call(document.images);
    images.forEach(function (img) {
      if (!img.complete || img.naturalWidth === 0) { problems.push('image did not load: ' + img.alt); }
    });
    document.documentElement.setAttribute('data-probe', JSON.stringify({
      problems: problems,
      images: images.map(function (img) { return [img.alt, img.naturalWidth, img.naturalHeight]; }),
      fetched: performance.getEntriesByType('resource').map(function (r) { return r.name; })
    }));
  });
})();
</script>"""


def chromium() -> str:
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if found:
        return found
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail("chromium is not installed; CI must install it (.ci/run: apt-get install -y chromium)")
    pytest.skip("chromium is not installed (apt-get install chromium); with CI=true this fails instead")


def open_in_browser(page: Path, tmp_path: Path) -> tuple[dict, str, str]:
    """Load ``page`` (with the probe) in headless Chromium: (probe findings, DOM after load, Chromium's log)."""
    html = page.read_text(encoding="utf-8")
    assert "<head>" in html
    probed = tmp_path / f"probed-{page.name}"
    probed.write_text(html.replace("<head>", "<head>\n" + PROBE, 1), encoding="utf-8")
    profile = tmp_path / "chromium-profile"
    proc = subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom",
                           probed.as_uri()], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    dom = proc.stdout
    parser = _Elements()
    parser.feed(dom)
    assert parser.probe is not None, "the probe never ran: the load event did not fire\n" + proc.stderr[-3000:]
    return json.loads(parser.probe), dom, proc.stderr


class _Elements(HTMLParser):
    """Collects the probe's findings and every element with a data-key: key -> [(data-value, text)]."""

    def __init__(self) -> None:
        super().__init__()
        self.probe: str | None = None
        self.numbers: dict[str, list[tuple[str, str]]] = {}
        self._open: list[tuple[str, str, list[str]]] = []  # (tag, key, text parts)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html" and "data-probe" in attrs:
            self.probe = attrs["data-probe"]
        if "data-key" in attrs:
            self._open.append((tag, attrs["data-key"], [attrs["data-value"]]))

    def handle_data(self, data):
        for _, _, parts in self._open:
            parts.append(data)

    def handle_endtag(self, tag):
        if self._open and self._open[-1][0] == tag:
            _, key, (value, *text) = self._open.pop()
            self.numbers.setdefault(key, []).append((value, "".join(text)))


@pytest.fixture(scope="module")
def reported_run(tmp_path_factory):
    """``costsim run --report`` of the support agent, 1,200 tasks (enough for a p99), as a user runs it."""
    out = tmp_path_factory.mktemp("report") / "run"
    proc = subprocess.run([str(COSTSIM), "run", str(SUPPORT), "-n", "1200", "--seed", "11", "--out", str(out),
                           "--report", "--format", "json"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return out, json.loads(proc.stdout)


def test_run_keeps_the_workflow_as_run_and_the_plot_as_png_and_svg(reported_run):
    out, summary = reported_run
    assert (out / WORKFLOW_FILE).read_bytes() == SUPPORT.read_bytes()
    assert (out / "cost-per-task.png").read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in (out / "cost-per-task.svg").read_bytes()[:2000]
    assert json.loads((out / "summary.json").read_text()) == summary


def test_the_report_is_self_contained(reported_run):
    out, _ = reported_run
    html = (out / REPORT_FILE).read_text(encoding="utf-8")
    assert "<script" not in html and "<link" not in html and "@import" not in html and "url(" not in html
    sources = [part.split('"', 1)[0] for part in html.split(' src="')[1:]]
    assert len(sources) == 2  # the cost distribution and cost against success
    assert all(source.startswith("data:image/png;base64,") for source in sources)
    assert "default-src 'none'" in html  # and the browser is told to load nothing else


@pytest.fixture(scope="module")
def browser_view(reported_run, tmp_path_factory):
    """The report as headless Chromium saw it: (probe findings, DOM after load, Chromium's log)."""
    out, _ = reported_run
    return open_in_browser(out / REPORT_FILE, tmp_path_factory.mktemp("browser"))


def test_the_report_renders_in_a_browser_with_no_errors_and_every_image_loaded(browser_view):
    probe, _, log = browser_view
    assert probe["problems"] == []
    assert len(probe["images"]) == 2
    for alt, width, height in probe["images"]:
        assert width > 500 and height > 300, alt
    assert probe["fetched"] == []  # nothing came from the network
    assert [line for line in log.splitlines() if ":CONSOLE" in line] == []


def test_the_report_shows_every_number_exactly_as_summary_json_has_it(reported_run, browser_view):
    out, summary = reported_run
    _, dom, _ = browser_view
    parser = _Elements()
    parser.feed(dom)
    expected = number_paths(summary)
    assert len(expected) > 80 and "alternatives.2.cost_per_task.p99" in expected
    assert set(parser.numbers) == set(expected)  # every number of the file, and nothing that is not in it
    raw = (out / "summary.json").read_text()
    for path, value in expected.items():
        for shown_value, _text in parser.numbers[path]:
            assert shown_value == json.dumps(value), path
            assert shown_value in raw, path  # the very characters of summary.json
        # the "every number" table prints the exact value as its text
        assert json.dumps(value) in [text for _, text in parser.numbers[path]], path


def test_the_report_says_what_the_run_was(reported_run):
    out, summary = reported_run
    html = (out / REPORT_FILE).read_text(encoding="utf-8")
    assert "<h1>support-agent</h1>" in html
    assert "Classify the request, plan, call tools in a loop, answer." in html  # the workflow's description
    for entry in summary["alternatives"]:
        assert f"<b>{entry['name']}</b>" in html
    for key in ("costsim_version", "catalog", "prices_date", "created_utc"):
        assert f"<dt>{key}</dt>" in html and str(summary["metadata"][key]) in html
    assert "anthropic:claude-sonnet-4-6}" in html  # the workflow as run, verbatim (HTML-escaped where needed)


def test_the_probe_catches_broken_images_and_console_errors(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>'
                    '<img alt="broken" src="data:image/png;base64,AAAA"><script>console.error("boom")</script>'
                    "</body></html>", encoding="utf-8")
    probe, _, log = open_in_browser(page, tmp_path)
    assert "image did not load: broken" in probe["problems"]
    assert "console.error: boom" in probe["problems"]
    assert any(":CONSOLE" in line and "boom" in line for line in log.splitlines())


def test_the_same_run_gives_the_same_report_bytes(reported_run, tmp_path):
    out, _ = reported_run
    first, second = write_report(out, tmp_path / "a.html"), write_report(out, tmp_path / "b.html")
    assert first.read_bytes() == second.read_bytes() == (out / REPORT_FILE).read_bytes()



def test_report_command_writes_where_asked(reported_run, tmp_path, monkeypatch, capsys):
    out, _ = reported_run
    target = tmp_path / "a-long-folder-name-so-that-the-path-is-longer-than-eighty-columns" / "elsewhere.html"
    code, stdout, stderr = costsim_in_process(monkeypatch, capsys, "report", out, "--out", target)
    assert code == 0, stderr
    assert stdout == "" and stderr == f"wrote {target}\n"  # one line, however long: paths get copied
    assert target.read_bytes() == (out / REPORT_FILE).read_bytes()


def test_a_folder_without_a_workflow_copy_still_reports(tmp_path):
    from conftest import run, workflow

    from sim.output.rundir import write_run_folder

    folder = tmp_path / "from-python"
    write_run_folder(run(workflow([{"id": "a", "llm": "main", "output": 100}]), 30), folder, plot=False)
    html = write_report(folder).read_text(encoding="utf-8")
    assert f"holds no {WORKFLOW_FILE}" in html
    assert read_run(folder).workflow_text is None


@pytest.mark.parametrize("setup, message", [
    (lambda p: None, "{p}: no such folder"),
    (lambda p: p.write_text("x"), "{p}: is a file; give a run folder (what costsim run or write_run_folder writes)"),
    (lambda p: p.mkdir(), "{p}: not a costsim run folder (no .costsim-run, which costsim run and write_run_folder "
                          "write with a complete run); give a run folder, or run the workflow again"),
], ids=["missing", "a-file", "empty-folder"])
def test_report_of_something_else_is_a_clean_error(tmp_path, setup, message, monkeypatch, capsys):
    target = tmp_path / "target"
    setup(target)
    code, stdout, stderr = costsim_in_process(monkeypatch, capsys, "report", target)
    assert code == 2 and stdout == ""
    assert stderr == f"error: {message.format(p=target)}\n"


def test_a_one_alternative_run_with_markup_in_its_name(tmp_path):
    from conftest import run, workflow

    from sim.output.rundir import write_run_folder
    from sim.stats.summary import summarize

    wf = workflow([{"id": "a", "llm": "main", "output": 100}], name='<b>"odd" & co</b>')
    result = run(wf, 50)
    summary = summarize(result)
    write_run_folder(result, tmp_path / "run", summary=summary, plot=False)
    html = write_report(tmp_path / "run").read_text(encoding="utf-8")
    assert html.count("<img ") == 1  # no cost-against-success plot for a single alternative
    assert "<h1>&lt;b&gt;&quot;odd&quot; &amp; co&lt;/b&gt;</h1>" in html and '<b>"odd"' not in html
    assert "too few tasks" in html  # p90 to p99 of 50 tasks are null in summary.json


def test_a_run_with_traffic_reports_its_latency_and_bill(tmp_path):
    from conftest import run, workflow

    from sim.output.rundir import write_run_folder
    from sim.stats.summary import summarize

    wf = workflow([{"id": "answer", "llm": "main", "output": {"lognormal": {"median": 300, "sigma": 0.5}}}],
                  alternatives={"mini": {"main": "openai:gpt-4.1-mini"}}, traffic={"tasks_per_day": 300, "days": 1})
    result = run(wf, 1, replications=6)
    summary = summarize(result, budget_usd=1.0)
    write_run_folder(result, tmp_path / "run", summary=summary, plot=False)
    html = write_report(tmp_path / "run").read_text(encoding="utf-8")
    assert html.count("<img ") == 3  # cost distribution, cost against success, the bill's spread
    assert '<table id="time">' in html and '<table id="bill">' in html and "P(bill &gt; $1)" in html
    assert "6</span> replications of" in html
    parser = _Elements()
    parser.feed(html)
    expected = number_paths(summary)
    assert {"alternatives.1.bill.p95", "alternatives.0.latency_s.p50", "traffic.tasks_per_day"} <= set(expected)
    assert set(parser.numbers) == set(expected)
    for path, value in expected.items():
        assert all(shown == json.dumps(value) for shown, _ in parser.numbers[path]), path

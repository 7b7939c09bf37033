"""The studio (issue #16, docs/STUDIO.md): its serving and login rules over REST, and every page
in a real Chromium (Debian's, driven by Playwright) against a real server with real runs.

Screenshots of each page go to $TRAINYARD_TEST_ARTIFACTS/studio (default
build/test-artifacts/studio). The browser tests skip only when no chromium binary exists.
"""
import http.client as httpclient
import io
import json
import os
import shutil
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from e2e_util import REPO, http, wait_for

CHROMIUM = os.environ.get("TRAINYARD_CHROMIUM") or shutil.which("chromium") or \
    shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("TRAINYARD_TEST_ARTIFACTS") or REPO / "build" / "test-artifacts")
SHOTS = ARTIFACTS / "studio"


# ----- helpers ---------------------------------------------------------------------------------
def raw(server, method, path, headers=None, body=None):
    """One request without following redirects: (status, headers as a list, body)."""
    u = urllib.parse.urlsplit(server.url)
    c = httpclient.HTTPConnection(u.hostname, u.port, timeout=30)
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    h = dict(headers or {})
    if isinstance(body, (dict, list)):
        h["Content-Type"] = "application/json"
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    out = (r.status, r.getheaders(), r.read())
    c.close()
    return out


def header(headers, name):
    for k, v in headers:
        if k.lower() == name.lower():
            return v
    return None


def login_link(server, next_path=None):
    body = {"next": next_path} if next_path else {}
    status, _, data = http("POST", server.url + "/api/v1/studio/login-links", body,
                           token=server.token)
    assert status == 201, data
    return json.loads(data)["url"]


def session_cookie(server):
    """Logs in with a one-time link; returns (cookie header value, csrf token)."""
    url = urllib.parse.urlsplit(login_link(server))
    status, headers, _ = raw(server, "GET", url.path + "?" + url.query)
    assert status == 303
    cookie = header(headers, "Set-Cookie").split(";")[0]
    status, _, data = raw(server, "GET", "/api/v1/studio/session", {"Cookie": cookie})
    assert status == 200, data
    return cookie, json.loads(data)["csrf_token"]


@pytest.fixture(scope="module")
def live_run(server):
    """An interactive run that stays Running while the module's tests use it."""
    from trainyard.core import Experiment, Workspace
    run = Experiment(Workspace.from_config(), "studio-live").start_logging()
    run.tag("team", "blue")
    run.log("warmup", 0.5)
    run.flush()
    yield run
    if run.get_status() not in ("Completed", "Failed", "Canceled"):
        run.complete()


# ----- serving and login over REST ------------------------------------------------------------
def test_pages_are_served_without_a_token_and_data_is_not(server, completed_run):
    status, headers, body = raw(server, "GET", "/")
    assert status == 200, body[:300]
    assert header(headers, "Content-Type").startswith("text/html")
    assert b"/assets/app.js" in body
    assert "default-src 'self'" in header(headers, "Content-Security-Policy")
    status, headers, body = raw(server, "GET", "/assets/app.js")
    assert status == 200 and header(headers, "Content-Type").startswith("text/javascript")
    # The portal URL of a run: the page for a browser, the run JSON with a token.
    portal = urllib.parse.urlsplit(completed_run.get_portal_url()).path
    assert portal == "/runs/" + completed_run.id
    status, headers, body = raw(server, "GET", portal)
    assert status == 200 and b"/assets/app.js" in body
    status, _, body = raw(server, "GET", portal, {"Authorization": "Bearer " + server.token})
    assert status == 200 and json.loads(body)["id"] == completed_run.id
    # Data needs credentials.
    status, _, body = raw(server, "GET", "/api/v1/experiments")
    assert status == 401
    status, _, _ = raw(server, "GET", "/assets/..%2f..%2fconfig.json")
    assert status == 404
    status, _, _ = raw(server, "GET", "/assets/nope.js")
    assert status == 404


def test_login_link_is_one_time_and_sets_a_strict_httponly_cookie(server):
    url = urllib.parse.urlsplit(login_link(server, "/experiments"))
    status, headers, _ = raw(server, "GET", url.path + "?" + url.query)
    assert status == 303
    assert header(headers, "Location") == "/experiments"
    cookie = header(headers, "Set-Cookie")
    assert cookie.startswith("trainyard_studio_%d=" % server.port)
    attrs = [a.strip().lower() for a in cookie.split(";")]
    assert "httponly" in attrs and "samesite=strict" in attrs and "path=/" in attrs
    # Used once: the second visit logs nobody in.
    status, headers, _ = raw(server, "GET", url.path + "?" + url.query)
    assert status == 303 and header(headers, "Location") == "/login?error=expired"
    assert header(headers, "Set-Cookie") is None
    # A made-up token neither.
    status, headers, _ = raw(server, "GET", "/login?token=" + "ab" * 24)
    assert status == 303 and header(headers, "Set-Cookie") is None
    # The cookie reads the API.
    status, _, body = raw(server, "GET", "/api/v1/experiments",
                          {"Cookie": cookie.split(";")[0]})
    assert status == 200, body


def test_login_link_rules(server, live_run):
    status, _, body = http("POST", server.url + "/api/v1/studio/login-links",
                           {"next": "//evil.example/x"}, token=server.token)
    assert status == 400 and b"next must be a path" in body
    status, _, body = http("POST", server.url + "/api/v1/studio/login-links", {})
    assert status == 401
    # A run token may not mint studio logins (it is not the workspace).
    status, _, body = http("POST", server.url + "/api/v1/runs/%s/token" % live_run.id, {},
                           token=server.token)
    assert status == 201, body
    run_token = json.loads(body)["token"]
    status, _, body = http("POST", server.url + "/api/v1/studio/login-links", {},
                           token=run_token)
    assert status == 403, body


def test_pasted_token_login_and_csrf_rules_for_cookie_writes(server, live_run):
    path = "/api/v1/studio/session"
    # A cross-site form cannot add the custom header: refused before the token is looked at.
    status, _, body = raw(server, "POST", path, {}, {"token": server.token})
    assert status == 403 and b"X-Trainyard-Studio" in body
    status, _, body = raw(server, "POST", path, {"X-Trainyard-Studio": "1"}, {"token": "nope"})
    assert status == 401
    status, headers, body = raw(server, "POST", path, {"X-Trainyard-Studio": "1"},
                                {"token": server.token})
    assert status == 200, body
    cookie = header(headers, "Set-Cookie").split(";")[0]
    status, _, body = raw(server, "GET", path, {"Cookie": cookie})
    csrf = json.loads(body)["csrf_token"]
    assert len(csrf) >= 32

    tags = "/api/v1/runs/%s/tags" % live_run.id
    # A cookie write without the CSRF header, or with a wrong one: 403, nothing changed.
    status, _, body = raw(server, "PATCH", tags, {"Cookie": cookie}, {"csrf": "no"})
    assert status == 403 and b"X-Trainyard-CSRF" in body
    status, _, body = raw(server, "PATCH", tags, {"Cookie": cookie, "X-Trainyard-CSRF": "x" * 48},
                          {"csrf": "no"})
    assert status == 403
    assert "csrf" not in live_run.get_tags()
    status, _, body = raw(server, "PATCH", tags, {"Cookie": cookie, "X-Trainyard-CSRF": csrf},
                          {"csrf": "yes"})
    assert status == 200, body
    assert live_run.get_tags()["csrf"] == "yes"
    # REST keeps Bearer tokens: no CSRF header needed, and a cookie is not needed.
    status, _, body = raw(server, "PATCH", tags, {"Authorization": "Bearer " + server.token},
                          {"bearer": "1"})
    assert status == 200, body
    # Logout ends the session.
    status, _, _ = raw(server, "POST", "/api/v1/studio/logout",
                       {"Cookie": cookie, "X-Trainyard-CSRF": csrf})
    assert status == 200
    status, _, _ = raw(server, "GET", "/api/v1/experiments", {"Cookie": cookie})
    assert status == 401


def test_events_park_until_the_run_changes(server, live_run):
    cookie, _ = session_cookie(server)
    path = "/api/v1/studio/runs/%s/events" % live_run.id
    status, headers, body = raw(server, "GET", path, {"Cookie": cookie})
    assert status == 200 and header(headers, "Content-Type") == "text/event-stream"
    text = body.decode()
    event_id = [ln[4:] for ln in text.splitlines() if ln.startswith("id: ")][0]
    data = json.loads([ln[6:] for ln in text.splitlines() if ln.startswith("data: ")][0])
    assert data["status"] == "Running" and data["metrics"]["warmup"] >= 1

    def later():
        time.sleep(0.7)
        live_run.log("evented", 3.0)
        live_run.flush()
    t = threading.Thread(target=later)
    t0 = time.time()
    t.start()
    status, _, body = raw(server, "GET", path, {"Cookie": cookie, "Last-Event-ID": event_id})
    waited = time.time() - t0
    t.join()
    assert status == 200
    assert 0.6 < waited < 5, waited  # parked until the metric, then answered at once
    assert '"evented":1' in body.decode()


def test_run_details_terminal_table(server, ws):
    from trainyard.core import Experiment
    from trainyard.widgets import RunDetails
    import azureml.widgets
    assert azureml.widgets.RunDetails is RunDetails
    run = Experiment(ws, "studio-widget").start_logging()
    run.log("acc", 0.25)
    run.log("acc", 0.75)
    child = run.child_run()
    child.log("loss", 0.1)
    child.complete()
    run.flush()
    out = io.StringIO()
    threading.Timer(1.5, run.complete).start()
    RunDetails(run).show(out=out, poll_seconds=0.2)
    text = out.getvalue()
    assert "Web View: " + run.get_portal_url() in text
    assert "Running" in text and "acc=0.75" in text and "Completed" in text
    assert "child " + child.id in text and "loss=0.1" in text
    data = RunDetails(run).get_widget_data()
    assert data["run"]["status"] == "Completed" and data["metrics"]["acc"] == 0.75
    assert RunDetails(run).login_url().startswith(server.url + "/login?token=")


def test_cli_ui_prints_a_one_time_link_to_a_run(server, live_run, trainyard_binary):
    import subprocess
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    p = subprocess.run([trainyard_binary, "ui", "--run", live_run.id], cwd=server.project_dir,
                       env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    url = [w for w in p.stdout.split() if w.startswith(server.url + "/login?token=")][0]
    u = urllib.parse.urlsplit(url)
    status, headers, _ = raw(server, "GET", u.path + "?" + u.query)
    assert status == 303 and header(headers, "Location") == "/runs/" + live_run.id
    assert header(headers, "Set-Cookie")

def test_up_prints_the_studio_url(tmp_path, trainyard_binary):
    import subprocess
    from e2e_util import free_port
    env = {k: v for k, v in os.environ.items() if k != "TRAINYARD_CONFIG"}
    port = free_port()
    run = lambda *a: subprocess.run([trainyard_binary] + list(a), cwd=tmp_path, env=env,
                                    capture_output=True, text=True, timeout=60)
    p = run("init", "--dir", str(tmp_path), "--port", str(port))
    assert p.returncode == 0, p.stderr
    try:
        p = run("up", "--dir", str(tmp_path))
        assert p.returncode == 0, p.stderr
        assert "studio: http://127.0.0.1:%d/" % port in p.stdout, p.stdout
        status, _, body = http("GET", "http://127.0.0.1:%d/" % port)
        assert status == 200 and b"/assets/app.js" in body
    finally:
        run("down", "--dir", str(tmp_path))


def test_cli_ui_names_a_stopped_server(tmp_path, trainyard_binary):
    import subprocess
    from e2e_util import free_port
    (tmp_path / ".trainyard").mkdir()
    url = "http://127.0.0.1:%d" % free_port()
    (tmp_path / ".trainyard" / "config.json").write_text(json.dumps(
        {"name": "w", "server_url": url, "token": "t", "data_dir": str(tmp_path)}))
    env = {k: v for k, v in os.environ.items() if k != "TRAINYARD_CONFIG"}
    p = subprocess.run([trainyard_binary, "ui", "--no-browser"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert url in p.stderr and "trainyard up" in p.stderr, p.stderr


def test_run_details_notebook_html_escapes_and_links(server, live_run):
    from trainyard.widgets import RunDetails, _in_notebook
    assert not _in_notebook()  # no kernel here: show() takes the terminal path
    live_run.tag("<b>x</b>", "1")
    w = RunDetails(live_run)
    data = w.get_widget_data()
    data["metrics"]["<script>"] = "<img src=x onerror=alert(1)>"
    html_text = w._html(data, "http://h/login?token=t&next=/runs/x")
    assert "<script>" not in html_text and "&lt;script&gt;" in html_text
    assert "<img" not in html_text
    assert "href='http://h/login?token=t&amp;next=/runs/x'" in html_text
    assert live_run.id in html_text and "Running" in html_text


# ----- the browser ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM:
        pytest.skip("no chromium binary (apt install chromium; scripts/install.sh does): the "
                    "studio browser tests need it")
    from playwright.sync_api import sync_playwright
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    ctx = browser.new_context(viewport={"width": 1300, "height": 900}, accept_downloads=True)
    pg = ctx.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.set_default_timeout(15000)
    yield pg
    ctx.close()
    assert not errors, errors


def shot(pg, name):
    pg.screenshot(path=str(SHOTS / (name + ".png")), full_page=True)


def test_browser_login_by_pasted_token_then_experiments(page, server, completed_run):
    page.goto(server.url + "/experiments")
    page.wait_for_url("**/login?next=*")
    page.get_by_label("Workspace token").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("alert").wait_for()
    assert "not this workspace's token" in page.get_by_role("alert").inner_text()
    page.get_by_label("Workspace token").fill(server.token)
    page.keyboard.press("Enter")  # keyboard works
    page.get_by_role("heading", name="Experiments").wait_for()
    page.get_by_role("link", name=completed_run.experiment.name).wait_for()
    assert page.title() == "Experiments · Trainyard studio"
    shot(page, "experiments")
    cookies = page.context.cookies()
    c = [c for c in cookies if c["name"].startswith("trainyard_studio_")][0]
    assert c["httpOnly"] and c["sameSite"] == "Strict"


def test_browser_run_page_of_a_finished_run_and_download(page, server, completed_run):
    page.goto(login_link(server, "/runs/" + completed_run.id))
    page.wait_for_url("**/runs/" + completed_run.id)
    page.locator("#run-status").get_by_text("Completed").wait_for()
    # Properties/attributes, arguments, logs, metric charts, files.
    page.get_by_role("heading", name="Overview").wait_for()
    page.locator("figure.chart[data-metric=loss][data-count='5'] canvas").first.wait_for()
    page.locator("figure.chart[data-metric=answer]").wait_for()
    wait_for(lambda: "hello from job.py" in page.locator("#log").inner_text(), timeout=15,
             what="the driver log on the page")
    link = page.get_by_role("link", name="outputs/hello.txt")
    with page.expect_download() as dl:
        link.click()
    path = dl.value.path()
    assert Path(path).read_text() == "hello outputs"
    # The snapshot: the submitted files, the .amlignore'd one absent.
    page.get_by_text("Snapshot (source files as submitted)").click()
    snap = page.get_by_role("table", name="Snapshot files")
    snap.get_by_role("link", name="job.py").wait_for()
    assert "secret.txt" not in snap.inner_text()
    with page.expect_download() as dl:
        snap.get_by_role("link", name="helper.py").click()
    assert Path(dl.value.path()).read_text() == "X = 1\n"
    # Accessibility basics: every form control has a name, every image an alt text.
    unnamed = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
        .map(e => e.outerHTML)""")
    assert unnamed == [], unnamed
    assert page.evaluate("document.querySelectorAll('img:not([alt])').length") == 0
    shot(page, "run-completed")
    # Zoom: the chart refetches the range; log scale redraws; nothing throws.
    page.get_by_label("Log scale for loss").check()
    page.locator("figure.chart[data-metric=loss] canvas").first.wait_for()


def test_browser_live_log_and_metric_arrive_on_an_open_run_page(page, server, live_run):
    page.goto(login_link(server, "/runs/" + live_run.id))
    page.locator("#run-status").get_by_text("Running").wait_for()
    page.locator("#run-tags").get_by_text("blue").wait_for()
    page.locator("figure.chart[data-metric=warmup]").wait_for()
    # A new log line: appended by the agent's route, shown without a reload.
    t0 = time.time()
    status, _, body = http("POST", server.url + "/api/v1/runs/%s/logs/azureml-logs/"
                           "70_driver_log.txt" % live_run.id, b"a live log line\n",
                           token=server.token)
    assert status == 200, body
    page.locator("#log").get_by_text("a live log line").wait_for(timeout=5000)
    log_seconds = time.time() - t0
    # A new metric: a chart appears, then grows.
    t0 = time.time()
    live_run.log("live_metric", 1.5)
    live_run.flush()
    page.locator("figure.chart[data-metric=live_metric][data-count='1']").wait_for(timeout=5000)
    metric_seconds = time.time() - t0
    for i in range(3):
        live_run.log("live_metric", 2.0 + i)
    live_run.flush()
    page.locator("figure.chart[data-metric=live_metric][data-count='4']").wait_for(timeout=5000)
    assert log_seconds < 3 and metric_seconds < 3, (log_seconds, metric_seconds)
    # Rows, a table, a confusion matrix and an image arrive live too.
    png = SHOTS / "pixel.png"
    import base64
    png.write_bytes(base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="))
    live_run.log_row("per_epoch", epoch=1, loss=0.5)
    live_run.log_row("per_epoch", epoch=2, loss=0.25)
    live_run.log_table("tbl", {"a": [1, 2], "b": ["x", "y"]})
    live_run.log_confusion_matrix("cm", {"schema_type": "confusion_matrix",
                                         "schema_version": "1.0.0",
                                         "data": {"class_labels": ["0", "1"],
                                                  "matrix": [[5, 1], [2, 7]]}})
    live_run.log_image("pixel", path=str(png))
    live_run.flush()
    page.get_by_role("table", name="per_epoch").get_by_text("0.25").wait_for(timeout=5000)
    page.get_by_role("table", name="tbl").get_by_text("y").wait_for()
    cm = page.get_by_role("table", name="cm")
    assert cm.locator("tbody tr").nth(1).locator("td").all_inner_texts() == ["2", "7"]
    img = page.get_by_role("img", name="pixel")
    img.wait_for()
    img.scroll_into_view_if_needed()  # images load lazily, when near the viewport
    wait_for(lambda: img.evaluate("i => i.complete && i.naturalWidth") == 1, timeout=5,
             what="the logged image loaded")
    # A tag added on the page is a cookie write with the CSRF header.
    # By keyboard: type the name, Tab to the value, Enter submits.
    page.locator("#tag-key").focus()
    page.keyboard.type("from_ui")
    page.keyboard.press("Tab")
    page.keyboard.type("yes")
    page.keyboard.press("Enter")
    page.locator("#run-tags").get_by_text("from_ui").wait_for()
    assert live_run.get_tags()["from_ui"] == "yes"
    shot(page, "run-live")


def test_browser_runs_table_sort_filter_page_and_bulk_tag(page, server, ws):
    from trainyard.core import Experiment
    exp = Experiment(ws, "studio-table")
    if not list(exp.get_runs()):
        for i in range(55):
            r = exp.start_logging()
            r.log("score", float(i))
            r.add_properties({"lr": str(i % 3)})
            r.complete()
    page.goto(login_link(server, "/experiments/studio-table"))
    rows = page.locator("table.runs tbody tr")
    rows.first.wait_for()
    assert rows.count() == 50
    page.get_by_text("runs 1–50 of 55").wait_for()
    # Server-side sort by the metric column (the default columns include it).
    page.get_by_role("button", name="metrics.score").click()
    page.locator("th[aria-sort=descending]").wait_for()
    wait_for(lambda: rows.first.locator("td.num").first.inner_text() == "54", timeout=10,
             what="descending score first")
    page.get_by_role("button", name="metrics.score").click()
    wait_for(lambda: rows.first.locator("td.num").first.inner_text() == "0", timeout=10,
             what="ascending score first")
    page.get_by_role("button", name="Next →").click()
    page.get_by_text("runs 51–55 of 55").wait_for()
    # Filter (server-side grammar).
    page.get_by_label("Filter").fill("metrics.score >= 50 and params.lr = '2'")
    page.get_by_role("button", name="Apply").click()
    page.get_by_text("runs 1–2 of 2").wait_for()
    shot(page, "runs")
    # Bulk tag the filtered runs (a cookie write with the CSRF header).
    page.get_by_label("Select all runs on this page").check()
    page.get_by_label("Tag name").fill("picked")
    page.get_by_label("Tag value").fill("y")
    page.get_by_role("button", name="Tag selected").click()
    page.get_by_text("Tagged 2 run(s).").wait_for()
    picked = [r for r in exp.get_runs() if r.get_tags().get("picked") == "y"]
    assert len(picked) == 2
    assert all(r.get_metrics()["score"] >= 50 for r in picked)
    # Compare two runs whose lr differs: the diff marks it, the metric is overlaid.
    page.goto(server.url + "/experiments/studio-table?filter=" +
              urllib.parse.quote("metrics.score >= 53"))
    page.get_by_text("runs 1–2 of 2").wait_for()
    page.get_by_label("Select all runs on this page").check()
    page.get_by_role("button", name="Compare selected").click()
    page.get_by_role("heading", name="Compare 2 runs").wait_for()
    page.locator("figure.chart[data-metric=score] canvas").first.wait_for()
    page.get_by_label("only rows that differ").check()
    differs = page.locator("table[aria-label='Run comparison'] tbody tr th").all_inner_texts()
    assert differs == ["params.lr", "tags.picked"], differs  # run 53 was tagged above, 54 not
    shot(page, "compare")


def test_browser_runs_table_is_live(page, server, ws):
    from trainyard.core import Experiment
    exp = Experiment(ws, "studio-table-live")
    first = exp.start_logging()
    page.goto(login_link(server, "/experiments/studio-table-live"))
    row = page.locator("tr[data-run='%s']" % first.id)
    row.get_by_text("Running").wait_for()
    page.get_by_text("runs 1–1 of 1").wait_for()
    # A new run appears, a status change shows, a metric column fills: no reload, no click.
    second = exp.start_logging()
    page.locator("tr[data-run='%s']" % second.id).wait_for(timeout=5000)
    page.get_by_text("runs 1–2 of 2").wait_for(timeout=5000)
    first.log("acc", 0.5)
    first.complete()
    row.get_by_text("Completed").wait_for(timeout=5000)
    second.complete()


def test_browser_service_test_form(page, server, ws, tmp_path, plain_env):
    import e2e_util
    from trainyard.core import Model
    from trainyard.core.model import InferenceConfig
    from trainyard.core.webservice import AciWebservice
    (tmp_path / "m.txt").write_text("weights\n")
    model = Model.register(ws, model_path=str(tmp_path / "m.txt"), model_name="studio-echo")
    src = tmp_path / "svc"
    e2e_util.write_script(src, "score.py", """
        import json

        def init():
            pass

        def run(raw_data):
            return {"rows": len(json.loads(raw_data)["data"]), "echo": raw_data}
        """)
    service = Model.deploy(ws, "studio-echo", [model], InferenceConfig(
        entry_script="score.py", source_directory=str(src), environment=plain_env),
        AciWebservice.deploy_configuration(auth_enabled=True))
    service.wait_for_deployment()
    try:
        assert service.state == "Healthy", service.get_logs()
        page.goto(login_link(server, "/services"))
        page.get_by_role("button", name="Test studio-echo").click()
        page.get_by_label("Request body (JSON)").fill('{"data": [[1, 2], [3, 4]]}')
        page.get_by_role("button", name="Score").click()
        page.locator("#score-result").get_by_text('"rows": 2').wait_for(timeout=15000)
        assert page.locator("#score-result").inner_text().startswith("200")
        # The key was never sent to the page.
        assert service.get_keys()[0] not in page.content()
        shot(page, "service-test")
        # Without the CSRF header a cookie write is refused.
        c = [c for c in page.context.cookies() if c["name"].startswith("trainyard_studio_")][0]
        status, _, _ = raw(server, "POST", "/api/v1/studio/services/studio-echo/score",
                           {"Cookie": "%s=%s" % (c["name"], c["value"])}, {"data": []})
        assert status == 403
    finally:
        service.delete()


def test_browser_workspace_pages(page, server, completed_run, ws, tmp_path):
    from trainyard.core import Dataset, Model
    if not list(Model.list(ws, name="studio-model")):
        completed_run.register_model("studio-model", "outputs/hello.txt",
                                     tags={"stage": "test"})
    csv = tmp_path / "people.csv"
    csv.write_text("name,age,score\nann,31,0.5\nbob,,0.75\ncid,45,1.25\n")
    Dataset.Tabular.from_delimited_files(path=str(csv)).register(
        ws, "studio-people", create_new_version=True)
    page.goto(login_link(server, "/models"))
    page.get_by_role("link", name="studio-model").wait_for()
    shot(page, "models")
    page.get_by_role("link", name="studio-model").click()
    page.get_by_role("heading", name="Model studio-model").wait_for()
    page.get_by_role("link", name=completed_run.id).wait_for()  # lineage to the run
    shot(page, "model")
    for path, heading in (("/datasets", "Datasets"), ("/environments", "Environments"),
                          ("/services", "Services"), ("/compute", "Compute targets")):
        page.get_by_role("navigation", name="Main").get_by_role(
            "link", name=heading.split()[0]).click()
        page.wait_for_url("**" + path)
        page.get_by_role("heading", name=heading).wait_for()
        shot(page, path.strip("/"))
        if path == "/datasets":  # a tabular dataset's profile (POST /dataset-rows, CSRF)
            page.get_by_role("button", name="studio-people").click()
            cols = page.get_by_role("table", name="Columns")
            cols.wait_for()
            text = cols.inner_text()
            assert "age" in text and "int" in text and "score" in text and "float" in text
            age = cols.locator("tr", has_text="age").locator("td").all_inner_texts()
            assert age[2:6] == ["1", "31", "45", "38"], age  # missing, min, max, mean
            shot(page, "dataset-profile")
    # Curated environments are listed.
    page.get_by_role("link", name="Environments").click()
    page.get_by_role("table", name="Environments").wait_for()
    # Back to a run's page without a reload (client-side navigation keeps the document).
    page.evaluate("window.__marker = 1")
    page.get_by_role("link", name="Experiments").click()
    page.get_by_role("link", name=completed_run.experiment.name).click()
    page.locator("table.runs tbody tr").first.wait_for()
    assert page.evaluate("window.__marker") == 1


def test_browser_hyperdrive_leaderboard(page, server, ws, plain_env, tmp_path):
    import e2e_util
    import trainyard.train.hyperdrive as h
    from trainyard.core import Experiment, ScriptRunConfig
    src = tmp_path / "hd"
    e2e_util.write_script(src, "train.py", """
        import argparse
        from azureml.core.run import Run
        p = argparse.ArgumentParser()
        p.add_argument("--lr", type=float)
        a = p.parse_args()
        run = Run.get_context()
        for i in range(3):
            run.log("Accuracy", a.lr * (i + 1))
        """)
    cfg = ScriptRunConfig(source_directory=str(src), script="train.py", environment=plain_env)
    hdc = h.HyperDriveConfig(run_config=cfg, hyperparameter_sampling=h.GridParameterSampling(
        {"--lr": h.choice(0.1, 0.3, 0.2)}), primary_metric_name="Accuracy",
        primary_metric_goal=h.PrimaryMetricGoal.MAXIMIZE, max_total_runs=3,
        max_concurrent_runs=3)
    run = Experiment(ws, "studio-hd").submit(hdc)
    page.goto(login_link(server, "/runs/" + run.id))  # open while it runs: it completes live
    run.wait_for_completion()
    page.locator("#run-status").get_by_text("Completed").wait_for(timeout=20000)
    board = page.get_by_role("table", name="Leaderboard")
    board.wait_for()
    page.get_by_text("Primary metric:").wait_for()
    best = run.get_best_run_by_primary_metric()
    rows = board.locator("tbody tr")
    # The star follows the sweep's best_child_run_id tag, set after the last child: live.
    wait_for(lambda: rows.count() == 3 and rows.first.get_attribute("data-run") == best.id
             and "★" in rows.first.inner_text(), timeout=15,
             what="the best child first in the leaderboard, starred")
    assert "0.3" in rows.first.inner_text()
    assert rows.first.locator("td.num").first.inner_text() == "0.9"  # 0.3 * 3, latest value
    # Parallel coordinates: an axis for --lr and one for Accuracy, a line per child.
    svg = page.get_by_role("img", name="Parallel coordinates of the child runs")
    assert svg.locator("polyline").count() == 3
    assert svg.locator("polyline[data-run='%s']" % best.id).get_attribute("stroke") == "#16a34a"
    labels = svg.text_content()
    assert "--lr" in labels and "Accuracy" in labels, labels
    shot(page, "hyperdrive")


def test_browser_automl_leaderboard_and_explanation(page, server, ws, tmp_path):
    import e2e_util
    from trainyard.train.automl import AutoMLConfig
    from trainyard.core import Experiment
    # Three classes in four features, standard library only (no scikit-learn needed).
    e2e_util.write_script(tmp_path, "get_data.py", """
        import random

        def get_data():
            rnd = random.Random(3)
            X, y = [], []
            for i in range(90):
                c = i % 3
                X.append([c + rnd.gauss(0, 0.4), rnd.gauss(0, 1), 2 * c + rnd.gauss(0, 0.8),
                          rnd.random()])
                y.append(c)
            return {"X": X, "y": y}
        """)
    X_valid = [[0.1, 0.0, 0.2, 0.5], [1.0, 0.3, 2.1, 0.1], [2.1, -0.2, 3.9, 0.7],
               [0.9, 1.0, 1.8, 0.2], [1.9, 0.1, 4.2, 0.9]]
    cfg = AutoMLConfig(task="classification", path=str(tmp_path), compute_target="local",
                       data_script=str(tmp_path / "get_data.py"), iterations=3,
                       n_cross_validations=2, primary_metric="accuracy", preprocess=False,
                       max_concurrent_iterations=2, model_explainability=True, X_valid=X_valid)
    run = Experiment(ws, "studio-automl").submit(cfg)
    page.goto(login_link(server, "/runs/" + run.id))
    run.wait_for_completion()
    page.locator("#run-status").get_by_text("Completed").wait_for(timeout=30000)
    board = page.get_by_role("table", name="Leaderboard")
    board.wait_for()
    wait_for(lambda: board.locator("tbody tr").count() >= 3, timeout=15, what="3 iterations")
    best = run.get_output()[0]
    assert board.locator("tbody tr").first.get_attribute("data-run") == best.id
    header = board.locator("thead").inner_text()
    assert "Algorithm" in header and "Score" in header
    # The explanation: global importance bars, per class, one row's SHAP values.
    page.get_by_role("heading", name="Model explanation").wait_for(timeout=15000)
    glob = page.get_by_role("list", name="Global importance")
    assert glob.locator("li").count() == 4  # iris has 4 features
    page.get_by_label("Class", exact=True).select_option(index=2)
    page.get_by_role("list", name="Importance for class 2").wait_for()
    page.get_by_label("Row", exact=True).select_option("4")
    page.get_by_role("list", name="SHAP values of row 4").wait_for()
    shot(page, "automl")

"""Command tasks and user kinds in a real Chromium: the form built from a kind's schema, the
server's 422 at the field, the live log panel (colours as classes, other escapes dropped,
hostile text inert, bounded), and the indeterminate bar of a command that has not reported
a percentage."""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import OpenDashboard
from tests.browser.test_dashboard import rows, status_of
from tests.conftest import LiveServer
from web.settings import Settings

pytestmark = pytest.mark.browser

KINDS_FILE = Path(__file__).resolve().parents[1] / "kinds" / "spinning.py"
HOSTILE = '<img src=x onerror="window.__pwned=1">'
# Talks for a while, with colours and a hostile line, then waits for the test's go-ahead
# (a file) before it reports a percentage, and for a second one before it exits.
SCRIPT = f"""
import os, sys, time
print("\\033[1;31mred alert\\033[0m and \\033]0;title\\007plain", flush=True)
print({HOSTILE!r}, flush=True)
print("\\033[92moverwritten\\rgreen, then rewritten\\033[39m", flush=True)
for i in range(3):
    print(f"tick {{i}}", flush=True)
    time.sleep(0.2)
def wait(path):
    while not os.path.exists(path):
        time.sleep(0.02)
wait(sys.argv[1])
print("halfway 50%", flush=True)
wait(sys.argv[2])
print("done", flush=True)
"""


@pytest.fixture
def kinds_server(settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(replace(settings, kinds_file=KINDS_FILE)).start()
    yield server
    server.stop()


def pick_kind(page: Page, label: str) -> None:
    page.get_by_label("Kind", exact=True).select_option(label=label)


def log_panel(page: Page) -> Locator:
    return page.get_by_role("dialog", name=re.compile("^Logs of"))


def test_command_from_the_form_streams_its_log_live(
    live_server: LiveServer, open_dashboard: OpenDashboard, tmp_path: Path
):
    gate, finish = tmp_path / "gate", tmp_path / "finish"
    one_line = f"exec({SCRIPT!r})"  # a text field holds one line, as a terminal does
    command = shlex.join([sys.executable, "-c", one_line, str(gate), str(finish)])
    page = open_dashboard(live_server)
    pick_kind(page, "Command")
    expect(page.locator("#duration")).to_be_hidden()
    page.get_by_label("Command").fill(command)
    page.get_by_role("button", name="Add task").click()

    row = rows(page).first
    expect(row.locator("[data-part=name]")).to_have_text(re.compile(r" -c 'exec\("))
    expect(status_of(row)).to_have_text("Running")
    meter = row.get_by_role("progressbar")
    expect(meter).to_have_attribute("data-indeterminate", "true")  # no percentage yet
    assert meter.get_attribute("aria-valuenow") is None
    expect(row.locator("[data-part=pct]")).to_have_text(re.compile(r"^0:0\d$"))  # elapsed

    row.get_by_role("button", name=re.compile("^Logs of")).click()
    panel = log_panel(page)
    log = panel.locator("[data-log]")
    expect(log).to_contain_text("tick 2")
    expect(status_of(row)).to_have_text("Running")  # live: the program is still waiting
    expect(panel.locator("[data-state]")).to_have_text("Following live output")

    gate.touch()
    expect(log).to_contain_text("halfway 50%")
    expect(meter).to_have_attribute("aria-valuenow", "50")
    expect(meter).to_have_attribute("data-indeterminate", "false")
    finish.touch()
    expect(log).to_contain_text("done")
    expect(status_of(row)).to_have_text("Completed")

    text = log.inner_text()
    assert "red alert and plain" in text
    assert "[31m" not in text and "\x1b" not in text and "title" not in text
    # Colours as classes (the CSP allows no inline style); the rest of the line is plain.
    expect(log.locator("span.text-red-400.font-bold")).to_have_text("red alert")
    expect(log.locator("span", has_text="plain")).to_have_count(0)
    expect(log.locator("span.text-green-300")).to_have_text("green, then rewritten")
    assert "overwritten" not in text
    assert HOSTILE in text  # as text: no element, no script
    expect(panel.locator("img")).to_have_count(0)
    assert page.evaluate("window.__pwned") is None

    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()


def test_the_log_panel_picks_up_after_a_lost_connection(
    live_server: LiveServer, open_dashboard: OpenDashboard, tmp_path: Path
):
    """Output written while the page was disconnected is shown once, nothing twice."""
    gate, finish = tmp_path / "gate", tmp_path / "finish"
    command = [sys.executable, "-c", SCRIPT, str(gate), str(finish)]
    with live_server.client() as http:
        task = http.post("/tasks/add", json={"kind": "command", "command": command}).json()
    page = open_dashboard(live_server)
    row = page.locator(f'[data-task-id="{task["task_id"]}"]')
    row.get_by_role("button", name=re.compile("^Logs of")).click()
    log = log_panel(page).locator("[data-log]")
    expect(log).to_contain_text("tick 2")

    live_server.drop_websockets()
    expect(page.locator("html")).not_to_have_attribute("data-connection", "live")
    gate.touch()  # "halfway 50%" is written while the page is reconnecting
    expect(page.locator("html")).to_have_attribute("data-connection", "live", timeout=15_000)
    expect(log).to_contain_text("halfway 50%")
    finish.touch()
    expect(log).to_contain_text("done")
    text = log.inner_text()
    for line in ("tick 0", "tick 2", "halfway 50%", "done"):
        assert text.count(line) == 1, (line, text)


def test_a_failed_command_shows_its_exit_code(
    live_server: LiveServer, open_dashboard: OpenDashboard
):
    page = open_dashboard(live_server)
    with live_server.client() as client:
        script = "import sys; print('bad input'); sys.exit(3)"
        body = {"kind": "command", "command": [sys.executable, "-c", script], "name": "Crashy"}
        assert client.post("/tasks/add", json=body).status_code == 201
    row = rows(page).first
    expect(status_of(row)).to_have_text("Failed")
    expect(row.locator("[data-part=note]")).to_have_text("exit code 3: bad input")
    row.get_by_role("button", name="Logs of Crashy").click()
    panel = log_panel(page)
    expect(panel.locator("[data-error]")).to_have_text("exit code 3: bad input")
    expect(panel.locator("[data-log]")).to_have_text("bad input\n")
    expect(panel.locator("[data-state]")).to_have_text("The task has ended")


# (codes, the classes of the text after them): the SGR forms programs really send.
SGR_CASES = [
    ("\x1b[1;31m", "text-red-400 font-bold"),
    ("\x1b[31m\x1b[m", ""),  # an empty code resets
    ("\x1b[1;31m\x1b[22m", "text-red-400"),  # 22 ends bold (and dim)
    ("\x1b[31;1;2m\x1b[39m", "font-bold opacity-70"),  # 39: default colour only
    ("\x1b[38;5;196;1m", "font-bold"),  # 256 colours: skipped with their fields
    ("\x1b[38;2;1;2;3;32m", "text-green-400"),  # RGB: skipped with its fields
    ("\x1b[1;38:2::255:0:0m", "font-bold"),  # colon fields belong to their code
    ("\x1b[31;4:0m", "text-red-400"),  # 4:0 is underline off, not a reset
    ("\x1b[4:3m", "underline"),  # a curly underline is still an underline
    ("\x1b[92mA\x1b]0;title\x07\x1b[2J", "text-green-300"),  # other escapes: dropped
]


def test_terminal_colour_codes_become_the_right_classes(
    live_server: LiveServer, open_dashboard: OpenDashboard
):
    page = open_dashboard(live_server)
    got = page.evaluate(
        """async (cases) => {
            const { AnsiState } = await import("/static/js/ansi.js");
            return cases.map(([codes]) => new AnsiState().runs(codes + "X").at(-1));
        }""",
        SGR_CASES,
    )
    assert got == [["X", classes] for _, classes in SGR_CASES]


def test_carriage_returns_give_the_same_lines_however_the_output_is_split(
    live_server: LiveServer, open_dashboard: OpenDashboard
):
    output = "abc\r\r\n\x1b[32m10%\r20%\r\x1b[1m30%\ndone\n"
    page = open_dashboard(live_server)
    shown = page.evaluate(
        """async (output) => {
            const { LogView } = await import("/static/js/log-view.js");
            const shown = [];
            for (let cut = 0; cut <= output.length; cut++) {
                const view = new LogView(document.createElement("pre"));
                view.write(output.slice(0, cut));
                view.write(output.slice(cut));
                view.paint();
                shown.push([view.text, view.pre.innerHTML]);
            }
            return shown;
        }""",
        output,
    )
    assert {text for text, _ in shown} == {"abc\n30%\ndone\n"}
    # The colour set before the overwritten "10%" still applies to what replaced it, and,
    # never reset, to the next line too (as in a terminal).
    bold_green = '<span class="text-green-400 font-bold">'
    assert {html for _, html in shown} == {
        f"abc\n{bold_green}30%</span>\n{bold_green}done</span>\n"
    }


def test_a_long_log_keeps_a_bounded_tail_and_stops_following_on_scroll_up(
    live_server: LiveServer, open_dashboard: OpenDashboard
):
    page = open_dashboard(live_server)
    script = "for i in range(8000): print(f'line {i}')"
    with live_server.client() as client:
        body = {"kind": "command", "command": [sys.executable, "-c", script], "name": "Chatty"}
        client.post("/tasks/add", json=body)
    row = rows(page).first
    expect(status_of(row)).to_have_text("Completed")
    row.get_by_role("button", name="Logs of Chatty").click()
    panel = log_panel(page)
    expect(panel.locator("[data-count]")).to_have_text("8,000 lines")
    log = panel.locator("[data-log]")
    expect(log).to_contain_text("earlier lines are not shown here")
    expect(log).to_contain_text("line 7999")
    assert "line 100\n" not in log.inner_text()
    assert log.inner_text().count("\n") <= 5_500

    scroller = panel.locator("[data-scroller]")
    follow = panel.get_by_role("button", name="Follow")
    expect(follow).to_have_attribute("aria-pressed", "true")
    scroller.evaluate("(el) => { el.scrollTop = 0; }")
    expect(follow).to_have_attribute("aria-pressed", "false")
    expect(panel.locator("[data-state]")).to_contain_text("Paused")
    follow.click()
    expect(follow).to_have_attribute("aria-pressed", "true")
    assert scroller.evaluate("(el) => el.scrollHeight - el.scrollTop - el.clientHeight") < 24


def test_a_kind_from_a_kinds_file_gets_its_fields_and_the_servers_422(
    kinds_server: LiveServer, open_dashboard: OpenDashboard
):
    page = open_dashboard(kinds_server)
    pick_kind(page, "Spin")
    rounds = page.get_by_label("Rounds")
    expect(page.locator("label[for=param-rounds]")).to_contain_text("*")  # required
    expect(page.locator("#param-rounds-hint")).to_have_text("From 1 to 10000000.")

    rounds.fill("many")  # caught here
    page.get_by_role("button", name="Add task").click()
    expect(page.locator("#param-rounds-hint")).to_have_text("Enter a whole number.")
    rounds.fill("0")  # only the server knows the minimum for sure
    page.get_by_role("button", name="Add task").click()
    hint = page.locator("#param-rounds-hint")
    expect(hint).to_have_text("Input should be greater than or equal to 1")
    expect(rounds).to_have_attribute("aria-invalid", "true")
    expect(rounds).to_be_focused()

    rounds.fill("3")
    expect(hint).to_have_text("From 1 to 10000000.")
    page.locator("#name").fill("Spun")
    page.get_by_role("button", name="Add task").click()
    row = rows(page).first
    expect(row.locator("[data-part=name]")).to_have_text("Spun")
    expect(row.locator("[data-part=duration]")).to_have_text("spin")
    expect(status_of(row)).to_have_text("Completed")

    pick_kind(page, "Hash folder")  # the example package's kind: an enum becomes a select
    algorithm = page.get_by_label("Algorithm")
    expect(algorithm).to_have_value("sha256")
    assert "md5" in algorithm.locator("option").all_inner_texts()
    pick_kind(page, "Timer")
    expect(page.locator("#duration")).to_be_visible()
    expect(page.locator("[data-kind-fields]")).to_be_hidden()


def test_the_command_kind_is_disabled_without_a_token(
    settings: Settings, open_dashboard: OpenDashboard
):
    server = LiveServer(replace(settings, auth=False)).start()
    try:
        page = open_dashboard(server)
        option = page.locator("#kind option[value=command]")
        expect(option).to_have_text("Command (needs a token)")
        expect(option).to_be_disabled()
        expect(page.locator("#kind-note")).to_contain_text("--no-auth")
    finally:
        server.stop()


def test_kinds_screenshots(
    live_server: LiveServer, open_dashboard: OpenDashboard, artifacts: Path, tmp_path: Path
):
    """The form with the command kind picked, and a log panel, light and dark."""
    gate = tmp_path / "gate"
    (tmp_path / "train.py").write_text(
        "import os, sys, time\n"
        "for i in range(40):\n"
        "    print(f'\\033[32mepoch {i // 10 + 1}\\033[0m step {i:3d}  loss={1 / (i + 1):.4f}')\n"
        "print('[warn] learning rate is high', file=sys.stderr)\n"
        "while not os.path.exists(os.environ['GATE']): time.sleep(0.05)\n"
    )
    with live_server.client() as client:
        for name, seconds in [("Nightly backup", 600), ("", 900)]:
            client.post("/tasks/add", json={"duration": seconds, "name": name})
        failing = ["python3", "-c", "import sys; print('no such file: data.csv'); sys.exit(2)"]
        client.post("/tasks/add", json={"kind": "command", "command": failing, "name": "Import"})
        train = ["python3", "-u", "train.py", "--epochs", "4"]
        env = {"GATE": str(gate)}
        body = {"kind": "command", "command": train, "cwd": str(tmp_path), "env": env}
        client.post("/tasks/add", json=body)
    try:
        for theme, dark in [("light", False), ("dark", True)]:
            page = open_dashboard(live_server, width=1280, height=900, dark=dark)
            pick_kind(page, "Command")
            page.get_by_label("Command").fill("python train.py --epochs 3 --name 'first run'")
            page.locator("#param-env").fill("CUDA_VISIBLE_DEVICES=0")
            page.get_by_label("Timeout").fill("oops")
            page.get_by_role("button", name="Add task").click()
            expect(page.locator("#param-timeout-hint")).to_have_text("Enter a number.")
            page.screenshot(path=artifacts / f"kinds-form-{theme}.png")

            row = rows(page).filter(has_text="train.py")
            expect(row).to_have_count(1)
            row.get_by_role("button", name=re.compile("^Logs of")).click()
            expect(log_panel(page).locator("[data-log]")).to_contain_text("learning rate")
            page.screenshot(path=artifacts / f"kinds-logs-{theme}.png")
    finally:
        gate.touch()

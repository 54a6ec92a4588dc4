"""What a user sees, in a real browser (Debian's chromium via Playwright) against the real server.

The widget is embedded in a host page served from another origin; answers must appear verbatim with their
attribution; nothing typed or ingested may run script, restyle the page or make a link; the page must not
call out to the internet.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from assistant.retrieval import LESS_RELATED

from .conftest import HOSTILE, SEED, SEED_QUESTION, HostPage, Server

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
ANSWER_TIMEOUT_MS = 120_000
XSS = [
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    "<script>alert(1)</script>",
    "<svg onload=alert(1)>",
    '"><iframe src="javascript:alert(1)">',
    "**bold** _italic_ # heading",
    "<style>body{display:none}</style>",
    "<a href=http://evil.example>click</a>",
    "![img](http://evil.example/x.png)",
]


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not Path(CHROMIUM).exists():
        pytest.fail("Browser tests need Debian's chromium: apt-get install -y chromium (make test does it).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Watch:
    """A browser page that records every request's host and every dialog (alert, confirm, prompt)."""

    def __init__(self, browser, width: int = 1100, height: int = 900) -> None:
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.hosts: set[str] = set()
        self.dialogs: list[str] = []
        self.page.on("request", lambda r: self.hosts.add(re.sub(r"^\w+://([^/]*).*$", r"\1", r.url)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def close(self) -> None:
        self.page.close()


def screenshot_dir(tmp_path: Path) -> Path:
    """Where screenshots go: $SCREENSHOT_DIR (e.g. docs/, to refresh the README's) or the test's tmp folder."""
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def ask(scope, question: str) -> str:
    """Type ``question`` into the chat inside ``scope`` (a page or frame); the text of the first reply."""
    bots = scope.locator("[data-testid=bot]")
    before = bots.count()
    box = scope.get_by_placeholder("Ask a question…")
    box.fill(question)
    box.press("Enter")
    bots.nth(before).wait_for(timeout=ANSWER_TIMEOUT_MS)
    return bots.nth(before).inner_text()


def scroll_to_top_of(message) -> None:
    """Scroll the chat (not the page) so that ``message`` starts at its top: the screenshot shows the quote."""
    message.evaluate("""m => {
        let box = m.parentElement;
        while (box && box.scrollHeight <= box.clientHeight) box = box.parentElement;
        if (box) box.scrollTop += m.getBoundingClientRect().top - box.getBoundingClientRect().top - 8;
    }""")


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def best_answer_paragraphs(server: Server, question: str) -> list[str]:
    """The paragraphs of the best answer, as /api/ask gives them; each checked to be in the source file."""
    best = httpx.get(server.url + "/api/ask", params={"q": question, "k": 1}, timeout=60).json()["answers"][0]
    source = SEED.read_text("utf-8")
    assert best["speaker"] == "Gu Jun" and all(p in source for p in best["paragraphs"])
    return best["paragraphs"]


@pytest.mark.parametrize(("way", "workers"), [("iframe", 1), ("web component", 1), ("iframe", 2)])
def test_embedded_widget_quotes_the_answer_verbatim(browser, request, host_page: HostPage, tmp_path: Path, way: str,
                                                     workers: int) -> None:
    live_server: Server = request.getfixturevalue("live_server" if workers == 1 else "two_workers_server")
    watch = Watch(browser, 1000, 800)
    try:
        watch.page.goto(host_page.point_at(live_server.url))
        scope = (watch.page.frame_locator("#press-room-iframe") if way == "iframe"
                 else watch.page.locator("#press-room-component"))
        reply = squash(ask(scope, SEED_QUESTION))
        for paragraph in best_answer_paragraphs(live_server, SEED_QUESTION):
            assert squash(paragraph) in reply
        assert "Gu Jun" in reply and "2024-03-28" in reply
        assert "In reply to Southern Metropolis Daily" in reply
        assert "http://english.scio.gov.cn/m/pressroom/2024-04/08/content_117111081_7.htm" in reply
        scroll_to_top_of(scope.locator("[data-testid=bot]").first)
        if workers == 1:
            watch.page.screenshot(path=str(screenshot_dir(tmp_path) / f"widget-{way.replace(' ', '-')}.png"))
        assert watch.hosts == {"127.0.0.1:" + str(live_server.port), host_page.origin.split("//")[1]}
    finally:
        watch.close()


OUTSIDE_THE_BOX = """el => {
    const app = el.closest('gradio-app'), box = app.getBoundingClientRect();
    const bottom = Math.min(box.bottom, innerHeight), right = Math.min(box.right, innerWidth);
    return [...app.querySelectorAll('*')].map(e => [e, e.getBoundingClientRect()])
        .filter(([e, r]) => r.width > 0 && r.height > 0 && (r.bottom > bottom + 1 || r.right > right + 1))
        .map(([e, r]) => `${e.tagName}.${e.className} ${Math.round(r.right)}×${Math.round(r.bottom)}`);
}"""


@pytest.mark.parametrize("way", ["iframe", "web component"])
def test_the_widget_fits_its_400_by_600_box_with_the_filters_open(browser, live_server: Server,
                                                                  host_page: HostPage, way: str) -> None:
    """Nothing of the widget lies outside its box or needs scrolling to reach (the filters' date fields were
    below the bottom: 952 px tall in the iframe, 146 px over the web component's box)."""
    watch = Watch(browser, 1000, 900)
    try:
        watch.page.goto(host_page.point_at(live_server.url))
        scope = (watch.page.frame_locator("#press-room-iframe") if way == "iframe"
                 else watch.page.locator("#press-room-component"))
        scope.get_by_placeholder("Ask a question…").wait_for(timeout=ANSWER_TIMEOUT_MS)
        assert scope.locator("#filters").evaluate(OUTSIDE_THE_BOX) == []
        scope.get_by_text("Filters").click()
        scope.get_by_placeholder("2024-12-31").wait_for()
        watch.page.wait_for_timeout(500)  # the accordion's transition
        assert scope.locator("#filters").evaluate(OUTSIDE_THE_BOX) == []
        assert scope.locator("#chat").evaluate("c => c.getBoundingClientRect().height") >= 150
    finally:
        watch.close()


def test_the_widgets_filters_narrow_the_answers_and_explain_a_bad_date(browser, live_server: Server,
                                                                      host_page: HostPage) -> None:
    watch = Watch(browser)
    try:
        watch.page.goto(host_page.point_at(live_server.url))
        frame = watch.page.frame_locator("#press-room-iframe")
        frame.get_by_placeholder("Ask a question…").wait_for(timeout=ANSWER_TIMEOUT_MS)
        frame.get_by_text("Filters").click()
        speaker = frame.get_by_label("Speaker")
        speaker.fill("Wang Wentao")
        speaker.press("Enter")
        frame.get_by_placeholder("2024-01-01").fill("2024-01-01")
        reply = squash(ask(frame, "foreign trade outlook"))
        assert reply.startswith("Only answers with speaker Wang Wentao, from 2024-01-01")
        # The further answers' cards, without the "Less closely related:" label that may head the weaker ones.
        cards = [c for c in frame.locator("[data-testid=bot]").all_inner_texts()[1:] if squash(c) != LESS_RELATED]
        assert cards and all(squash(card).split(" — ")[0].endswith("Wang Wentao") for card in cards), cards
        frame.get_by_placeholder("2024-01-01").fill("yesterday")
        assert ask(frame, "foreign trade outlook") == "from must be a date like 2024-03-28 (got 'yesterday')."
    finally:
        watch.close()


def test_a_page_from_an_origin_not_allowed_gets_no_widget(browser, live_server: Server, tmp_path: Path) -> None:
    """The browser itself refuses: frame-ancestors blocks the iframe, CORS the web component's loader."""
    other = HostPage(tmp_path)
    watch = Watch(browser)
    failed: list[str] = []
    watch.page.on("requestfailed", lambda r: failed.append(r.url))
    try:
        watch.page.goto(other.point_at(live_server.url), wait_until="load")  # after the module script's fetch
        assert live_server.url + "/gradio.js" in failed
        assert watch.page.evaluate("() => customElements.get('gradio-app') === undefined")
        assert [f.url for f in watch.page.frames[1:]] == ["chrome-error://chromewebdata/"]  # the framing, blocked
    finally:
        watch.close()
        other.stop()


def test_the_widgets_source_link_opens_outside_the_frame(browser, live_server: Server, host_page: HostPage) -> None:
    """A reader clicks through to the page quoted: a new tab opens on it, and the widget stays in its frame."""
    source = "http://english.scio.gov.cn/m/pressroom/2024-04/08/content_117111081_7.htm"
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    context.route("http://english.scio.gov.cn/**",  # answered here: the test needs no internet
                  lambda route: route.fulfill(status=200, content_type="text/html", body="<title>SCIO</title>"))
    try:
        page = context.new_page()
        page.goto(host_page.point_at(live_server.url))
        frame = page.frame_locator("#press-room-iframe")
        ask(frame, SEED_QUESTION)
        with context.expect_page() as opened:
            frame.locator("#chat a", has_text="english.scio.gov.cn").first.click()
        assert opened.value.url == source
        assert live_server.url + "/embed/" in [f.url for f in page.frames]
    finally:
        context.close()


def test_the_web_component_leaves_the_host_page_styles_alone(browser, live_server: Server,
                                                             host_page: HostPage) -> None:
    """<gradio-app> puts the widget's CSS into the host page's document: a bare rule (footer { display: none })
    hid the newsroom's own footer."""
    watch = Watch(browser)
    try:
        watch.page.goto(host_page.point_at(live_server.url))
        watch.page.locator("#press-room-component").get_by_placeholder("Ask a question…").wait_for(
            timeout=ANSWER_TIMEOUT_MS)
        assert watch.page.locator("body > footer").is_visible()
        font = watch.page.locator("body > h1").evaluate("h => getComputedStyle(h).fontFamily")
        assert font == "system-ui, sans-serif"
    finally:
        watch.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_chat_page_answers_folds_more_and_follows_up(browser, request, tmp_path: Path, workers: int) -> None:
    # Two answering processes behind one HTTP process: the session's join and its event stream stay together.
    live_server: Server = request.getfixturevalue("live_server" if workers == 1 else "two_workers_server")
    watch = Watch(browser)
    try:
        watch.page.goto(live_server.url + "/")
        first = squash(ask(watch.page, SEED_QUESTION))
        assert "Gu Jun" in first and "Southern Metropolis Daily" in first
        scroll_to_top_of(watch.page.locator("[data-testid=user]").first)
        if workers == 1:
            watch.page.screenshot(path=str(screenshot_dir(tmp_path) / "chat.png"))
        follow = squash(ask(watch.page, "and who is responsible for that?"))
        assert follow.startswith("Searched for: " + SEED_QUESTION[:40])
        cards = re.findall(r"^\s*\d\. .+ — .+", watch.page.locator("#chat").inner_text(), re.MULTILINE)
        assert cards and cards[0].strip().startswith("2. ")  # further answers, folded
        assert watch.hosts == {"127.0.0.1:" + str(live_server.port)}  # nothing calls out to the internet
    finally:
        watch.close()


def _assert_inert(watch: Watch) -> None:
    """Nothing ran, nothing was added: no dialog, no script/style/iframe/img, links only to http(s)."""
    chat = watch.page.locator("#chat")
    assert watch.dialogs == []
    for tag in ("script", "iframe", "img", "svg[onload]", "b", "h1", "em:text-is('italic')", "strong:text-is('bold')"):
        assert chat.locator(tag).count() == 0, tag
    styles = chat.locator("style").evaluate_all("styles => styles.map(s => s.textContent)")
    assert not [css for css in styles if "body" in css or "display" in css]  # Gradio's icons carry their own
    for href in chat.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))"):
        assert href.startswith(("http://english.scio.gov.cn/", "http://example.org/")), href
    assert watch.page.locator("body").is_visible()


def test_typed_xss_is_shown_as_text(browser, live_server: Server) -> None:
    watch = Watch(browser)
    try:
        watch.page.goto(live_server.url + "/")
        for attack in XSS:
            ask(watch.page, attack + " foreign trade")
            shown = watch.page.locator("[data-testid=user]").last.inner_text()
            assert squash(shown) == squash(attack + " foreign trade")
        _assert_inert(watch)
    finally:
        watch.close()


def test_xss_planted_in_a_transcript_is_shown_as_text(browser, live_server: Server) -> None:
    watch = Watch(browser)
    try:
        watch.page.goto(live_server.url + "/")
        reply = ask(watch.page, "What about bamboo exports?")
        planted = HOSTILE.read_text("utf-8")
        for line in ("Bamboo exports grew strongly this year <img src=x onerror=alert('answer')>",
                     "Growers can read the rules at [the portal](javascript:alert('link')) and **bold**",
                     "<style>body{display:none}</style> every weekday"):
            assert line in planted and line in reply
        assert "<script>alert('question')</script>" in reply  # the journalist's question, as text
        assert "Hostile <img src=x onerror=alert('title')> conference" in reply
        _assert_inert(watch)
    finally:
        watch.close()


TYPED = {
    "empty": ("", "The question is empty"),
    "whitespace": ("   \t ", "The question is empty"),
    "emoji": ("🚢 foreign trade 📈", "— "),
    "RTL marks": ("\u202etrade\u202c foreign \u200f", "— "),
    "control characters": ("trade\x1b[31m\x07 policy", "— "),
    "lone surrogate": ("trade \ud800 policy", "— "),
    "SQL": ("trade'; DROP TABLE turns; --", "— "),
    "2,000 characters": ("exports " * 250, "— "),
}


def test_odd_input_typed_into_the_chat(browser, live_server: Server, served_index: Path, served_digest: str) -> None:
    from .conftest import tree_digest

    watch = Watch(browser)
    try:
        watch.page.goto(live_server.url + "/")
        for question, expected in TYPED.values():
            reply = ask(watch.page, question)
            assert expected in reply and "Traceback" not in reply, (question, reply[:200])
        shown = watch.page.locator("[data-testid=user]").all_inner_texts()  # blank questions leave no empty bubble
        assert len(shown) == len(TYPED) - 2 and all(text.strip() for text in shown), shown
        _assert_inert(watch)
    finally:
        watch.close()
    assert tree_digest(served_index) == served_digest


def test_the_source_is_a_link_and_the_attribution_is_whole(browser, live_server: Server) -> None:
    """A journalist clicks through to the page quoted: the source is an <a> to exactly that address."""
    watch = Watch(browser)
    try:
        watch.page.goto(live_server.url + "/")
        reply = squash(ask(watch.page, SEED_QUESTION))
        assert "— Gu Jun, SCIO press conference on focusing on the 'five centers' initiative" in reply
        assert "2024-03-28 · Source: http://english.scio.gov.cn/m/pressroom/2024-04/08/content_117111081_7.htm" \
            in reply
        links = watch.page.locator("#chat a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
        assert "http://english.scio.gov.cn/m/pressroom/2024-04/08/content_117111081_7.htm" in links
    finally:
        watch.close()


# A newsroom's own script: fetch() and what it can read of the response (a refusal by CORS is a TypeError).
CALL = """window.call = async (url, init) => {
    try {
        const response = await fetch(url, init || undefined);
        return {status: response.status, retryAfter: response.headers.get('retry-after'),
                body: await response.json()};
    } catch (error) {
        return {refused: String(error)};
    }
};"""


def newsroom_page(watch: Watch, host: HostPage) -> None:
    """Open an empty page on ``host``'s origin that defines ``call`` (CALL) for its script."""
    (host.folder / "blank.html").write_text("<!doctype html><title>Newsroom</title>", "utf-8")
    watch.page.goto(host.origin + "/blank.html")
    watch.page.add_script_tag(content=CALL)


def call(watch: Watch, url: str, init: dict | None = None) -> dict:
    return watch.page.evaluate("([url, init]) => call(url, init)", [url, init])


def test_a_newsroom_page_calls_the_api_with_fetch(browser, live_server: Server, host_page: HostPage,
                                                  tmp_path: Path) -> None:
    """fetch() from the allowed origin: GET with every parameter, POST as JSON (a preflight), mistakes as 400
    JSON the script can read; from any other origin the browser refuses to hand over the answer."""
    watch = Watch(browser)
    other = HostPage(tmp_path)
    try:
        newsroom_page(watch, host_page)
        query = "q=Yangtze+River+Delta&k=2&speaker=Gu&conference=five+centers&from=2024-01-01&to=2024-12-31"
        got = call(watch, f"{live_server.url}/api/ask?{query}")
        assert got["status"] == 200 and got["body"]["filters"]["speaker"] == "Gu"
        assert [a["speaker"] for a in got["body"]["answers"]] == ["Gu Jun"]
        post = {"method": "POST", "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"q": SEED_QUESTION, "k": 1, "from": "2024-03-28", "to": "2024-03-28"})}
        posted = call(watch, live_server.url + "/api/ask", post)
        assert posted["status"] == 200 and posted["body"]["answers"][0]["asked_by"] == "Southern Metropolis Daily"
        bad = {**post, "body": json.dumps({"q": "trade", "k": 0})}
        assert call(watch, live_server.url + "/api/ask", bad) == {
            "status": 400, "retryAfter": None, "body": {"error": "k must be between 1 and 50 (got 0)."}}
        newsroom_page(watch, other)
        for init in (None, post):
            assert call(watch, f"{live_server.url}/api/ask?{query}", init) == {"refused": "TypeError: Failed to fetch"}
    finally:
        watch.close()
        other.stop()


def test_a_busy_server_tells_a_newsroom_page_when_to_retry(browser, served_index: Path, host_page: HostPage) -> None:
    """A 503's Retry-After reaches the page's script: fetch() reads only the headers CORS exposes."""
    server = Server(served_index, "--origins", host_page.origin, env={"PRESSROOM_QUEUE": "1"})
    watch = Watch(browser)
    try:
        newsroom_page(watch, host_page)
        busy: list[dict] = []
        for round_ in range(5):  # 12 questions at once, as many rounds as it takes for two to overlap
            urls = [f"{server.url}/api/ask?k=50&q=foreign+trade+{round_}+{i}" for i in range(12)]
            results = watch.page.evaluate("urls => Promise.all(urls.map(url => call(url)))", urls)
            assert {r.get("status") for r in results} <= {200, 503}, results
            busy = [r for r in results if r["status"] == 503]
            if busy:
                break
        assert busy and all(r["retryAfter"] == "1" and "busy" in r["body"]["error"] for r in busy)
    finally:
        watch.close()
        server.stop()

"""The HTTP side of the real server: /api/ask, the Gradio endpoint via gradio_client, CORS, framing, files."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import socket
from pathlib import Path

import httpx
import pytest

from .conftest import PARAPHRASE, SEED_QUESTION, Server

pytestmark = pytest.mark.slow


def api(server: Server, method: str = "GET", path: str = "/api/ask", **kwargs) -> httpx.Response:
    return httpx.request(method, server.url + path, timeout=60, **kwargs)


def test_healthz_reports_the_loaded_index(live_server: Server) -> None:
    health = api(live_server, path="/healthz").json()
    assert health["ok"] and health["model"] == "all-MiniLM-L6-v2"
    assert health["conferences"] == 3 and health["passages"] > 10
    head = api(live_server, "HEAD", "/healthz")  # an uptime monitor's probe: the status, no body
    assert head.status_code == 200 and not head.content


@pytest.mark.parametrize("question", [SEED_QUESTION, PARAPHRASE], ids=["seed", "paraphrase"])
def test_api_and_gradio_client_give_the_same_first_answer(live_server: Server, question: str) -> None:
    from gradio_client import Client

    by_api = api(live_server, params={"q": question, "k": 3}).json()
    by_post = api(live_server, "POST", json={"q": question, "k": 3}).json()
    by_gradio = Client(live_server.url, verbose=False).predict(q=question, k=3, api_name="/ask")
    assert by_api["answers"][0]["speaker"] == "Gu Jun"
    assert by_api["answers"][0]["asked_by"] == "Southern Metropolis Daily"
    assert by_api == by_post == by_gradio


def test_api_json_is_the_cli_json(live_server: Server, served_index: Path, cli) -> None:
    result = cli("ask", PARAPHRASE, "-k", "2", "--index", str(served_index), "--json")
    assert result.returncode == 0, result.stderr
    assert api(live_server, params={"q": PARAPHRASE, "k": 2}).json() == json.loads(result.stdout)


@pytest.mark.parametrize("speaker", ["Chen Hong", "Zhao Lei", "chen"])
def test_speaker_filter_never_returns_another_speaker(live_server: Server, speaker: str) -> None:
    data = api(live_server, params={"q": SEED_QUESTION, "k": 10, "speaker": speaker}).json()
    assert data["filters"]["speaker"] == speaker
    assert all(speaker.lower() in a["speaker"].lower() for a in data["answers"]), data["answers"]
    assert "Gu Jun" not in {a["speaker"] for a in data["answers"]}


def test_speaker_named_in_the_question_filters(live_server: Server) -> None:
    data = api(live_server, params={"q": "What did Wang Wentao say about foreign trade?", "k": 10}).json()
    assert data["filters"]["speaker"] == "Wang Wentao" and data["searched"] == "foreign trade"
    assert data["answers"] and {a["speaker"] for a in data["answers"]} == {"Wang Wentao"}


def test_date_and_conference_filters(live_server: Server) -> None:
    in_2024_march = api(live_server, params={"q": "integration of the Yangtze River Delta", "k": 20,
                                             "from": "2024-03-01", "to": "2024-03-31"}).json()
    assert in_2024_march["answers"] and {a["date"] for a in in_2024_march["answers"]} == {"2024-03-28"}
    trade = api(live_server, params={"q": "overseas warehouses for cross-border e-commerce", "k": 20,
                                     "conference": "foreign trade"}).json()
    assert trade["answers"] and all("foreign trade" in a["conference"] for a in trade["answers"])
    nothing = api(live_server, params={"q": "foreign trade", "from": "2030-01-01"}).json()
    assert nothing["answers"] == []


MALFORMED = {
    "missing q": ("", "The question is missing"),
    "empty q": ("q=", "The question is empty"),
    "whitespace q": ("q=%20%09%0A", "The question is empty"),
    "k=0": ("q=trade&k=0", "k must be between 1 and 50 (got 0)"),
    "k=-1": ("q=trade&k=-1", "k must be between 1 and 50 (got -1)"),
    "k=1000000": ("q=trade&k=1000000", "k must be between 1 and 50 (got 1000000)"),
    "k=1e9": ("q=trade&k=1000000000", "k must be between 1 and 50"),
    "k=abc": ("q=trade&k=abc", "k must be a whole number"),
    "100 kB q": ("q=" + "a" * 100_000, "the limit is 2,000"),
    "non-UTF-8 bytes": ("q=%FF%FE%20trade", "not valid UTF-8"),
    "unknown parameter": ("q=trade&frobnicate=1", "Unknown parameter 'frobnicate'"),
    "parameter twice": ("q=trade&q=ports", "given twice"),
    "bad date": ("q=trade&from=yesterday", "from must be a date like 2024-03-28"),
    "date without dashes": ("q=trade&from=20240328", "from must be a date like 2024-03-28 (got '20240328')"),
    "week date": ("q=trade&to=2024-W13-4", "to must be a date like 2024-03-28 (got '2024-W13-4')"),
    "dates reversed": ("q=trade&from=2024-05-01&to=2024-01-01", "is after to"),
}


@pytest.mark.parametrize("query", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_get_is_a_4xx_with_one_sentence(live_server: Server, query: tuple[str, str]) -> None:
    text, message = query
    # http.client, not httpx: httpx refuses URLs over 64 kB before sending them.
    connection = http.client.HTTPConnection("127.0.0.1", live_server.port, timeout=60)
    connection.request("GET", f"/api/ask?{text}")
    response = connection.getresponse()
    body = response.read().decode("utf-8")
    assert response.status == 400, body[:200]
    error = json.loads(body)["error"]
    assert message in error and "\n" not in error and "Traceback" not in error


BAD_BODIES = {
    "not JSON": (b"q=trade", "must be a JSON object"),
    "a JSON list": (b'["trade"]', "must be a JSON object"),
    "non-UTF-8 body": (b'{"q": "\xff"}', "The body is not valid UTF-8"),
    "10 MB question": (json.dumps({"q": "a" * 10_000_000}).encode(), "the limit is 1,000,000"),
    "q not text": (b'{"q": 42}', "The question must be text"),
    "k not a number": (b'{"q": "trade", "k": "abc"}', "k must be a whole number"),
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_malformed_post_is_a_4xx_with_one_sentence(live_server: Server, body: tuple[bytes, str]) -> None:
    content, message = body
    response = api(live_server, "POST", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text[:200]
    assert message in response.json()["error"]



@pytest.mark.parametrize(("method", "path", "allow"), [
    ("PUT", "/api/ask", "GET, POST"), ("DELETE", "/api/ask", "GET, POST"), ("HEAD", "/api/ask", "GET, POST"),
    ("OPTIONS", "/api/ask", "GET, POST"), ("POST", "/healthz", "GET, HEAD"), ("DELETE", "/healthz", "GET, HEAD"),
])
def test_other_methods_get_a_405_that_says_which(live_server: Server, method: str, path: str, allow: str) -> None:
    response = api(live_server, method, path + "?q=trade")
    assert response.status_code == 405 and response.headers["allow"] == allow
    if method != "HEAD":  # a HEAD response has no body
        assert response.json()["error"].startswith(f"{method} {path} is not supported; use GET {path}")


@pytest.mark.parametrize(("method", "path"), [("GET", "/api/ask/"), ("POST", "/api/ask/"), ("GET", "/api/search"),
                                            ("GET", "/api/")])
def test_a_mistyped_api_route_is_a_404_that_names_the_right_one(live_server: Server, method: str, path: str) -> None:
    response = api(live_server, method, path + "?q=trade")
    assert response.status_code == 404
    assert response.json()["error"] == f"There is no {path}; the API is GET or POST /api/ask (and GET /healthz)."


ODD_QUESTIONS = {
    "control characters": "trade\x01\x02\x1b[31m policy",
    "NUL bytes": "foreign\x00 trade",
    "RTL marks": "\u202etrade\u202c foreign \u200f",
    "emoji": "🚢 foreign trade 📈",
    "HTML": "<img src=x onerror=alert(1)> foreign trade",
    "Markdown": "[x](javascript:alert(1)) **foreign** trade",
    "SQL": "trade'; DROP TABLE turns; --",
    "script": "<script>alert(1)</script>",
}


@pytest.mark.parametrize("question", ODD_QUESTIONS.values(), ids=ODD_QUESTIONS.keys())
def test_odd_questions_are_answered_through_api_and_gradio_client(live_server: Server, question: str) -> None:
    from gradio_client import Client

    response = api(live_server, params={"q": question})
    assert response.status_code == 200, response.text[:200]
    data = response.json()
    assert "\x00" not in data["question"] and data["answers"] is not None
    assert Client(live_server.url, verbose=False).predict(q=question, api_name="/ask") == data
    assert api(live_server, path="/healthz").status_code == 200  # the server lives on


@pytest.mark.parametrize(("q", "k", "message"), [("", 5, "The question is empty"), ("trade", 0, "k must be"),
                                                 ("a" * 100_000, 5, "the limit is 2,000")])
def test_gradio_client_gets_a_clear_error(live_server: Server, q: str, k: int, message: str) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message):
        Client(live_server.url, verbose=False).predict(q=q, k=k, api_name="/ask")



def test_the_widget_address_without_its_slash_leads_to_the_widget(live_server: Server) -> None:
    response = api(live_server, path="/embed?__theme=dark")
    assert response.status_code == 308 and response.headers["location"] == "/embed/?__theme=dark"
    widget = api(live_server, path="/embed", follow_redirects=True)
    assert widget.status_code == 200 and str(widget.url) == live_server.url + "/embed/"

def test_cors_allows_only_the_allow_list(live_server: Server, host_page) -> None:
    for path in ("/api/ask?q=trade", "/gradio_api/info", "/embed/config"):
        allowed = api(live_server, path=path, headers={"Origin": host_page.origin})
        assert allowed.headers.get("access-control-allow-origin") == host_page.origin, path
        other = api(live_server, path=path, headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers, path
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    ok = api(live_server, "OPTIONS", headers={"Origin": host_page.origin, **preflight})
    assert ok.headers.get("access-control-allow-origin") == host_page.origin
    refused = api(live_server, "OPTIONS", headers={"Origin": "http://evil.example", **preflight})
    assert "access-control-allow-origin" not in refused.headers


def test_origins_are_compared_as_browsers_send_them(served_index: Path) -> None:
    """Browsers send Origin in lower case without a default port: an allow-list written otherwise must match."""
    server = Server(served_index, "--origins", "http://LocalHost:8123/,https://News.Example.org:443")
    try:
        for origin in ("http://localhost:8123", "https://news.example.org"):
            response = api(server, path="/api/ask?q=trade", headers={"Origin": origin})
            assert response.headers.get("access-control-allow-origin") == origin
        policy = api(server, path="/embed/").headers["content-security-policy"]
        assert policy == "frame-ancestors 'self' http://localhost:8123 https://news.example.org"
    finally:
        server.stop()


def test_frame_ancestors_matches_the_allow_list(live_server: Server, host_page) -> None:
    for path in ("/", "/embed/"):
        policy = api(live_server, path=path).headers["content-security-policy"]
        assert policy == f"frame-ancestors 'self' {host_page.origin}"


TRAVERSALS = [
    "/gradio_api/file=../../../../etc/passwd", "/gradio_api/file=/etc/passwd",
    "/gradio_api/file=%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/gradio_api/file=..%2F..%2F..%2Fetc%2Fpasswd",
    "/embed/gradio_api/file=/etc/passwd", "/static/../../../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd",
    "/assets/..%2f..%2f..%2f..%2fetc%2fpasswd", "/assets/%2e%2e%2f%2e%2e%2fsetup.py",
    "/gradio_api/file={index}/CURRENT", "/gradio_api/file={root}/pyproject.toml", "/gradio.js/../pyproject.toml",
    "/embed-example/../pyproject.toml", "/file=/etc/passwd", "/gradio_api/file=~/.bashrc",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_no_file_outside_what_is_served(live_server: Server, served_index: Path, path: str) -> None:
    from .conftest import ROOT

    url = live_server.url + path.format(index=served_index, root=ROOT)
    response = httpx.get(url, timeout=30)
    assert response.status_code in (400, 403, 404, 405), (response.status_code, response.text[:200])
    assert "root:" not in response.text and "[project]" not in response.text


def test_server_binds_to_loopback_by_default(live_server: Server) -> None:
    port = f"{live_server.port:04X}"
    listening = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    ours = [fields[1] for fields in listening if fields[1].endswith(":" + port) and fields[3] == "0A"]
    assert ours == ["0100007F:" + port]  # 127.0.0.1, not 0.0.0.0



def test_a_busy_port_is_one_sentence(served_index: Path, cli) -> None:
    with socket.socket() as taken:  # another server on the port
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = cli("serve", "--index", str(served_index), "--port", port, timeout=120)
    assert result.returncode == 1 and "answering on" not in result.stdout
    assert result.stderr == f"Error: Port {port} on 127.0.0.1 is already in use (another server?); stop it or " \
                            "choose another port with --port.\n"

def test_overload_gets_a_clean_503(served_index: Path) -> None:
    server = Server(served_index, env={"PRESSROOM_QUEUE": "1"})
    try:
        with concurrent.futures.ThreadPoolExecutor(48) as pool:
            responses = list(pool.map(lambda i: api(server, params={"q": f"foreign trade {i}", "k": 50}),
                                      range(192)))
    finally:
        server.stop()
    codes = [r.status_code for r in responses]
    assert set(codes) <= {200, 503}
    busy = [r for r in responses if r.status_code == 503]
    assert busy and codes.count(200) >= 1
    assert all("busy" in r.json()["error"] and r.headers["retry-after"] == "1" for r in busy)


def test_the_index_is_unchanged_by_all_of_the_above(live_server: Server, served_index: Path,
                                                    served_digest: str) -> None:
    from .conftest import tree_digest

    assert tree_digest(served_index) == served_digest
    assert api(live_server, path="/healthz").json()["ok"]


def test_admission_takes_exactly_its_limit() -> None:
    # --queue 2 means two questions in flight, not three; the one turned away gets the 503, never a place.
    from assistant.server import Admission

    admission = Admission(2)
    assert [admission.enter() for _ in range(3)] == [True, True, False]
    admission.leave()
    assert admission.enter() and not admission.enter()


class _NoWorkerReady:
    """A pool whose answering processes have all gone (killed, respawning): nothing can answer."""

    catalog = None
    ready = 0

    async def watch(self) -> None:
        pass


def test_healthz_is_503_while_no_answering_process_is_ready(tmp_path: Path) -> None:
    # A load balancer reads the status code, not the body: "ok": false with a 200 would keep sending questions.
    from fastapi.testclient import TestClient

    from assistant.server import build_app
    from assistant.settings import Settings
    from assistant.workers import Catalog

    pool = _NoWorkerReady()
    pool.catalog = Catalog("all-MiniLM-L6-v2", 17, 3, ("Gu Jun",), (("2024-03-28 · A conference", "3c5b7a"),), ())
    client = TestClient(build_app(Settings(index=tmp_path / "index"), pool))
    assert client.head("/healthz").status_code == 503  # a monitor probing with HEAD reads the same status
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"ok": False, "model": "all-MiniLM-L6-v2", "passages": 17, "conferences": 3,
                               "workers": 0}

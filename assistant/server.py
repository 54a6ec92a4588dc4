"""The web server: FastAPI with the HTTP API, security headers, and the Gradio chat mounted at / and /embed/.

Routes::

    /                 the chat (Gradio)
    /embed/           the compact chat for <iframe> and <gradio-app> embedding (no header, no footer)
    /api/ask          GET or POST: the JSON of `pressroom ask --json` (any other /api/… path: a 404 naming it)
    /healthz          model, passage count, answering processes ready (503 when none is)
    /gradio.js        Gradio's own web-component loader, served from the installed package (no CDN)
    /embed-example    a host page that embeds the widget both ways (examples/embed.html)
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import asyncio
import contextlib
import errno
import html
import json
import socket
from collections.abc import AsyncIterator, Iterable
from typing import Any
from urllib.parse import unquote_to_bytes

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from embeddings.errors import PressroomError, counted

from .retrieval import make_filter
from .settings import PROJECT_DIR, Settings
from .workers import Answerer, Unavailable, answerer

API_PARAMETERS = ("q", "k", "speaker", "conference", "from", "to")
EMBED_EXAMPLE = PROJECT_DIR / "examples" / "embed.html"
MAX_BODY_BYTES = 1_000_000
# Every method a route may be asked with: those it does not take get a 405 (or, under /api/, a 404) in one sentence.
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# A 503 is brief (a full queue, an answering process restarting): the client may ask again in a second.
RETRY_SOON = {"Retry-After": "1"}


class Admission:
    """At most ``limit`` questions in flight; the next one is turned away at once (503), never queued forever."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    def enter(self) -> bool:
        """Admit one more question, or say False when ``limit`` are already in flight."""
        # Only the event loop's thread calls enter/leave, so a plain counter is enough.
        if self.in_flight >= self.limit:
            return False
        self.in_flight += 1
        return True

    def leave(self) -> None:
        """A question admitted by ``enter`` is done (answered or failed)."""
        self.in_flight -= 1


class SecurityHeaders:
    """Adds frame-ancestors (who may embed us) and a few standard hardening headers to every response."""

    def __init__(self, app: ASGIApp, origins: tuple[str, ...]) -> None:
        self.app = app
        ancestors = "*" if "*" in origins else " ".join(("'self'", *origins))
        self.headers = [
            (b"content-security-policy", f"frame-ancestors {ancestors}".encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *(h for h in self.headers if h[0] not in names)]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def build_app(settings: Settings, pool: Answerer) -> FastAPI:
    """The whole web app for ``settings``: API, health, embedding helpers and both chat views.

    Every question goes to ``pool`` (started already): this process itself, or its answering processes.
    """
    from . import chat

    catalog = pool.catalog
    assert catalog is not None, "start the pool before building the app"

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        watcher = asyncio.create_task(pool.watch())
        yield
        watcher.cancel()

    app = FastAPI(title="Press Room", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    # Gradio allows any origin unless its parent app configures CORS: this allow-list is the only one.
    # Retry-After is exposed: a page's fetch() reads only CORS-safelisted headers, and a 503 says when to retry.
    app.add_middleware(CORSMiddleware, allow_origins=list(settings.origins), allow_methods=["GET", "POST"],
                       allow_headers=["*"], expose_headers=["Retry-After"], max_age=600)
    app.add_middleware(SecurityHeaders, origins=settings.origins)
    admission = Admission(settings.queue)

    # HEAD too: uptime monitors and load balancers often probe with it, and read the status alone.
    @app.api_route("/healthz", methods=["GET", "HEAD"])
    def healthz() -> JSONResponse:
        ready = pool.ready
        return JSONResponse({"ok": ready > 0, "model": catalog.model, "passages": catalog.passages,
                             "conferences": catalog.conferences, "workers": ready}, status_code=200 if ready else 503)

    @app.api_route("/api/ask", methods=["GET", "POST"])
    async def api_ask(request: Request) -> Response:
        try:
            params = await _api_parameters(request)
        except PressroomError as exc:
            return _error(str(exc), 400)
        if not admission.enter():
            busy = counted(admission.limit, "question")
            return _error(f"The server is busy ({busy} in progress); retry in a moment.", 503, headers=RETRY_SOON)
        try:
            where = make_filter(params.get("speaker"), params.get("conference"), params.get("from"),
                                params.get("to"))
            body = await pool.ask_json(params.get("q", ""), params.get("k", settings.k), where)
        except Unavailable as exc:
            return _error(str(exc), 503, headers=RETRY_SOON)
        except PressroomError as exc:
            return _error(str(exc), 400)
        finally:
            admission.leave()
        return Response(body, media_type="application/json")  # the worker's JSON, not decoded and encoded again

    # Other methods would fall through to the Gradio app mounted at / and get its bare 404 "Not Found".
    _refuse_other_methods(app, "/healthz", ("GET", "HEAD"), "use GET /healthz.")
    _refuse_other_methods(app, "/api/ask", ("GET", "POST"), "use GET /api/ask?q=… or POST a JSON object.")

    @app.api_route("/api/{rest:path}", methods=list(HTTP_METHODS), include_in_schema=False)
    def api_unknown(rest: str) -> JSONResponse:
        # A typo ('/api/ask/', '/api/search') would get the mounted chat's bare {"detail": "Not Found"}.
        return _error(f"There is no /api/{rest}; the API is GET or POST /api/ask (and GET /healthz).", 404)

    @app.get("/gradio.js")
    def gradio_js() -> Response:
        # Gradio's loader imports ./assets/index-<hash>.js, which the mounted app serves at /assets/.
        return FileResponse(chat.web_component_loader(), media_type="text/javascript")

    @app.get("/embed-example")
    def embed_example(request: Request) -> HTMLResponse:
        base = str(request.base_url).rstrip("/")
        page = EMBED_EXAMPLE.read_text("utf-8").replace("http://127.0.0.1:7860", html.escape(base, quote=True))
        return HTMLResponse(page)

    @app.get("/embed", include_in_schema=False)
    def embed_without_slash(request: Request) -> RedirectResponse:
        # The widget's mount only matches /embed/…; without this, /embed reached the chat at / and got a 404.
        query = request.url.query
        return RedirectResponse("/embed/" + (f"?{query}" if query else ""), status_code=308)

    chat.mount(app, pool, settings, path="/embed", compact=True)
    return chat.mount(app, pool, settings, path="/", compact=False)


async def _api_parameters(request: Request) -> dict[str, Any]:
    """The parameters of an /api/ask request (query string, or a JSON object body), strictly checked."""
    raw = request.scope.get("query_string", b"")
    try:  # Starlette would quietly turn bad bytes into U+FFFD; say so instead.
        for piece in raw.replace(b"=", b"&").split(b"&"):
            unquote_to_bytes(piece).decode("utf-8")
    except UnicodeDecodeError:
        raise PressroomError("The query string is not valid UTF-8; percent-encode the question as UTF-8.") from None
    params: dict[str, Any] = {}
    _add_once(params, request.query_params.multi_items())
    if request.method == "POST":
        _add_once(params, (await _json_body(request)).items())
    unknown = sorted(set(params) - set(API_PARAMETERS))
    if unknown:
        raise PressroomError(f"Unknown parameter {unknown[0]!r}; known parameters: {', '.join(API_PARAMETERS)}.")
    if "q" not in params:
        raise PressroomError("The question is missing: add ?q=… (e.g. /api/ask?q=Yangtze+River+Delta&k=3).")
    return params


def _add_once(params: dict[str, Any], items: Iterable[tuple[str, Any]]) -> None:
    """Add ``items`` to ``params``; a name given twice (in the query, the body, or both) is a mistake."""
    for key, value in items:
        if key in params:
            raise PressroomError(f"The parameter {key!r} is given twice; give it once.")
        params[key] = value


async def _json_body(request: Request) -> dict[str, Any]:
    """The JSON object a POST carries (an empty body carries none)."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise PressroomError(f"The request body is {len(body):,} bytes; the limit is {MAX_BODY_BYTES:,}.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise PressroomError("The body is not valid UTF-8; send the JSON object as UTF-8.") from None
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise PressroomError('The body must be a JSON object like {"q": "…", "k": 5}.')
    return data


def _refuse_other_methods(app: FastAPI, path: str, allowed: tuple[str, ...], hint: str) -> None:
    """A 405 with one sentence and ``Allow`` for the methods ``path`` does not take."""
    async def refuse(request: Request) -> JSONResponse:
        return _error(f"{request.method} {path} is not supported; {hint}", 405, headers={"Allow": ", ".join(allowed)})

    others = [m for m in HTTP_METHODS if m not in allowed]
    app.add_api_route(path, refuse, methods=others, include_in_schema=False)


def _error(message: str, status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def run(settings: Settings) -> None:
    """Open the index (in answering processes with --workers 2+), then serve until interrupted.

    The answering processes stop with the server.
    """
    sock = _bind(settings.host, settings.port)
    pool = answerer(settings)
    try:
        pool.start()
        app = build_app(settings, pool)
        print(f"Press Room is answering on http://{settings.host}:{settings.port}/ with "
              f"{counted(settings.workers, 'answering process', 'answering processes')} (widget: /embed/, "
              "API: /api/ask, example host page: /embed-example)",
              flush=True)
        # uvloop: every question passes through this process, and libuv's loop costs it less CPU per request
        # than asyncio's (measured with `pressroom bench load`). h11 rather than httptools, whose parser
        # refuses URLs over 64 kB with a plain-text 400, and a large h11 limit lets an over-long question reach
        # /api/ask and get its one-sentence 400.
        config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", loop="uvloop",
                                http="h11", h11_max_incomplete_event_size=4 * MAX_BODY_BYTES)
        with contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run: Ctrl+C is a normal stop
            uvicorn.Server(config).run(sockets=[sock])
    finally:
        pool.close()
        sock.close()


def _bind(host: str, port: int) -> socket.socket:
    """The server's socket, bound before the index is opened: a busy port is one sentence at once, where
    uvicorn would log its own error (after our "answering on" line) and exit with status 3."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise PressroomError(f"Cannot listen on {host!r} ({exc.strerror}); check --host.") from None
    # One socket, so one address: IPv4 first where a name has both (localhost may list ::1 first).
    family, kind, _, _, address = next((f for f in found if f[0] == socket.AF_INET), found[0])
    sock = socket.socket(family, kind)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a restart may rebind at once
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PressroomError(f"Port {port} on {host} is already in use (another server?); stop it or choose "
                                 "another port with --port.") from None
        raise PressroomError(f"Cannot listen on {host}:{port} ({exc.strerror}); check --host and --port.") from None
    return sock


__all__ = ["Admission", "build_app", "run"]

"""The web server: FastAPI with the HTTP API, and the Gradio chat mounted at /."""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import uvicorn
from fastapi import FastAPI, Query
from fastapi.responses import JSONResponse

from embeddings.errors import PressroomError

from .retrieval import Retriever
from .settings import Settings


def build_app(settings: Settings, retriever: Retriever | None = None) -> FastAPI:
    from . import chat

    retriever = retriever or Retriever.open(settings)
    app = FastAPI(title="Press Room", docs_url=None, redoc_url=None)

    @app.get("/healthz")
    def healthz() -> dict:
        m = retriever.index.manifest
        return {"ok": True, "model": m.model, "passages": m.count, "conferences": m.conferences}

    @app.get("/api/ask")
    def api_ask(q: str = Query(""), k: str = Query(str(settings.k))) -> JSONResponse:
        try:
            hits = retriever.search(q, k)
        except PressroomError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"question": q, "answers": [h.to_json() for h in hits]})

    return chat.mount(app, retriever, settings.k)


def run(settings: Settings) -> None:
    app = build_app(settings)
    print(f"Press Room is answering on http://{settings.host}:{settings.port}/", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")

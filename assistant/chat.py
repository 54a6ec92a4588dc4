"""The Gradio chat: the only module that imports gradio. It formats Hits; all logic is in retrieval."""

from __future__ import annotations

import re

import gradio as gr
from fastapi import FastAPI

from embeddings.errors import PressroomError

from .retrieval import Hit, Retriever

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>&~])")


def as_text(text: str) -> str:
    """Show ``text`` literally in a Markdown message: no HTML, links or styling can come from it."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def format_hit(hit: Hit) -> str:
    a = hit.answer
    quote = "\n>\n".join(
        f"> **{as_text(p.text)}**" if i == hit.matched else f"> {as_text(p.text)}"
        for i, p in enumerate(a.paragraphs)
    )
    day = a.date.isoformat() if a.date else "date unknown"
    lines = [quote, "", f"— **{as_text(a.speaker)}**, {as_text(a.conference)}, {day}"]
    if a.asked:
        lines.append(f"in reply to {as_text(a.asked_by or 'a journalist')}: {as_text(a.asked)}")
    lines.append(f"Source: {as_text(a.source)}")
    return "\n\n".join(lines)


def build_demo(retriever: Retriever, k: int) -> gr.Blocks:
    def respond(message: str, history: list) -> str:
        try:
            hits = retriever.search(message, k)
        except PressroomError as exc:
            return as_text(str(exc))
        if not hits:
            return "No official answer on this in the indexed transcripts."
        return format_hit(hits[0])

    return gr.ChatInterface(respond, title="Press Room", analytics_enabled=False, api_name="ask")


def mount(app: FastAPI, retriever: Retriever, k: int) -> FastAPI:
    return gr.mount_gradio_app(app, build_demo(retriever, k), path="/", footer_links=[])

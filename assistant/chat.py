"""The Gradio chat: the only module that imports gradio. It formats Replies; all logic is in retrieval.

Everything from a transcript or a question is shown as text: Markdown and HTML in it are escaped before
Gradio renders the message (and Gradio's own HTML sanitiser stays on), so nothing typed or ingested can
run script, restyle the page or make a link. Only the source address becomes a link, and only when it is
a plain http(s) URL.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import gradio as gr
from fastapi import FastAPI

from embeddings.errors import PressroomError

from .retrieval import Hit, Reply, Retriever, make_filter
from .settings import Settings

NO_ANSWER = "No official answer on this in the indexed transcripts."
FURTHER_ANSWERS = 4  # folded below the best one
ANYONE = ""

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>&~$=:\"'])")
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9.\-]+(?::\d+)?(?:/[A-Za-z0-9._~/%\-?=&+,;]*)?")
_TITLE_UNSAFE = re.compile(r"[\\`*_{}\[\]()#<>|~$]")

# System fonts only: Gradio's default theme would fetch Google Fonts, and the page must not call out.
THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                          font_mono=["ui-monospace", "monospace"])
COMPACT_CSS = "footer { display: none !important; } .gradio-container { padding: 0 !important; }"


def as_text(text: str) -> str:
    """Show ``text`` literally in a Markdown message: no HTML, links or styling can come from it."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _link(source: str) -> str:
    return f"<{source}>" if _PLAIN_URL.fullmatch(source) else as_text(source)


def format_hit(hit: Hit) -> str:
    """One answer: the quote (the matched paragraph in bold), then who said it, where, when, to whom."""
    a = hit.answer
    quote = "\n>\n".join(
        f"> **{as_text(p.text)}**" if i == hit.matched else f"> {as_text(p.text)}"
        for i, p in enumerate(a.paragraphs)
    )
    day = a.date.isoformat() if a.date else "date unknown"
    who = as_text(a.speaker) + (f", {as_text(a.title)}" if a.title else "")
    lines = [quote, f"— **{who}**, {as_text(a.conference)}, {day} · Source: {_link(a.source)}"]
    if a.asked:
        lines.append(f"In reply to {as_text(a.asked_by or 'a journalist')}: *{as_text(a.asked)}*")
    elif a.kind.value == "statement":
        lines.append("*Opening statement, not a reply to a question.*")
    return "\n\n".join(lines)


def card_title(rank: int, hit: Hit) -> str:
    """The one-line title of a folded answer (shown as plain text, so stripped of markup characters)."""
    a = hit.answer
    day = a.date.isoformat() if a.date else "date unknown"
    return _TITLE_UNSAFE.sub("", f"{rank}. {a.speaker} — {a.conference}, {day}")


def format_reply(reply: Reply) -> list[gr.ChatMessage]:
    """The chat messages for one reply: the best answer in full, the next ones folded as cards."""
    notes = []
    if reply.query.differs_from(reply.question):
        notes.append(f"*Searched for:* {as_text(reply.query.text)}")
    where = reply.where.to_json()
    chosen = [f"{name} {as_text(str(value))}" for name, value in where.items() if value]
    if chosen:
        notes.append("*Only answers with* " + ", ".join(chosen))
    if not reply.hits:
        return [gr.ChatMessage(role="assistant", content="\n\n".join([*notes, NO_ANSWER]))]
    best, *more = reply.hits
    messages = [gr.ChatMessage(role="assistant", content="\n\n".join([*notes, format_hit(best)]))]
    for rank, hit in enumerate(more[:FURTHER_ANSWERS], 2):
        messages.append(gr.ChatMessage(role="assistant", content=format_hit(hit),
                                       metadata={"title": card_title(rank, hit), "status": "done"}))
    return messages


def _user_questions(history: list[Any]) -> list[str]:
    """The user's earlier questions from Gradio's message history (content is text or a list of parts)."""
    out = []
    for message in history or []:
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
        if isinstance(content, str) and content.strip():
            out.append(content)
    return out


def build_blocks(retriever: Retriever, settings: Settings, compact: bool = False) -> gr.Blocks:
    """The chat page (or, ``compact``, the embeddable widget) over ``retriever``."""

    def respond(message: str, history: list[Any], speaker: str, conference: str, since: str,
                until: str) -> list[gr.ChatMessage] | str:
        try:
            where = make_filter(speaker, conference, since, until)
            reply = retriever.ask(message, settings.k, where, _user_questions(history))
        except PressroomError as exc:
            return as_text(str(exc))
        return format_reply(reply)

    def ask(q: str, k: int = settings.k, speaker: str = "", conference: str = "", since: str = "",
            until: str = "") -> dict[str, Any]:
        """The same JSON as /api/ask and `pressroom ask --json`."""
        try:
            return retriever.ask(q, k, make_filter(speaker, conference, since, until)).to_json()
        except PressroomError as exc:
            raise gr.Error(str(exc)) from None

    speakers = [ANYONE, *retriever.speakers]
    conferences = [ANYONE, *(c.title for c in retriever.index.store.conferences())]
    examples = [[q] for q in retriever.example_questions()]
    with gr.Blocks(title="Press Room", fill_height=True, analytics_enabled=False) as blocks:
        if not compact:
            gr.Markdown("# Press Room\nAsk what officials said at press conferences. Every reply is the "
                        "**official answer, verbatim**, with who said it, when, and in reply to whom.")
        gr.ChatInterface(
            respond,
            chatbot=gr.Chatbot(label="Press Room", height="70vh" if not compact else 440, sanitize_html=True,
                               render_markdown=True, latex_delimiters=[], buttons=["copy"], feedback_options=None,
                               placeholder="Ask about what officials said, e.g. the Yangtze River Delta."),
            textbox=gr.Textbox(placeholder="Ask a question…", submit_btn=True, max_length=2000,
                               show_label=False),
            additional_inputs=[
                # render=False: ChatInterface renders them inside its Filters accordion.
                gr.Dropdown(speakers, value=ANYONE, label="Speaker", allow_custom_value=True, render=False),
                gr.Dropdown(conferences, value=ANYONE, label="Conference", allow_custom_value=True,
                            render=False),
                gr.Textbox(label="From (YYYY-MM-DD)", placeholder="2024-01-01", render=False),
                gr.Textbox(label="To (YYYY-MM-DD)", placeholder="2024-12-31", render=False),
            ],
            additional_inputs_accordion=gr.Accordion("Filters", open=False),
            examples=examples or None,
            cache_examples=False,
            api_name="chat",
            api_visibility="undocumented",
            fill_height=True,
            autofocus=not compact,
        )
        gr.api(ask, api_name="ask", concurrency_limit=settings.concurrency)
    return blocks


def mount(app: FastAPI, retriever: Retriever, settings: Settings, *, path: str, compact: bool) -> FastAPI:
    """Mount the chat (``compact``: the widget) at ``path`` of ``app``, with a bounded queue."""
    blocks = build_blocks(retriever, settings, compact)
    blocks.queue(default_concurrency_limit=settings.concurrency, max_size=settings.queue)
    return gr.mount_gradio_app(app, blocks, path=path, footer_links=[], theme=THEME,
                               css=COMPACT_CSS if compact else None, show_error=True, ssr_mode=False,
                               enable_monitoring=False, mcp_server=False)


def web_component_loader() -> Path:
    """Gradio's own loader of the <gradio-app> web component, from the installed package."""
    return Path(gr.__file__).parent / "templates" / "frontend" / "gradio.js"

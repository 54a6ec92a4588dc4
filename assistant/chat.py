"""The Gradio chat: the only module that imports gradio. It formats Replies; all logic is in retrieval.

Everything from a transcript or a question is shown as text: Markdown and HTML in it are escaped before
Gradio renders the message (and Gradio's own HTML sanitiser stays on), so nothing typed or ingested can
run script, restyle the page or make a link. Only the source address becomes a link, and only when it is
a plain http(s) URL.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import gradio as gr
from fastapi import FastAPI

from embeddings.errors import PressroomError

from .retrieval import LESS_RELATED, Hit, Reply, make_filter
from .settings import Settings
from .workers import Answerer

NO_ANSWER = "No official answer on this in the indexed transcripts."
FURTHER_ANSWERS = 4  # folded below the best one
SESSIONS = 1000  # chat sessions whose state (earlier questions) is kept; the oldest are forgotten first
ANYONE = ""  # the empty choice of a filter: no filter

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>&~$=:\"'])")
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9.\-]+(?::\d+)?(?:/[A-Za-z0-9._~/%\-?=&+,;]*)?")

# System fonts only: Gradio's default theme would fetch Google Fonts, and the page must not call out.
THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                          font_mono=["ui-monospace", "monospace"])
# Scoped to the app's container: <gradio-app> adds this CSS to the host page too, where a bare `footer` rule
# hid the newsroom's own footer.
# The widget fits 400×600 with its Filters open too: the chat gives them its height (Gradio's 32 px side padding
# would also stack the filters' fields one under another).
COMPACT_CSS = (".gradio-container footer { display: none !important; } .gradio-container { padding: 0 !important; } "
               ".gradio-container .main { padding: 8px !important; } "
               ".gradio-container:has(#filters .label-wrap.open) #chat { height: 200px !important; }")


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
    who = as_text(a.speaker) + (f", {as_text(a.title)}" if a.title else "")
    lines = [quote, f"— **{who}**, {as_text(a.conference)}, {hit.day} · Source: {_link(a.source)}"]
    if a.asked:
        # Each paragraph in italics of its own: Markdown emphasis never spans paragraphs.
        asked = "\n\n".join(f"*{as_text(p)}*" for p in a.asked.split("\n\n"))
        lines.append(f"In reply to {as_text(a.asked_by or 'a journalist')}: {asked}")
    elif a.kind.value == "statement":
        lines.append("*Opening statement, not a reply to a question.*")
    return "\n\n".join(lines)


def card_title(rank: int, hit: Hit) -> str:
    """The one-line title of a folded answer (Gradio renders it as Markdown, so it is escaped too)."""
    a = hit.answer
    return as_text(f"{rank}. {a.speaker} — {a.conference}, {hit.day}")


def format_reply(reply: Reply, conferences: dict[str, str] | None = None) -> list[gr.ChatMessage]:
    """The chat messages for one reply: the best answer in full, the next ones folded as cards; those below the
    threshold after a label saying they are less closely related.

    ``conferences`` maps the ids the Conference filter sends to the choices the user saw ("2023-08-24 · Regular
    press conference"): the note on the filters names the one chosen, not its id.
    """
    notes = []
    if reply.query.differs_from(reply.question):
        notes.append(f"*Searched for:* {as_text(reply.query.text)}")
    where = reply.where.to_json()
    if where["conference"] in (conferences or {}):
        where["conference"] = (conferences or {})[where["conference"]]
    chosen = [f"{name} {as_text(str(value))}" for name, value in where.items() if value]
    if chosen:
        notes.append("*Only answers with* " + ", ".join(chosen))
    if not reply.hits:
        return [gr.ChatMessage(role="assistant", content="\n\n".join([*notes, NO_ANSWER]))]
    best, *more = reply.hits
    messages = [gr.ChatMessage(role="assistant", content="\n\n".join([*notes, format_hit(best)]))]
    for rank, hit in enumerate(more[:FURTHER_ANSWERS], 2):
        if rank - 1 == reply.first_less_related:
            messages.append(gr.ChatMessage(role="assistant", content=f"*{as_text(LESS_RELATED)}*"))
        messages.append(gr.ChatMessage(role="assistant", content=format_hit(hit),
                                       metadata={"title": card_title(rank, hit), "status": "done"}))
    return messages


def build_blocks(pool: Answerer, settings: Settings, compact: bool = False) -> gr.Blocks:
    """The chat page (or, ``compact``, the embeddable widget), answering through ``pool``.

    A plain Chatbot rather than ChatInterface: the user's own message is escaped before it is shown too
    (ChatInterface would render it as Markdown), and the questions as typed are kept in a State for
    follow-ups.
    """
    catalog = pool.catalog
    assert catalog is not None, "start the pool before building the chat"
    conferences = {cid: label for label, cid in catalog.conference_choices}

    async def respond(message: str, history: list[Any], earlier: list[str], speaker: str, conference: str,
                      since: str, until: str) -> tuple[str, list[Any], list[str]]:
        history = list(history or [])
        if (message or "").strip():  # a blank one gets its one-sentence error without an empty bubble before it
            history.append(gr.ChatMessage(role="user", content=as_text(message)))
        try:
            where = make_filter(speaker, conference, since, until)
            reply = await pool.ask(message, settings.k, where, earlier or [])
        except PressroomError as exc:
            return message, [*history, gr.ChatMessage(role="assistant", content=as_text(str(exc)))], earlier
        return "", [*history, *format_reply(reply, conferences)], [*(earlier or []), reply.question]

    async def ask(q: str, k: int = settings.k, speaker: str = "", conference: str = "", since: str = "",
                  until: str = "") -> dict[str, Any]:
        """The same JSON as /api/ask and `pressroom ask --json`."""
        try:
            return json.loads(await pool.ask_json(q, k, make_filter(speaker, conference, since, until)))
        except PressroomError as exc:
            raise gr.Error(str(exc)) from None

    examples = [] if compact else list(catalog.examples)  # the widget must fit 400×600
    with gr.Blocks(title="Press Room", fill_height=True, analytics_enabled=False) as blocks:
        if not compact:
            gr.Markdown("# Press Room\nAsk what officials said at press conferences. Every reply is the "
                        "**official answer, verbatim**, with who said it, when, and in reply to whom.")
        chatbot = gr.Chatbot(
            label="Press Room", show_label=False, height="66vh" if not compact else 420,
            sanitize_html=True, render_markdown=True, latex_delimiters=[], buttons=["copy"],
            feedback_options=None, elem_id="chat",
            placeholder="Ask what an official said, e.g. about the Yangtze River Delta.",
        )
        earlier = gr.State([])
        question = gr.Textbox(placeholder="Ask a question…", show_label=False, submit_btn=True,
                              max_length=2000, autofocus=not compact, elem_id="question")
        with gr.Accordion("Filters", open=False, elem_id="filters"):
            with gr.Row():
                speaker = gr.Dropdown([ANYONE, *catalog.speakers], value=ANYONE, label="Speaker",
                                      allow_custom_value=True)
                # Type a day or words of a title to narrow hundreds of choices; typed text not chosen from the
                # list filters as --conference does (part of a title).
                conference = gr.Dropdown([ANYONE, *catalog.conference_choices],
                                         value=ANYONE, label="Conference", allow_custom_value=True)
            with gr.Row():
                since = gr.Textbox(label="From (YYYY-MM-DD)", placeholder="2024-01-01")
                until = gr.Textbox(label="To (YYYY-MM-DD)", placeholder="2024-12-31")
        if examples:
            gr.Examples([[q] for q in examples], inputs=[question], label="Questions journalists asked")
        question.submit(respond, [question, chatbot, earlier, speaker, conference, since, until],
                        [question, chatbot, earlier], api_visibility="undocumented", show_progress="minimal")
        chatbot.clear(lambda: [], None, earlier, api_visibility="undocumented")
        gr.api(ask, api_name="ask", concurrency_limit=settings.concurrency)
    return blocks


def mount(app: FastAPI, pool: Answerer, settings: Settings, *, path: str, compact: bool) -> FastAPI:
    """Mount the chat (``compact``: the widget) at ``path`` of ``app``, with a bounded queue."""
    blocks = build_blocks(pool, settings, compact)
    # Gradio keeps every session's state (10,000 sessions by default, each API call being one): bound it.
    blocks.state_session_capacity = SESSIONS
    blocks.queue(default_concurrency_limit=settings.concurrency, max_size=settings.queue)
    return gr.mount_gradio_app(app, blocks, path=path, footer_links=[], theme=THEME,
                               css=COMPACT_CSS if compact else None, show_error=True, ssr_mode=False,
                               enable_monitoring=False, mcp_server=False)


def web_component_loader() -> Path:
    """Gradio's own loader of the <gradio-app> web component, from the installed package."""
    return Path(gr.__file__).parent / "templates" / "frontend" / "gradio.js"

"""Press-room HTML pages (SCIO mobile and desktop layouts) turned into the transcript text the parser reads."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from .errors import TranscriptError
from .records import Conference, Page
from .transcripts import MAX_TRANSCRIPT_BYTES, Meta, decode_transcript, parse_pages, sidecar_path, speaker_name

if TYPE_CHECKING:
    from selectolax.lexbor import LexborHTMLParser, LexborNode

HTML_SUFFIXES = (".htm", ".html", ".shtml")

# Elements that never hold transcript text.
_DROP_TAGS = (
    "script, style, noscript, template, svg, iframe, form, button, input, select, textarea, nav, header, "
    "footer, aside, figure, figcaption, img, picture, video, audio, canvas, object, embed, map, link, meta"
)
# Words of class/id names of page furniture: navigation, share bars, galleries, pagination, footers.
_FURNITURE = re.compile(
    r"^(nav|navbar|navigation|menu|share|sharing|bshare|social|footer|foot|bottom|crumb|crumbs|breadcrumb|"
    r"position|location|gallery|photo|photos|pic|pics|picture|img|image|slide|slider|carousel|related|"
    r"recommend|copyright|toolbar|tools|comment|comments|ad|ads|advert|sidebar|side|logo|search|banner|qrcode|"
    r"qr|page|pages|autopage|pagination|pager|print|header|hot|topnav|more)$"
)
# Class words that mark the article itself: never dropped even if another word looks like furniture.
_ARTICLE = {"content", "article", "text", "body", "main", "trs", "detail"}
_BLOCK_TAGS = {
    "p", "div", "section", "article", "main", "li", "ul", "ol", "dl", "dt", "dd", "table", "tbody", "thead",
    "tr", "td", "th", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "center", "hr",
}
_CONTENT_ID = re.compile(r"content_(?P<id>\d+)(?:_(?P<page>\d+))?\.s?html?$")
_DATE = re.compile(
    r"\b(?:January|February|March|April|May|June|July|August|September|October|November|December|Jan|Feb|Mar|"
    r"Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\.?\s+\d{1,2},?\s+\d{4}\b|\b\d{4}-\d{1,2}-\d{1,2}\b"
)
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w-]+)""", re.I)
# A photo credit alone on a line: "[Photo by Zhang Wei/China.org.cn]".
_CREDIT = re.compile(r"^\[[^\]]*\b(photo|image|video|file)s?\b[^\]]*\]$", re.I)
# The share of an element's text that one child must hold for the search to descend into it.
_DOMINANT = 0.8
# How much of a saved page is read for the address it names for itself (its <head> holds it), when grouping pages
# before any is read: reading a page whole, and refusing one too large, is read_page's.
_OWN_ADDRESS_READ_BYTES = 1 << 20


@dataclass(frozen=True)
class HtmlPage:
    """What one saved or fetched page holds, as transcript text.

    ``text`` has the header lines (title, category, summary, date) and then one block of the article per line,
    blank lines between; ``text[body:]`` is the article. Paragraph offsets of HTML sources refer to ``text``.
    """

    text: str
    body: int
    number: int  # page number: content_<id>_<n>.htm is page n, content_<id>.htm page 1
    content_id: str | None  # shared by every page of one conference
    url: str | None  # the address the page names for itself (canonical link), or was fetched from
    links: tuple[str, ...]  # the other pages of the same conference, resolved against ``url`` when known

    @property
    def has_transcript(self) -> bool:
        return bool(self.text[self.body :].strip())


def content_id(name: str) -> tuple[str, int] | None:
    """(content id, page number) from a SCIO-style address or file name, or None."""
    m = _CONTENT_ID.search(name.split("?")[0].split("#")[0])
    return (m.group("id"), int(m.group("page") or 1)) if m else None


def decode_html(data: bytes, where: str, charset: str | None = None) -> str:
    """Decode page bytes: the HTTP or <meta> charset when it is not UTF-8, else as a text transcript."""
    declared = charset or (m.group(1).decode("ascii", "ignore") if (m := _CHARSET.search(data[:4096])) else None)
    if declared and declared.lower().replace("_", "-") not in ("utf-8", "utf8"):
        try:
            return data.decode(declared)
        except (LookupError, UnicodeDecodeError):
            pass  # a wrong declaration: UTF-8 (with a clear message if it is not) is what SCIO serves
    return decode_transcript(data, where)


def extract(html: str, *, url: str | None = None, name: str = "") -> HtmlPage:
    """The transcript text of one press-room page, with its page number and the links to its sibling pages.

    Args:
        html: the page's markup.
        url: where it was fetched from (resolves relative links); a canonical link in the page wins.
        name: a file name to take the page number from when there is no URL.
    """
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    canonical = _own_address(tree)
    if canonical and url:
        canonical = urljoin(url, canonical)
    own = url or canonical
    ids = content_id(own or "") or content_id(name) or (content_id(canonical) if canonical else None)
    header = _header(tree)
    links = _page_links(tree, own, ids[0] if ids else None)
    for node in tree.css(_DROP_TAGS):
        node.decompose()
    for node in tree.css("[class], [id]"):
        if _is_furniture(node):
            node.decompose()
    body = _lines(_container(tree.body)) if tree.body is not None else []
    seen = set(header)
    body = [line for line in body if line not in seen]  # the title or summary repeated inside the article
    head = "\n\n".join(header)
    text = head + "\n\n" if head else ""
    return HtmlPage(
        text=text + "\n\n".join(body) + "\n",
        body=len(text),
        number=ids[1] if ids else 1,
        content_id=ids[0] if ids else None,
        url=url or canonical,
        links=links,
    )


def _attr(tree: LexborHTMLParser, selector: str, name: str) -> str | None:
    node = tree.css_first(selector)
    value = node.attributes.get(name) if node is not None else None
    return value.strip() if value and value.strip() else None


def _own_address(tree: LexborHTMLParser) -> str | None:
    """The address a page names for itself: its canonical link, else its og:url."""
    return _attr(tree, "link[rel=canonical]", "href") or _attr(tree, "meta[property='og:url']", "content")


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


def _header(tree: LexborHTMLParser) -> list[str]:
    """Title, category, summary and date, in the order the text parser reads a SCIO page's header."""
    title = next((t for node in tree.css("[class*='title'], [id*='title'], h1")
                  if len((t := _clean(node.text())).split()) >= 3 and node.tag not in ("title", "a")), None)
    if title is None:
        head = tree.css_first("title")
        title = re.split(r"\s+[-|_]\s+", _clean(head.text()))[0] if head is not None else None
    category = next((t for node in tree.css("[class*='column'], [class*='channel'], [class*='category']")
                     if 1 <= len((t := _clean(node.text())).split()) <= 4), None)
    summary = next((t for node in tree.css("[class*='summary'], [class*='abstract'], [class*='intro']")
                    if len((t := _clean(node.text())).split()) >= 8), None)
    date = next((m.group() for node in tree.css("[class*='date'], [class*='time'], time")
                 if (m := _DATE.search(_clean(node.text())))), None)
    return [line for line in (title, category, summary, date) if line]


def _page_links(tree: LexborHTMLParser, own: str | None, cid: str | None) -> tuple[str, ...]:
    """Links to the numbered pages of the same conference (same content id), in page order."""
    if cid is None:
        return ()
    found: dict[int, str] = {}
    for node in tree.css("a[href]"):
        href = (node.attributes.get("href") or "").strip()
        ids = content_id(href)
        if ids and ids[0] == cid:
            found.setdefault(ids[1], urljoin(own, href) if own else href)
    return tuple(found[n] for n in sorted(found))


def _is_furniture(node: LexborNode) -> bool:
    names = f"{node.attributes.get('class') or ''} {node.attributes.get('id') or ''}".lower()
    words = set(re.split(r"[\s\-_]+", names)) - {""}
    return bool(words) and not words & _ARTICLE and any(_FURNITURE.match(w) for w in words)


def _text_size(node: LexborNode, selector: str | None) -> int:
    parts = node.css(selector) if selector else [node]
    return sum(len("".join(part.text(deep=True).split())) for part in parts)


def _container(node: LexborNode) -> LexborNode:
    """The element holding the article: descend while one child holds most of its paragraph text.

    Paragraph (``<p>``) text is what counts, so a title, date line or leftover widget beside the article
    does not keep the search above it; pages without ``<p>`` fall back to all text.
    """
    selector = "p" if _text_size(node, "p") else None
    while True:
        total = _text_size(node, selector)
        if total == 0:
            return node
        best = max((c for c in node.iter() if c.tag in _BLOCK_TAGS), key=lambda c: _text_size(c, selector),
                   default=None)
        if best is None or best.tag == "p" or _text_size(best, selector) < _DOMINANT * total:
            return node
        node = best


_BOLD_STYLE = re.compile(r"font-weight\s*:\s*(bold|[6-9]00)", re.I)


def _is_bold(node: LexborNode) -> bool:
    return node.tag in ("b", "strong") or (node.tag in ("span", "font") and
                                           bool(_BOLD_STYLE.search(node.attributes.get("style") or "")))


def _speaker_label(lead: str, rest: str) -> tuple[str, str] | None:
    """The speaker line in the bold text opening a paragraph, and the text after it; None when it is no name.

    The colon may be inside the bold or just after it (``<b>Gu Jun</b>: Thank you…``).
    """
    label = _clean(lead)
    after = rest.lstrip(" \t\u00a0")
    if label and not label.endswith((":", "：")) and after[:1] in (":", "："):
        label, rest = label + after[0], after[1:]
    return (label, rest) if label.endswith((":", "：")) and speaker_name(label) else None


def _lines(node: LexborNode) -> list[str]:
    """One line per block of text; a bold ``Name:`` opening a paragraph becomes its own speaker line."""
    lines: list[str] = []
    buffer: list[str] = []
    lead = 0  # how much of the block's text so far is the bold text it opens with (split bold runs included)

    def flush() -> None:
        nonlocal lead
        text = "".join(buffer)
        label = _speaker_label(text[:lead], text[lead:]) if lead else None
        if label:
            lines.append(label[0])  # "<b>Gu Jun:</b> Thank you…": the parser wants the name on its own line
            text = label[1]
        for part in text.split("\n"):
            if (cleaned := _clean(part)) and not _CREDIT.match(cleaned):
                lines.append(cleaned)
        buffer.clear()
        lead = 0

    def walk(parent: LexborNode) -> None:
        nonlocal lead
        for child in parent.iter(include_text=True):
            tag = child.tag
            if tag == "-text":
                buffer.append(child.text_content or "")
            elif tag == "br":
                buffer.append("\n")
            elif tag in _BLOCK_TAGS:
                flush()
                walk(child)
                flush()
            elif _is_bold(child) and not _clean("".join(buffer)[lead:]):  # nothing but bold text so far
                buffer.append(child.text())
                lead = len("".join(buffer))
            elif not tag.startswith("-"):
                walk(child)

    walk(node)
    flush()
    return lines


def read_page(path: Path) -> tuple[HtmlPage, Meta]:
    """One saved page (and its optional sidecar ``<file>.meta.json``)."""
    where = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_TRANSCRIPT_BYTES:
            raise TranscriptError(f"{where} is {size / 1e6:.0f} MB; pages over {MAX_TRANSCRIPT_BYTES / 1e6:.0f} MB "
                                  "are refused.")
        html = decode_html(path.read_bytes(), where)
    except OSError as exc:
        raise TranscriptError(f"{where} cannot be read ({exc.strerror}).") from exc
    meta = Meta()
    sidecar = sidecar_path(path)
    if sidecar.exists():
        try:
            meta = Meta.from_mapping(json.loads(sidecar.read_text("utf-8")), str(sidecar))
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as exc:
            raise TranscriptError(f"{sidecar} is not a JSON object of metadata ({exc}).") from exc
    page = extract(html, url=meta.source, name=path.name)
    if meta.page:
        page = HtmlPage(page.text, page.body, meta.page, page.content_id, page.url, page.links)
    return page, meta


def conference_from_pages(pages: Sequence[tuple[HtmlPage, str | None]], meta: Meta | None = None,
                          where: str = "") -> Conference:
    """Merge the pages of one conference (any order) into one Conference, in page order.

    Args:
        pages: each page with the local file it was read from (None when fetched).
        meta: what a sidecar adds (title, dates, speakers); it wins over the pages.
        where: how to name the source in an error.
    """
    ordered = sorted(pages, key=lambda item: item[0].number)
    usable = [(p, path) for p, path in ordered if p.has_transcript]
    if not usable:
        raise TranscriptError(f"{where or 'The page'} has no transcript text (only navigation, photos or "
                              "captions); it does not look like a press-conference page.")
    # A photo-only page contributes nothing, but the conference's first page still names its address.
    records = [(p.text, Page(number=p.number, url=p.url, path=path)) for p, path in usable]
    return parse_pages(records, meta, bodies=[p.body for p, _ in usable])


def read_html(paths: Sequence[Path]) -> Conference:
    """The conference in one or more saved pages of it (e.g. content_<id>.htm, content_<id>_2.htm, …)."""
    read = [(read_page(path), str(path)) for path in paths]
    metas = [meta for (_, meta), _ in read if meta != Meta()]
    return conference_from_pages([(page, path) for (page, _), path in read], metas[0] if metas else None,
                                 where=", ".join(str(p) for p in paths))


def group_pages(paths: Sequence[Path]) -> list[list[Path]]:
    """Saved pages grouped by conference: same folder and content id (from the file name, else from the address the
    page names for itself); other files, and a second copy of a page, stand alone."""
    groups: dict[tuple[Path, str], dict[int, Path]] = {}
    alone: list[list[Path]] = []
    for path in paths:
        ids = content_id(path.name) or _saved_address_id(path)
        if ids is None:
            alone.append([path])
            continue
        conference, number = ids
        group = groups.setdefault((path.parent, conference), {})
        if number in group:  # a second copy of a page (mobile and desktop) is a source of its own
            alone.append([path])
        else:
            group[number] = path
    return [[group[n] for n in sorted(group)] for group in groups.values()] + alone


def _saved_address_id(path: Path) -> tuple[str, int] | None:
    """The content id in the address a saved page names for itself: a browser names the file by the page's title
    ("…_SCIO (2).htm"), so the file name has none."""
    from selectolax.lexbor import LexborHTMLParser

    try:
        with open(path, "rb") as f:
            head = f.read(_OWN_ADDRESS_READ_BYTES).decode("utf-8", "replace")
    except OSError:
        return None  # read_page says why
    address = _own_address(LexborHTMLParser(head))
    return content_id(address) if address else None

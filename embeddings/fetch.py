"""Fetch press-room pages over HTTP(S) with httpx: timeouts, retries with backoff, one-sentence failures."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from .errors import TranscriptError, counted
from .html import HtmlPage, content_id, decode_html, extract
from .transcripts import MAX_TRANSCRIPT_BYTES

TIMEOUT = 15.0  # seconds to connect, and between bytes read
RETRIES = 2  # tries after the first, on network errors, HTTP 429 and 5xx
BACKOFF = 0.5  # seconds before the first retry, doubled for each next one
MAX_PAGES = 60  # pages followed for one conference (SCIO conferences have up to ~20)


def is_url(value: object) -> bool:
    """Whether an ingest argument is an http(s) address rather than a path."""
    return isinstance(value, str) and value.lower().startswith(("http://", "https://"))


@dataclass(frozen=True)
class Fetched:
    """One fetched page: its final address, bytes and their sha256."""

    url: str
    data: bytes
    charset: str | None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


class Fetcher:
    """GETs pages with one shared client; a failure is a TranscriptError naming the address and what to do."""

    def __init__(self, *, timeout: float = TIMEOUT, retries: int = RETRIES, backoff: float = BACKOFF,
                 sleep: Callable[[float], None] = time.sleep, transport: httpx.BaseTransport | None = None) -> None:
        self.retries, self.backoff, self.sleep = retries, backoff, sleep
        self.client = httpx.Client(timeout=timeout, follow_redirects=True, transport=transport,
                                   headers={"User-Agent": "pressroom (transcript ingest)"})

    def get(self, url: str) -> Fetched:
        """The page at ``url``, retried on network errors, 429 and 5xx; 4xx fails at once."""
        tries = self.retries + 1
        problem = ""
        for attempt in range(tries):
            if attempt:
                self.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                with self.client.stream("GET", url) as response:
                    if response.status_code in (429,) or response.status_code >= 500:
                        problem = f"HTTP {response.status_code} {response.reason_phrase}".strip()
                        continue
                    if response.status_code >= 400:
                        raise TranscriptError(
                            f"{url} answered HTTP {response.status_code} {response.reason_phrase}; check the address."
                        )
                    data = _read_limited(response, url)
                    return Fetched(str(response.url), data, response.charset_encoding)
            except httpx.InvalidURL as exc:  # a typo, not a network problem: no retry, and no traceback
                raise TranscriptError(f"{url} is not a valid web address ({exc}); check it.") from None
            except httpx.UnsupportedProtocol:  # http(s) is checked before, so what is missing is the host
                raise TranscriptError(f"{url} is not a valid web address (no host name); check it.") from None
            except httpx.TimeoutException:
                problem = "timed out"
            except httpx.TransportError as exc:
                problem = _reason(exc)
        raise TranscriptError(
            f"{url} could not be fetched ({problem}, {counted(tries, 'try', 'tries')}); check the address and the "
            "network connection."
        )

    def close(self) -> None:
        self.client.close()


def _read_limited(response: httpx.Response, url: str) -> bytes:
    limit = MAX_TRANSCRIPT_BYTES
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TranscriptError(f"{url} is {int(declared) / 1e6:.0f} MB; pages over {limit / 1e6:.0f} MB are refused.")
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise TranscriptError(f"{url} is over {limit / 1e6:.0f} MB; pages that large are refused.")
        chunks.append(chunk)
    return b"".join(chunks)


def _reason(exc: httpx.TransportError) -> str:
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused"
    if "name or service" in text or "nodename" in text or "resolve" in text or "getaddrinfo" in text:
        return "unknown host"
    if "unreachable" in text:
        return "network unreachable"
    return type(exc).__name__


@dataclass(frozen=True)
class FetchedPage:
    """A fetched page with what was extracted from it."""

    fetched: Fetched
    page: HtmlPage


def fetch_conference(url: str, fetcher: Fetcher) -> tuple[list[FetchedPage], list[str]]:
    """The page at ``url`` and every numbered page of the same conference it links to (same host, same id).

    Returns the pages fetched, and one sentence per sibling page that could not be fetched. A failure of
    ``url`` itself raises TranscriptError.
    """
    first = _fetch_page(url, fetcher)
    pages = {first.page.number: first}
    problems: list[str] = []
    seen = {url, first.fetched.url}
    queue = list(first.page.links)
    host = urlsplit(first.fetched.url).netloc
    while queue and len(pages) < MAX_PAGES:
        link = queue.pop(0)
        ids = content_id(link)
        if link in seen or urlsplit(link).netloc != host or ids is None or ids[0] != first.page.content_id \
                or ids[1] in pages:
            continue
        seen.add(link)
        try:
            page = _fetch_page(link, fetcher)
        except TranscriptError as exc:
            problems.append(str(exc))
            continue
        pages[page.page.number] = page
        queue.extend(page.page.links)
    return [pages[n] for n in sorted(pages)], problems


def _fetch_page(url: str, fetcher: Fetcher) -> FetchedPage:
    fetched = fetcher.get(url)
    html = decode_html(fetched.data, url, fetched.charset)
    # The address fetched is the page's address, even if a saved canonical link says otherwise.
    page = extract(html, url=fetched.url)
    return FetchedPage(fetched, page)

"""Load: 10,000 questions from 8 and 32 concurrent clients, through /api/ask and the Gradio endpoint.

Bounded in count (10,000 questions) and by the client timeout; it asserts on errors and memory, never on
time. The figures are printed (run with -s to see them) and quoted in the README's reliability section.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.bench_load import DEFAULT_QUESTIONS, rss_mb, run_load
from assistant.chat import SESSIONS

from .conftest import PARAPHRASE, SEED_QUESTION, Server

pytestmark = pytest.mark.slow

QUESTIONS = [*DEFAULT_QUESTIONS, SEED_QUESTION, PARAPHRASE, "foreign trade", "cross-border e-commerce",
             "What did Wang Wentao say about exports?", "bamboo exports", "🚢 ports", "<b>trade</b>"]
RUNS = [("api", 8, 2500), ("api", 32, 2500), ("gradio", 8, 2500), ("gradio", 32, 2500)]
RSS_NOISE_MB = 60  # allocator and cache churn; a leak over 10,000 requests would be far larger


def test_ten_thousand_questions_without_an_error(served_index: Path) -> None:
    server = Server(served_index)
    try:
        # Warm-up: lazy imports, caches, thread pools, and Gradio's session store filled to its bound.
        for endpoint, total in (("api", 300), ("gradio", SESSIONS + 200)):
            warm = run_load(server.url, QUESTIONS, clients=32, total=total, endpoint=endpoint)
            assert warm.failed == 0, (warm.errors, server.output()[-3000:])
        rss_start = rss_mb(server.process.pid)
        reports = [run_load(server.url, QUESTIONS, clients=c, total=n, endpoint=e) for e, c, n in RUNS]
        rss_end = rss_mb(server.process.pid)
        log = server.output()
    finally:
        server.stop()
    figures = {"runs": [r.to_json() for r in reports], "rss_start_mb": round(rss_start, 1),
               "rss_end_mb": round(rss_end, 1)}
    print("\nload:", json.dumps(figures, indent=1))
    assert sum(r.requests for r in reports) == 10_000
    assert [r.failed for r in reports] == [0, 0, 0, 0], ([r.errors[:3] for r in reports], log[-3000:])
    assert rss_end <= rss_start + RSS_NOISE_MB, figures

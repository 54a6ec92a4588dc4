"""Property-based tests of the transcript parser: it never crashes and never invents text."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embeddings.errors import TranscriptError
from embeddings.records import Kind, Role
from embeddings.transcripts import parse_text

from .conftest import DATA, SEED

SPEAKERS = ["Gu Jun:", "Southern Metropolis Daily:", "CCTV:", "Shou Xiaoli:", "GU JUN:  ", "Chairperson:",
            "Speakers:", "Mr. Wang, minister of commerce", "Date:", "The key is in four areas:"]
JUNK = ["<  1  2  3  4  >", "[Photo by Li Hua/China.org.cn]", "MORE FROM Press Room", "ㄑ\u00a0Press Room",
        "This question goes to Mr. Gu.", "Thank you.", "Now the floor is open.", "---", "title: x", ""]
SENTENCES = [
    "We will build a modern socialist international metropolis.",
    "What are the plans for integrating resources?",
    "The State Council Information Office held a press conference on March 28 in Beijing.  April 8, 2024",
]

line = st.one_of(st.sampled_from(SPEAKERS + JUNK + SENTENCES), st.text(max_size=80))
transcript = st.lists(line, max_size=40).flatmap(
    lambda lines: st.sampled_from(["\n", "\n\n", "\r\n"]).map(lambda sep: sep.join(lines))
)
seed_mutations = st.tuples(st.integers(0, 4000), st.integers(0, 400), st.text(max_size=30))


def check(text: str) -> None:
    try:
        conference = parse_text(text)
    except TranscriptError as exc:
        assert str(exc)  # a refusal is a sentence, never a crash
        return
    for turn in conference.turns:
        assert isinstance(turn.role, Role) and isinstance(turn.kind, Kind)
        assert turn.speaker and turn.paragraphs
        if turn.kind in (Kind.ANSWER, Kind.STATEMENT):
            assert turn.role is Role.OFFICIAL
        for p in turn.paragraphs:
            assert p.text and text[p.start : p.end] == p.text  # every paragraph is a substring, at its offsets


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(transcript)
def test_parser_on_generated_transcripts(text: str) -> None:
    check(text)


@settings(max_examples=200, deadline=None)
@given(seed_mutations)
def test_parser_on_mutated_real_pages(mutation: tuple[int, int, str]) -> None:
    at, cut, insert = mutation
    for source in (SEED, DATA / "scio_full_conference.txt"):
        text = source.read_text("utf-8")
        check(text[:at] + insert + text[at + cut :])

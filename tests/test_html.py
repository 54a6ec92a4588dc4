"""Press-room HTML: mobile and desktop pages parse like their text, furniture is dropped, pages merge in order."""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path

import pytest
from selectolax.lexbor import LexborHTMLParser

from embeddings.errors import TranscriptError
from embeddings.html import content_id, extract, group_pages, read_html, read_page
from embeddings.records import Conference, Kind, Role
from embeddings.transcripts import read_transcript

from .conftest import DATA, SEED
from .test_transcripts import GOLDEN, parsed_form

HTML = DATA / "html"
SEED_PAGES = {"mobile": HTML / "mobile" / "content_117111081_7.htm",
              "desktop": HTML / "desktop" / "content_117111081_7.htm"}
CONFERENCE = sorted((HTML / "conference").glob("content_900001*.htm"))
TEXT_PAGES = CONFERENCE[:3]  # content_900001.htm, _2, _3; _4 holds only photos


def turns_form(conference: Conference) -> list[tuple]:
    """What a reader sees of each turn: who, what kind, whose question, the paragraphs' text."""
    return [(t.speaker, t.role, t.kind, t.outlet, t.title, t.replies_to, [p.text for p in t.paragraphs])
            for t in conference.turns]


@pytest.mark.parametrize("layout", list(SEED_PAGES))
def test_html_and_text_of_one_page_give_the_same_conference(layout: str) -> None:
    text, page = read_transcript(SEED), read_html([SEED_PAGES[layout]])
    assert turns_form(page) == turns_form(text)
    assert [p.page for t in page.turns for p in t.paragraphs] == [p.page for t in text.turns for p in t.paragraphs]
    assert (page.title, page.held, page.published, page.category, page.summary) == \
        (text.title, text.held, text.published, text.category, text.summary)
    assert page.pages[0].number == 7


def test_mobile_page_keeps_the_address_the_text_names() -> None:
    # The mobile page's canonical link is the address in the seed's sidecar: the same conference id.
    assert read_html([SEED_PAGES["mobile"]]).id == read_transcript(SEED).id


@pytest.mark.parametrize("path", [*SEED_PAGES.values(), *CONFERENCE], ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_paragraphs_are_verbatim_from_the_page(path: Path) -> None:
    """Offsets refer to the extracted text; every word of a paragraph is in the page's own text."""
    page, _ = read_page(path)
    html_words = set(re.findall(r"\w+", LexborHTMLParser(path.read_text("utf-8")).body.text()))
    paragraphs = [p for t in read_html([path]).turns for p in t.paragraphs] if page.has_transcript else []
    for p in paragraphs:
        assert page.text[p.start : p.end] == p.text
        assert set(re.findall(r"\w+", p.text)) <= html_words
    body = page.text[page.body :]
    for furniture in ("Share", "Copyright", "Related news", "Most viewed", "Menu", "Photo by", "WeChat", "Print",
                      "Press Room", "<", ">"):
        assert furniture not in body, furniture


def test_inline_bold_names_become_speaker_lines() -> None:
    page = extract("<html><body><div class='content'><p><b>CGTN:</b> What is new this year?</p>"
                   "<p><strong>Li Hua:</strong>&nbsp;Trade grew steadily last year.</p></div></body></html>")
    assert page.text.split("\n\n") == ["CGTN:", "What is new this year?", "Li Hua:", "Trade grew steadily last year.\n"]


def test_multi_page_conference_merges_in_page_order_like_its_text() -> None:
    shuffled = CONFERENCE[:]
    random.Random(4).shuffle(shuffled)
    conference = read_html(shuffled)
    text = read_transcript(DATA / "scio_full_conference.txt")
    assert turns_form(conference) == turns_form(text)
    assert [p.number for p in conference.pages] == [1, 2, 3]  # the photo page adds no page to cite
    assert conference.source.endswith("/content_900001.htm")
    assert conference.held.isoformat() == "2024-01-16" and conference.published.isoformat() == "2024-01-18"


def test_question_at_the_end_of_a_page_links_to_the_answer_on_the_next() -> None:
    conference = read_html(CONFERENCE)
    li = next(t for t in conference.turns if t.speaker == "Li Ming")
    assert li.paragraphs[0].page == 2
    question = conference.turns[li.replies_to]
    assert (question.outlet, question.paragraphs[0].page) == ("CCTV", 1)
    # Chen Hong's answer starts on page 2 and runs on, without a name, at the top of page 3.
    chen = next(t for t in conference.turns if t.speaker == "Chen Hong")
    assert [p.page for p in chen.paragraphs] == [2, 3]
    assert conference.turns[chen.replies_to].outlet == "Bloomberg News"


def test_speaker_titles_from_the_index_page_attach_to_every_answer() -> None:
    conference = read_html(CONFERENCE)
    answers = [t for t in conference.turns if t.kind in (Kind.ANSWER, Kind.STATEMENT)]
    assert {t.speaker for t in answers} == {"Wang Wentao", "Li Ming", "Chen Hong"}
    assert all(t.title == conference.speakers[t.speaker] for t in answers)
    assert conference.speakers["Wang Wentao"] == "minister of commerce"
    assert all(t.role is Role.MODERATOR for t in conference.turns if t.speaker == "Shou Xiaoli")


def test_photo_only_page_contributes_nothing_and_alone_is_refused() -> None:
    photos = HTML / "conference" / "content_900001_4.htm"
    page, _ = read_page(photos)
    assert not page.has_transcript and page.number == 4
    assert turns_form(read_html(TEXT_PAGES)) == turns_form(read_html(CONFERENCE))
    with pytest.raises(TranscriptError, match="no transcript text") as info:
        read_html([photos])
    assert str(photos) in str(info.value) and "\n" not in str(info.value)


def test_page_links_and_numbers() -> None:
    page, _ = read_page(CONFERENCE[1])
    assert (page.content_id, page.number) == ("900001", 2)
    base = "http://english.scio.gov.cn/pressroom/2024-01/18/"
    assert page.links == tuple(base + n for n in ("content_900001.htm", "content_900001_3.htm",
                                                  "content_900001_4.htm"))
    assert content_id("content_117111081_7.htm") == ("117111081", 7)
    assert content_id("https://x.org/a/content_118718778.html?from=m") == ("118718778", 1)
    assert content_id("notes.html") is None


def test_saved_pages_group_by_folder_and_content_id(tmp_path: Path) -> None:
    names = ["content_5_2.htm", "content_5.htm", "content_6.htm", "other.html"]
    paths = [tmp_path / n for n in names]
    groups = group_pages(paths)
    assert [[p.name for p in g] for g in groups] == [["content_5.htm", "content_5_2.htm"], ["content_6.htm"],
                                                     ["other.html"]]


@pytest.mark.parametrize("name", ["mobile", "desktop", "conference"])
def test_parsed_form_matches_golden(name: str) -> None:
    paths = CONFERENCE if name == "conference" else [SEED_PAGES[name]]
    golden = GOLDEN / f"html_{name}.json"
    got = parsed_form(read_html(paths))
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n", "utf-8")
    assert got == json.loads(golden.read_text("utf-8"))


@pytest.mark.parametrize(
    ("markup", "message"),
    [
        ("<html><body><nav>Home Press Room</nav><div class='footer'>Copyright</div></body></html>",
         "no transcript text"),
        ("<html><body><div class='content'><p>Shopping list.</p><p>Milk and eggs.</p></div></body></html>",
         "no speaker lines"),
    ],
    ids=["only-furniture", "no-speakers"],
)
def test_pages_without_a_transcript_get_one_sentence(tmp_path: Path, markup: str, message: str) -> None:
    path = tmp_path / "page.html"
    path.write_text(markup, "utf-8")
    with pytest.raises(TranscriptError, match=message) as info:
        read_html([path])
    assert "\n" not in str(info.value)


def test_speaker_names_in_odd_bold_markup() -> None:
    # A name bolded by a style, split over two <strong>s, or with the colon after the bold was not a speaker line:
    # the chair's hand-off and Gu Jun's answer were read as part of Bloomberg's question and never returned.
    path = DATA / "html_odd" / "content_900777.htm"
    conference = read_html([path])
    assert [(t.speaker, t.kind, t.replies_to) for t in conference.turns] == [
        ("Xing Huina", Kind.REMARKS, None),
        ("Bloomberg", Kind.QUESTION, None),
        ("Xing Huina", Kind.HANDOFF, 1),
        ("Gu Jun", Kind.ANSWER, 1),
        ("CNBC", Kind.QUESTION, None),
        ("Li Qun", Kind.ANSWER, 4),
        ("Reuters", Kind.QUESTION, None),
        ("Gu Jun", Kind.ANSWER, 6),
        ("Xing Huina", Kind.REMARKS, None),
    ]
    assert conference.turns[3].text == "Thank you. Both terminals will be fully automated by the end of 2025."
    page, _ = read_page(path)
    assert all(page.text[p.start : p.end] == p.text for t in conference.turns for p in t.paragraphs)

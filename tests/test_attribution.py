"""Attribution of a transcript a user adds, as a journalist checks it: with the real model and real FAISS, each answer
is verbatim and credited to the official who said it, in reply to the right outlet's question; questions,
hand-offs and an interpreter's note are never returned."""

from __future__ import annotations

import json
import shutil

import pytest

from assistant.chat import format_hit
from assistant.retrieval import Retriever
from embeddings.index import Index
from embeddings.ingest import ingest

from .conftest import DATA, run_cli, write_jsonl

pytestmark = pytest.mark.slow

USER = DATA / "user_transcript.txt"  # labels users write: "Chairperson Xi Yanchun:", "Li Hua, China Daily:", …
CONFERENCE = "SCIO press conference on the development of the digital economy"


@pytest.fixture(scope="module")
def user_retriever(tmp_path_factory: pytest.TempPathFactory, real_encoder) -> Retriever:
    folder = tmp_path_factory.mktemp("user")
    shutil.copy(USER, folder / USER.name)
    report = ingest([folder / USER.name], folder / "index", real_encoder)
    assert report.ok
    return Retriever(Index.open(folder / "index"), real_encoder)


# question -> (speaker, title, outlet asking, the words the answer starts with)
CASES = {
    "How much computing capacity has China built?":
        ("Liu Liehong", "head of the National Data Administration", "Xinhua News Agency", "Thank you for your "
         "question. We have built eight national computing hubs"),
    "How will data assets be recorded on balance sheets?":
        ("Liu Liehong", "head of the National Data Administration", "China Daily", "Thank you. Data assets"),
    "When will the guidelines on the authorized operation of public data be issued?":
        ("Zhang Hong", "deputy head of the National Data Administration", "China Daily", "Thank you. We will issue"),
    "Can local governments sell public data for revenue?":
        ("Liu Liehong", "head of the National Data Administration", "China Daily", "I would like to add one point"),
    "Can overseas companies without a Chinese entity trade directly on the data exchanges?":
        ("Zhang Hong", "deputy head of the National Data Administration", "Reuters", "That is correct for now."),
}


@pytest.mark.parametrize("question", list(CASES))
def test_user_transcript_answers_are_credited_to_who_said_them(user_retriever: Retriever, question: str) -> None:
    speaker, title, outlet, opening = CASES[question]
    hit = user_retriever.search(question, k=1)[0].to_json()
    assert (hit["speaker"], hit["title"], hit["asked_by"]) == (speaker, title, outlet)
    assert hit["text"].startswith(opening)
    assert (hit["conference"], hit["date"], hit["kind"]) == (CONFERENCE, "2024-05-16", "answer")
    assert hit["source"].endswith(USER.name)


QUESTIONS_AND_NOTES = [
    "What progress has been made in building a national integrated computing network?",
    "The first is for Mr. Liu: how will data be valued as an asset?",
    "So overseas companies without a Chinese entity cannot trade on the data exchanges directly.",
    "The first question goes to Mr. Liu, and the second to Ms. Zhang.",
    "The head of the administration said the figure was 230 EFLOPS, not 23.",
    "Will foreign companies be allowed to take part in the data exchanges?",
]


@pytest.mark.parametrize("question", QUESTIONS_AND_NOTES)
def test_only_officials_words_are_returned(user_retriever: Retriever, question: str) -> None:
    source = USER.read_text("utf-8")
    officials = {"Liu Liehong", "Zhang Hong"}
    for hit in user_retriever.search(question, k=10):
        answer = json.loads(json.dumps(hit.to_json()))
        assert answer["speaker"] in officials and answer["kind"] == "answer"
        assert all(p in source for p in answer["paragraphs"])
        assert not any(line in answer["text"] for line in QUESTIONS_AND_NOTES)
        assert answer["asked_by"] in {"Xinhua News Agency", "China Daily", "Reuters"}


def test_chat_credits_the_official_and_quotes_the_whole_question(user_retriever: Retriever) -> None:
    hit = user_retriever.search("How will data assets be recorded on balance sheets?", k=1)[0]
    shown = format_hit(hit)
    assert "— **Liu Liehong, head of the National Data Administration**, SCIO press conference on the development " \
           "of the digital economy, 2024-05-16 · Source: " in shown
    # A question of three paragraphs: each in italics of its own (one pair of asterisks around all three was shown
    # as literal asterisks, Markdown emphasis never spanning paragraphs).
    reply = shown[shown.index("In reply to China Daily: ") + len("In reply to China Daily: "):]
    assert reply.split("\n\n") == ["*I have two questions\\.*",
                                    "*The first is for Mr\\. Liu\\: how will data be valued as an asset?*",
                                    "*The second is for Ms\\. Zhang\\: what is the plan for public data "
                                    "authorization?*"]


def test_a_publication_date_is_never_shown_as_the_conference_date(tmp_path, real_encoder) -> None:
    # With no "held … on March 28" in the page, the chat and `pressroom ask` showed the publication date bare,
    # which reads as the day of the conference.
    from assistant.cli import _format_hit

    path = tmp_path / "published_only.txt"
    path.write_text("SCIO press conference on the Shanghai shipping center\n\nThe State Council Information Office "
                    "held a press conference in Beijing to brief the media on the shipping center.  April 8, 2024\n\n"
                    "CNBC:\nHow much cargo did Shanghai port handle last year?\n\nGu Jun:\nShanghai port handled "
                    "49.15 million TEUs last year.\n", "utf-8")
    assert ingest([path], tmp_path / "index", real_encoder).ok
    hit = Retriever(Index.open(tmp_path / "index"), real_encoder).search("How much cargo did the port handle?")[0]
    assert (hit.to_json()["date"], hit.to_json()["held"], hit.to_json()["published"]) == (
        "2024-04-08", None, "2024-04-08")  # an API caller can tell the publication date from the conference's
    assert "Shanghai shipping center, published 2024-04-08 · Source" in format_hit(hit)
    assert "Shanghai shipping center, published 2024-04-08" in _format_hit(1, hit)


QA_ROWS = [
    {"date": "2026-04-24", "spokesperson": "Guo Jiakun", "asked_by": "BBC", "link": "https://example.org/qa/1",
     "question": "How does China protect personal information held by foreign apps?",
     "answer": "The Chinese government protects the rights and interests on personal information in accordance with "
               "the law. RT: Finland's Foreign Minister said China's ties with Russia make an EU-China trade deal "
               "unlikely. What is China's response? China-EU economic and trade relations are win-win in nature."},
    {"date": "2019-01-14", "spokesperson": "Hua Chunying", "asked_by": "Reuters", "link": "https://example.org/qa/2",
     "question": "Has China asked Poland to explain the detention of Wang Weijing?",
     "answer": "A:The Chinese Embassy in Poland has lodged representations with the Polish Foreign Ministry. "
               "Follow-up: Has the Chinese side received any consular notification from the Polish government? "
               "A: I believe you speak Chinese very well and you understand what I said."},
    {"date": "2025-12-12", "spokesperson": "Guo Jiakun", "asked_by": "AFP", "link": "https://example.org/qa/3",
     "question": "Will Chinese firms keep supplying rare earth magnets to European carmakers?",
     "answer": "Parties need to keep the global industrial and supply chains stable. ********** The following "
               "question was raised after the press conference: Japan's defense minister spoke about the radar "
               "incident. What is China's response? We have responded to the radar incident more than once."},
]
JOURNALISTS_WORDS = ["Finland's Foreign Minister", "What is China's response?", "consular notification",
                     "Follow-up", "RT:", "A:", "***", "The following question", "radar incident. What"]


def test_a_qa_conferences_date_is_shown_once(tmp_path, real_encoder) -> None:
    """A Q&A pair's conference has no title of its own: the one made for it does not repeat its date, which `ask`,
    the chat, `list` and `show` print beside every title."""
    from assistant.cli import _format_hit

    assert ingest([write_jsonl(tmp_path / "qa.jsonl", QA_ROWS[:1])], tmp_path / "index", real_encoder).ok
    hit = Retriever(Index.open(tmp_path / "index"), real_encoder).search("personal information held by apps")[0]
    assert hit.answer.conference == "Regular press conference"
    for shown in (format_hit(hit), _format_hit(1, hit)):
        assert shown.count("2026-04-24") == 1 and "Regular press conference, 2026-04-24" in shown
    listed = run_cli("list", "--index", str(tmp_path / "index")).stdout
    shown = run_cli("show", "regular press", "--index", str(tmp_path / "index")).stdout
    assert listed.count("2026-04-24") == 1 and shown.count("2026-04-24") == 1, (listed, shown)


def test_journalists_words_run_into_a_qa_answer_are_never_the_officials(tmp_path, real_encoder) -> None:
    # The source runs follow-ups into the answer field ("RT: …?", "Follow-up: …? A: …"): they were quoted as the
    # spokesperson's words, and the reply to the follow-up as a reply to the first question.
    path = write_jsonl(tmp_path / "mfa.jsonl", QA_ROWS)
    assert ingest([path], tmp_path / "index", real_encoder).ok
    retriever = Retriever(Index.open(tmp_path / "index"), real_encoder)
    expected = {
        "Is an EU-China trade deal unlikely because of Russia?":
            ("Guo Jiakun", "RT", "China-EU economic and trade relations are win-win in nature."),
        "Has China received consular notification from Poland?":
            ("Hua Chunying", "Reuters", "I believe you speak Chinese very well and you understand what I said."),
        "What is China's response to the radar incident?":
            ("Guo Jiakun", None, "We have responded to the radar incident more than once."),
        "How does China protect personal information?":
            ("Guo Jiakun", "BBC", "The Chinese government protects the rights and interests on personal "
                                  "information in accordance with the law."),
    }
    for question, (speaker, outlet, text) in expected.items():
        hits = retriever.search(question, k=5)
        assert (hits[0].answer.speaker, hits[0].answer.asked_by, hits[0].answer.text) == (speaker, outlet, text)
        for hit in hits:
            assert not any(words in hit.answer.text for words in JOURNALISTS_WORDS), hit.answer.text
            assert any(hit.answer.text in row["answer"] for row in QA_ROWS)
    follow_up = retriever.search("Has China received consular notification from Poland?", k=1)[0].answer
    assert follow_up.asked == "Has the Chinese side received any consular notification from the Polish government?"


def test_a_placeholder_is_never_shown_as_the_speaker(tmp_path) -> None:
    # Three rows of the MFA file say "spokesperson": "missing"; that was shown as who said it.
    from embeddings.qa import read_qa

    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps({"date": "2004-05-01", "spokesperson": "missing", "asked_by": "n/a",
                                "question": "What is the position on the islands?",
                                "answer": "Our basic position is very clear."}) + "\n", "utf-8")
    (conference,), _ = read_qa(path)
    assert [(t.speaker, t.outlet) for t in conference.turns] == [("Journalist", None), ("Spokesperson", None)]


def test_a_speaker_filter_matches_whole_words_of_the_name(user_retriever: Retriever) -> None:
    # "--speaker Li" returned Liu Liehong's answers (part of a word matched), credited to him but filtered as Li's.
    from assistant.retrieval import make_filter

    question = "How will data assets be recorded?"
    assert user_retriever.search(question, k=5, where=make_filter(speaker="Li")) == []
    assert {h.answer.speaker for h in user_retriever.search(question, k=5, where=make_filter(speaker="liu"))} == \
        {"Liu Liehong"}
    assert {h.answer.speaker for h in user_retriever.search(question, k=5, where=make_filter(speaker="Zhang  Hong"))} \
        == {"Zhang Hong"}


def test_a_journalists_yes_in_a_qa_answer_is_not_the_question_answered(tmp_path) -> None:
    # "Journalist: Yes." confirms; it asks nothing: the official's words after it still reply to the question.
    from embeddings.qa import read_qa
    from embeddings.records import Kind

    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps({
        "date": "2025-03-05", "spokesperson": "Lin Jian",
        "question": "Will the foreign minister visit Paris next month?",
        "answer": "Do you mean the visit announced last week? Journalist: Yes. A: The visit is still being arranged, "
                  "and we will release information in due course."}) + "\n", "utf-8")
    (conference,), _ = read_qa(path)
    turns = conference.turns
    assert [t.text for t in turns if t.kind is Kind.QUESTION] == [
        "Will the foreign minister visit Paris next month?", "Yes."]
    assert [t.replies_to for t in turns if t.kind is Kind.ANSWER] == [0, 0]


def test_the_chat_bolds_the_paragraph_that_matched(retriever: Retriever) -> None:
    # Li Ming's answer on export credit insurance: its second paragraph is the one on the subject, not the first.
    hit = retriever.search("export credit insurance", k=1)[0]
    assert hit.answer.speaker == "Li Ming" and hit.matched == 1 and "export credit insurance" in hit.matched_text
    shown = format_hit(hit)
    bold = [line for line in shown.splitlines() if line.startswith("> **")]
    assert len(bold) == 1 and "export credit insurance" in bold[0]
    assert "Thank you for your question" not in bold[0]

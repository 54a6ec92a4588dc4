"""Follow-ups and speakers named in the question: what is actually searched, and what it finds."""

from __future__ import annotations

import pytest

from assistant.conversation import FOLLOW_UP_MAX_WORDS, understand
from embeddings.store import AnswerFilter

from .conftest import SEED_QUESTION

SPEAKERS = ["Gu Jun", "Wang Wentao", "Chen Hong", "Li Ming"]


@pytest.mark.parametrize(
    ("question", "earlier", "text", "speaker", "follow_up"),
    [
        ("How will Shanghai lead the Yangtze River Delta?", [], "How will Shanghai lead the Yangtze River Delta?",
         None, False),
        ("and who is responsible for that?", ["Shanghai's plan for the Yangtze River Delta"],
         "Shanghai's plan for the Yangtze River Delta who is responsible for that?", None, True),
        ("And what about foreign investment?", ["Shanghai's free trade zone"],
         "Shanghai's free trade zone foreign investment?", None, True),
        ("what did Gu Jun say about that?", ["the Yangtze River Delta"], "the Yangtze River Delta that", "Gu Jun",
         True),
        ("What did Mr. Wang say about cross-border e-commerce?", [], "cross-border e-commerce", "Wang Wentao",
         False),
        ("What has Chen Hong said on export credit insurance?", ["ports"], "export credit insurance", "Chen Hong",
         False),
        # Not a known speaker: the question is searched as typed.
        # A person named with a title but not among the officials: filtered by that name, so nobody else's
        # answers are passed off as theirs (the filter then finds none).
        ("What did Mr. Zhang say about exporters?", [], "exporters", "Zhang", False),
        ("What did Ms. Xing Huina say about foreign trade?", [], "foreign trade", "Xing Huina", False),
        ("What did the minister of finance say about bonds?", [], "What did the minister of finance say about bonds?",
         None, False),
        # A long question that happens to contain "this" stands on its own.
        ("What is this year's target for the share of high-tech products in exports, and how will it be met?",
         ["ports"], "What is this year's target for the share of high-tech products in exports, and how will it "
         "be met?", None, False),
        # A follow-up naming nobody keeps the official the conversation was about; a new question does not.
        ("and what about ports?", ["What did Gu Jun say about foreign trade?"], "foreign trade ports?", "Gu Jun",
         True),
        ("who is in charge of that?", ["What did Gu Jun say about foreign trade?", "and what about ports?"],
         "foreign trade who is in charge of that?", "Gu Jun", True),
        ("How will Shanghai lead the Yangtze River Delta?", ["What did Gu Jun say about foreign trade?"],
         "How will Shanghai lead the Yangtze River Delta?", None, False),
        # No earlier topic: a follow-up-looking question is searched as it is.
        ("and who is responsible for that?", [], "and who is responsible for that?", None, False),
    ],
)
def test_understand(question: str, earlier: list[str], text: str, speaker: str | None, follow_up: bool) -> None:
    query = understand(question, earlier, SPEAKERS)
    assert (query.text, query.speaker, query.follow_up) == (text, speaker, follow_up)


def test_the_topic_is_the_last_standalone_question() -> None:
    earlier = ["foreign trade in 2024", "and what about ports?", "who is in charge of that?"]
    assert understand("and the timeline for it?", earlier, SPEAKERS).text.startswith("foreign trade in 2024 ")
    earlier.append("How will Shanghai build an international shipping center?")
    assert understand("and the timeline for it?", earlier, SPEAKERS).text.startswith("How will Shanghai build")



def test_a_family_name_two_officials_share_names_neither_alone() -> None:
    speakers = ["Li Ming", "Gu Jun", "Li Hui"]  # most answers first: Li Ming is not to be picked for "Li"
    query = understand("What did Mr. Li say about export credit?", [], speakers)
    assert (query.text, query.speaker) == ("export credit", "Li")  # the filter's whole words keep both Lis
    assert understand("What did Li Hui say about export credit?", [], speakers).speaker == "Li Hui"
    assert understand("What did Gu say about ports?", [], speakers).speaker == "Gu Jun"

@pytest.mark.slow
def test_follow_up_is_searched_with_the_seed_topic(retriever) -> None:
    reply = retriever.ask("and who is responsible for that?", 3, earlier=[SEED_QUESTION])
    assert reply.query.follow_up and reply.query.text.startswith(SEED_QUESTION)
    assert reply.hits[0].answer.speaker == "Gu Jun"
    assert reply.to_json()["searched"] == reply.query.text


@pytest.mark.slow
def test_a_titled_name_not_in_the_index_gets_no_one_elses_answers(retriever) -> None:
    reply = retriever.ask("What did Mr. Zhang say about foreign trade?", 5)
    assert reply.where.speaker == "Zhang" and reply.hits == []


@pytest.mark.slow
def test_speaker_named_in_text_filters_the_hits(retriever) -> None:
    reply = retriever.ask("What did Wang Wentao say about foreign trade?", 10)
    assert reply.where.speaker == "Wang Wentao" and reply.hits
    assert {h.answer.speaker for h in reply.hits} == {"Wang Wentao"}


@pytest.mark.slow
def test_a_speaker_named_in_text_and_another_in_the_filter_gives_neither(retriever) -> None:
    """The Filters panel still says Wang Wentao; the question asks what Gu Jun said: Wang's words are no answer."""
    assert retriever.ask("foreign trade", 5, AnswerFilter(speaker="Wang")).hits  # Wang did speak on it
    reply = retriever.ask("What did Gu Jun say about foreign trade?", 5, AnswerFilter(speaker="Wang"))
    assert reply.hits == []
    narrowed = retriever.ask("What did Gu Jun say about the Yangtze River Delta?", 5, AnswerFilter(speaker="Gu"))
    assert narrowed.where.speaker == "Gu Jun" and narrowed.hits
    assert {h.answer.speaker for h in narrowed.hits} == {"Gu Jun"}


def test_a_follow_up_of_nine_words_pointing_back_is_folded_in() -> None:
    # Up to FOLLOW_UP_MAX_WORDS words with "that", "it", … lean on the earlier topic; one word more stands alone.
    nine = "who is responsible for building that port this year?"
    assert len(nine.split()) == FOLLOW_UP_MAX_WORDS
    query = understand(nine, ["Shanghai's plan for the Yangtze River Delta"], SPEAKERS)
    assert query.follow_up and query.text == f"Shanghai's plan for the Yangtze River Delta {nine}"
    ten = "who exactly is responsible for building that port this year?"
    assert not understand(ten, ["Shanghai's plan for the Yangtze River Delta"], SPEAKERS).follow_up


def test_a_follow_up_keeps_the_official_the_conversation_was_about(retriever) -> None:
    """"What did Wang Wentao say about foreign trade?" then "and what about ports?": his answers, not everyone's; a
    speaker picked in the filters since then wins."""
    earlier = ["What did Wang Wentao say about foreign trade?"]
    reply = retriever.ask("and what about ports?", 5, None, earlier)
    assert reply.query.follow_up and reply.where.speaker == "Wang Wentao" and reply.hits
    assert {h.answer.speaker for h in reply.hits} == {"Wang Wentao"}
    picked = retriever.ask("and what about ports?", 5, AnswerFilter(speaker="Gu"), earlier)
    assert picked.where.speaker == "Gu" and picked.hits and {h.answer.speaker for h in picked.hits} == {"Gu Jun"}

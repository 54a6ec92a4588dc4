"""Follow-ups, speakers and periods named in the question: what is actually searched, and what it finds."""

from __future__ import annotations

from datetime import date

import pytest

from assistant.conversation import FOLLOW_UP_MAX_WORDS, named_period, understand
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
    query = understand("and the timeline for it?", earlier, SPEAKERS)
    # "in 2024" is a filter, not a topic: the follow-up keeps it as its period
    assert query.text.startswith("foreign trade ") and "2024" not in query.text
    assert query.period == (date(2024, 1, 1), date(2024, 12, 31)) and query.period_from_earlier
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


TODAY = date(2026, 11, 30)
D = date
JOURNALIST = ("Viet Nam has sharply accelerated its island-building efforts this year in the South China Sea, "
              "according to a report. The report says the expansion covers features that were previously not part "
              "of the reclamation efforts of Viet Nam, which started in 2021. Any comment?")


@pytest.mark.parametrize(
    ("question", "period", "rest"),
    [
        ("What did Mao Ning say about tariffs in April 2025?", (D(2025, 4, 1), D(2025, 4, 30)),
         "What did Mao Ning say about tariffs?"),
        ("China's position on the South China Sea in 2023", (D(2023, 1, 1), D(2023, 12, 31)),
         "China's position on the South China Sea"),
        ("tariffs in Apr. 2025", (D(2025, 4, 1), D(2025, 4, 30)), "tariffs"),
        ("What was said on 17 April 2025 about Japan?", (D(2025, 4, 17), D(2025, 4, 17)), "What was said about Japan?"),
        ("What was said on April 17, 2025, about Japan?", (D(2025, 4, 17), D(2025, 4, 17)),
         "What was said about Japan?"),
        ("rare earths since March 2024", (D(2024, 3, 1), None), "rare earths"),
        ("Taiwan before 2020", (None, D(2019, 12, 31)), "Taiwan"),
        ("Taiwan after 2021", (D(2022, 1, 1), None), "Taiwan"),
        ("Taiwan until June 2024", (None, D(2024, 6, 30)), "Taiwan"),
        ("the Philippines between 2022 and 2023", (D(2022, 1, 1), D(2023, 12, 31)), "the Philippines"),
        ("exports from January to March 2024", (D(2024, 1, 1), D(2024, 3, 31)), "exports"),
        ("In 2023, what did Gu Jun say about ports?", (D(2023, 1, 1), D(2023, 12, 31)),
         "what did Gu Jun say about ports?"),
        ("145% in 2025 tariffs", (D(2025, 1, 1), D(2025, 12, 31)), "145% tariffs"),  # "in": a year in context
        # Not periods: no year (the journalist's context), a year with no preposition, a number that is no year,
        # a target after today, a day that does not exist.
        ("What did the US say on November 7 about tariffs?", None, "What did the US say on November 7 about tariffs?"),
        ("tariffs in April", None, "tariffs in April"),
        ("the 2025 tariffs", None, "the 2025 tariffs"),
        ("145% tariffs", None, "145% tariffs"),
        ("a rise in 2025% of cases", None, "a rise in 2025% of cases"),
        ("tariffs on 2025-04-17", None, "tariffs on 2025-04-17"),  # a day as --from takes it: not a year
        ("exports from December to March 2024", None, "exports from December to March 2024"),  # which December?
        ("carbon neutrality in 2060", None, "carbon neutrality in 2060"),
        ("tariffs on 30 February 2025", None, "tariffs on 30 February 2025"),
        # A journalist's long question: the period is its context (this one was answered in August 2025).
        (JOURNALIST, None, JOURNALIST),
    ],
)
def test_a_period_is_read_only_where_it_names_a_year(question: str, period: tuple | None, rest: str) -> None:
    assert named_period(question, TODAY) == (period, rest)


def test_a_period_in_the_question_is_a_filter_not_a_topic() -> None:
    query = understand("What did Mao Ning say about tariffs in April 2025?", [], ["Mao Ning"], TODAY)
    assert (query.text, query.speaker, query.period) == ("tariffs", "Mao Ning", (D(2025, 4, 1), D(2025, 4, 30)))
    assert query.differs_from("tariffs")  # shown as searched, with the period, even when the text is the same
    # Only a period: searched as typed, within it.
    alone = understand("in 2023?", [], [], TODAY)
    assert (alone.text, alone.period) == ("in 2023?", (D(2023, 1, 1), D(2023, 12, 31)))


def test_a_follow_up_keeps_the_period_unless_it_names_its_own() -> None:
    earlier = ["What did Mao Ning say about tariffs in April 2025?"]
    kept = understand("and what about rare earths?", earlier, ["Mao Ning"], TODAY)
    assert (kept.text, kept.speaker) == ("tariffs rare earths?", "Mao Ning")
    assert kept.period == (D(2025, 4, 1), D(2025, 4, 30)) and kept.period_from_earlier
    own = understand("and in 2024?", earlier, ["Mao Ning"], TODAY)
    assert (own.text, own.period, own.period_from_earlier) == ("tariffs", (D(2024, 1, 1), D(2024, 12, 31)), False)
    assert understand("How will Shanghai lead the Yangtze River Delta?", earlier, [], TODAY).period is None


@pytest.mark.slow
def test_a_period_in_the_question_narrows_the_answers(retriever) -> None:
    """The fixtures were held on 2023-12-05, 2024-01-16 and 2024-03-28: "in March 2024" keeps the last alone."""
    question = "What are the plans for foreign trade?"
    assert {h.answer.date.strftime("%Y-%m") for h in retriever.ask(question, 10).hits} >= {"2024-01", "2024-03"}
    reply = retriever.ask("What are the plans for foreign trade in March 2024?", 10)
    assert reply.query.text == question and reply.hits
    assert {h.answer.date.strftime("%Y-%m") for h in reply.hits} == {"2024-03"}
    assert (reply.to_json()["filters"]["from"], reply.to_json()["filters"]["to"]) == ("2024-03-01", "2024-03-31")
    january = retriever.ask("What are the plans for foreign trade in January 2024?", 10)
    assert january.hits and {h.answer.date.isoformat() for h in january.hits} == {"2024-01-16"}


@pytest.mark.slow
def test_a_period_in_the_question_and_dates_in_the_filter_give_their_intersection(retriever) -> None:
    both = retriever.ask("What are the plans for foreign trade in 2024?", 10, AnswerFilter(since=D(2024, 3, 1)))
    assert (both.where.since, both.where.until) == (D(2024, 3, 1), D(2024, 12, 31))
    assert both.hits and {h.answer.date.isoformat() for h in both.hits} == {"2024-03-28"}
    question = "What are the plans for the winter tourism season in 2023?"
    assert retriever.ask(question, 5).hits  # Harbin's of 2023-12-05
    none = retriever.ask(question, 5, AnswerFilter(since=D(2024, 1, 1)))
    assert none.hits == [] and none.to_json()["filters"] == {
        "speaker": None, "conference": None, "from": "2024-01-01", "to": "2023-12-31"}


@pytest.mark.slow
def test_a_follow_up_keeps_the_period_unless_the_filter_sets_dates(retriever) -> None:
    earlier = ["What are the plans for foreign trade in January 2024?"]
    kept = retriever.ask("and who is responsible for that?", 10, None, earlier)
    assert (kept.where.since, kept.where.until) == (D(2024, 1, 1), D(2024, 1, 31)) and kept.hits
    assert {h.answer.date.isoformat() for h in kept.hits} == {"2024-01-16"}
    picked = retriever.ask("and who is responsible for that?", 10, AnswerFilter(since=D(2024, 3, 1)), earlier)
    assert (picked.where.since, picked.where.until) == (D(2024, 3, 1), None)
    assert picked.hits and {h.answer.date.isoformat() for h in picked.hits} == {"2024-03-28"}

"""The transcript parser: golden files, roles, hand-offs, dates, offsets and clear refusals."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import date
from pathlib import Path

import pytest

from embeddings.errors import TranscriptError
from embeddings.records import Conference, Kind, Role
from embeddings.transcripts import is_handoff, parse_text, read_transcript, speaker_name

from .conftest import DATA, SEED

GOLDEN = DATA / "golden"


def parsed_form(conference: Conference) -> dict:
    """What the golden files hold: everything the parser decided, in a stable JSON shape."""
    data = asdict(conference)
    data["held"] = conference.held.isoformat() if conference.held else None
    data["published"] = conference.published.isoformat() if conference.published else None
    data["pages"] = [{"number": p.number, "url": p.url, "path": Path(p.path).name if p.path else None}
                     for p in conference.pages]
    return json.loads(json.dumps(data, default=str))


@pytest.mark.parametrize("path", [SEED, DATA / "scio_full_conference.txt", DATA / "no_blank_lines.txt",
                                  DATA / "user_transcript.txt"], ids=lambda p: p.stem)
def test_parsed_form_matches_golden(path: Path) -> None:
    golden = GOLDEN / f"{path.stem}.json"
    got = parsed_form(read_transcript(path))
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n", "utf-8")
    assert got == json.loads(golden.read_text("utf-8"))


def test_seed_roles_handoff_and_link() -> None:
    conf = read_transcript(SEED)
    assert [(t.speaker, t.role, t.kind) for t in conf.turns] == [
        ("Southern Metropolis Daily", Role.JOURNALIST, Kind.QUESTION),
        ("Gong Zheng", Role.OFFICIAL, Kind.HANDOFF),  # an official who only passes the floor
        ("Gu Jun", Role.OFFICIAL, Kind.ANSWER),
    ]
    gu = conf.turns[2]
    assert gu.replies_to == 0 and conf.turns[0].outlet == "Southern Metropolis Daily"
    assert len(gu.paragraphs) == 5
    assert conf.held.isoformat() == "2024-03-28" and conf.published.isoformat() == "2024-04-08"
    assert conf.category == "Around China"
    assert conf.source == "http://english.scio.gov.cn/m/pressroom/2024-04/08/content_117111081_7.htm"
    assert conf.pages[0].number == 7


@pytest.mark.parametrize("path", [SEED, DATA / "scio_full_conference.txt", DATA / "no_blank_lines.txt",
                                  DATA / "user_transcript.txt"], ids=lambda p: p.stem)
def test_every_paragraph_is_verbatim_at_its_offsets(path: Path) -> None:
    text = path.read_text("utf-8")
    conf = read_transcript(path)
    for turn in conf.turns:
        for p in turn.paragraphs:
            assert text[p.start : p.end] == p.text
            assert "<  1" not in p.text and not p.text.startswith("[Photo")


def test_full_conference_structure() -> None:
    conf = read_transcript(DATA / "scio_full_conference.txt")
    kinds = [(t.speaker, t.kind) for t in conf.turns]
    assert kinds[0] == ("Shou Xiaoli", Kind.REMARKS)  # the chair's opening
    assert kinds[1] == ("Wang Wentao", Kind.STATEMENT)  # the opening briefing
    assert kinds[-1] == ("Shou Xiaoli", Kind.REMARKS)  # "That concludes today's press conference"
    assert conf.speakers["Chen Hong"].startswith("director general")
    chen = next(t for t in conf.turns if t.speaker == "Chen Hong")
    assert len(chen.paragraphs) == 2  # the same speaker twice in a row continues one turn
    assert conf.turns[chen.replies_to].outlet == "Bloomberg News"
    wang_handoff = next(t for t in conf.turns if t.speaker == "Wang Wentao" and t.kind is Kind.HANDOFF)
    assert "invite my colleague" in wang_handoff.text
    assert all(t.role is Role.MODERATOR for t in conf.turns if t.speaker == "Shou Xiaoli")
    everything = " ".join(t.text for t in conf.turns)
    assert "MORE FROM" not in everything and "Editor" not in everything and "Photo by" not in everything


@pytest.mark.parametrize(
    "text",
    [
        "Thank you for your question. This question goes to Mr. Gu.",
        "I invite Mr. Lyu to answer.",
        "My colleague Ms. Xu will answer.",
        "Thank you. I would like to invite Mr. Wang to answer this question.",
        "Thanks. Mr. Li, please.",
        "Thank you for your questions. I will give the floor to Vice Minister Zhang.",
        # These were answers by the official who said them (the mayor's "Over to Mr. Gu." returned as his answer):
        "Over to Mr. Gu.",
        "Thank you. I will leave this one to Vice Mayor Gu.",
        "This one is for Mr. Gu.",
        "Mr. Gu, would you like to answer?",
        "Let us hear from Mr. Gu.",
        "I would like to give this question to Mr. Gu.",
        "Thank you. Director Chen is better placed to answer this.",
        "Thank you. Mr. Gu Jun.",
        "Please, Mr. Gu.",
        "Thank you. Mr. Gu will brief you on that.",
        "Thank you, Southern Metropolis Daily. This question goes to Mr. Gu.",
    ],
)
def test_handoffs_are_recognised(text: str) -> None:
    assert is_handoff(text)


@pytest.mark.parametrize(
    "text",
    [
        "Thank you for your question. Shanghai will build four centers this year.",
        "Let me answer this question. Overseas warehouses will get more support.",
        "The question of foreign investment goes to the heart of our policy, and we will widen access.",
        "We will leave this to the market. Prices are set by supply and demand.",
        "Thank you. We will hear from enterprises before the rules are final.",
        "Thank you, Shanghai will do more. This question goes to the heart of our reform.",
    ],
)
def test_answers_are_not_handoffs(text: str) -> None:
    assert not is_handoff(text)


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ("Gu Jun:", "Gu Jun"),
        ("Gu Jun:   ", "Gu Jun"),
        ("Southern Metropolis Daily:", "Southern Metropolis Daily"),
        ("GU JUN:", "GU JUN"),
        ("People's Daily:", "People's Daily"),
        ("Voice of America:", "Voice of America"),
        ("The key is to advance synergies in four areas:", None),
        ("Thank you. My question is:", None),
        ("Second, industrial innovation.", None),
    ],
)
def test_speaker_lines(line: str, name: str | None) -> None:
    assert speaker_name(line.strip()) == name


def test_header_variants_and_front_matter() -> None:
    text = (
        "---\nsource: https://example.org/pc/content_1_2.htm\ntitle: Given title\n---\n"
        "Press Room\nA conference title\nWhite Paper\n"
        "The information office held a news conference on December 30 to release a white paper on trade.  "
        "January 3, 2025\n\nCGTN:\nWhat does the paper say?\n\nLi Hua:\nIt says trade grew steadily last year.\n"
    )
    assert parse_text(text).title == "Given title"
    path_conf = _read_tmp(text)
    assert path_conf.title == "Given title" and path_conf.source.endswith("content_1_2.htm")
    assert path_conf.pages[0].number == 2
    assert path_conf.published.isoformat() == "2025-01-03"
    assert path_conf.held.isoformat() == "2024-12-30"  # held in December, published in January
    assert [t.kind for t in path_conf.turns] == [Kind.QUESTION, Kind.ANSWER]


def _read_tmp(text: str) -> Conference:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "t.txt"
        path.write_text(text, "utf-8")
        conf = read_transcript(path)
        source = path.read_text("utf-8")
        for turn in conf.turns:
            for p in turn.paragraphs:
                assert source[p.start : p.end] == p.text
        return conf


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"   \n\n  ", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b"\x1f\x8b\x08\x00\x00\x00", "gzip"),
        ("Gu Jun:\nCaf\u00e9 prices rose.\n".encode("cp1252"), "not UTF-8"),
        (b"Shopping list\nMilk and eggs.\n", "no speaker lines"),
    ],
    ids=["empty", "whitespace", "binary", "gzip", "cp1252", "no-speakers"],
)
def test_bad_files_get_one_clear_sentence(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(TranscriptError, match=message) as info:
        read_transcript(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_utf16_with_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "utf16.txt"
    path.write_bytes("CCTV:\nWhat is new?\nGu Jun:\nThe plan is new this year.\n".encode("utf-16"))
    conf = read_transcript(path)
    assert conf.turns[1].speaker == "Gu Jun" and conf.turns[1].kind is Kind.ANSWER


def test_bad_sidecar_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("CCTV:\nWhat?\nGu Jun:\nThis is the answer to it.\n", "utf-8")
    (tmp_path / "t.txt.meta.json").write_text('{"sorce": "http://x"}', "utf-8")
    with pytest.raises(TranscriptError, match="unknown metadata key 'sorce'"):
        read_transcript(path)


TWO_TURNS = ("Li Hua:\nThe new plan mentions ports and shipping, and the rules for foreign firms change this year "
             "too.\nGu Jun:\nThe ports will be upgraded this year, and the rules published in May.\n")


@pytest.mark.parametrize("journalists", [["Li Hua"], "Li Hua"])
def test_sidecar_journalists_as_list_or_one_name(tmp_path: Path, journalists: object) -> None:
    # Li Hua is known as a journalist only from the sidecar; one name given as text must not be split into letters
    # (it was: Li Hua then read as a statement, and Gu Jun's answer was not an answer).
    path = tmp_path / "t.txt"
    path.write_text(TWO_TURNS, "utf-8")
    (tmp_path / "t.txt.meta.json").write_text(json.dumps({"journalists": journalists}), "utf-8")
    conf = read_transcript(path)
    assert [(t.speaker, t.kind) for t in conf.turns] == [("Li Hua", Kind.QUESTION), ("Gu Jun", Kind.ANSWER)]


@pytest.mark.parametrize(("speakers", "title"), [(["Gu Jun"], None), ("Gu Jun", None),
                                                 ({"Gu Jun": "Vice Minister"}, "Vice Minister")])
def test_sidecar_speakers_as_list_one_name_or_titles(tmp_path: Path, speakers: object, title: str | None) -> None:
    path = tmp_path / "t.txt"  # one name as text was refused as malformed metadata
    path.write_text(TWO_TURNS, "utf-8")
    (tmp_path / "t.txt.meta.json").write_text(json.dumps({"speakers": speakers}), "utf-8")
    conf = read_transcript(path)
    assert [(t.speaker, t.title) for t in conf.turns] == [("Li Hua", None), ("Gu Jun", title)]


NAME_VARIANTS = """Speakers:
Mr. Gu Jun, vice mayor of Shanghai
Mr. Li Ming, vice minister of commerce

Bloomberg:
What is the timetable for the new stock connect programme?

Mr. Gu Jun:
The programme will start in the second half of the year.

Li Ming, vice minister of commerce:
Commerce will publish the list of eligible funds in July.

CNBC:
How much foreign capital entered the bond market last year?

Vice Mayor Gu Jun:
About 200 billion yuan, an increase of 30 percent.

GU JUN:
Most of it came through the bond connect.

Jun Gu (Vice Mayor):
We expect more this year.

Chairperson Xi Yanchun:
Next question, please.
"""


def test_one_person_under_several_labels_is_one_speaker() -> None:
    # "Li Ming, vice minister of commerce:" was not a speaker line: Li Ming's words were read as Gu Jun's. And
    # "Mr. Gu Jun", "Vice Mayor Gu Jun", "GU JUN" and "Jun Gu (Vice Mayor)" were four speakers with no title.
    conf = parse_text(NAME_VARIANTS)
    assert [(t.speaker, t.kind, t.title, t.replies_to) for t in conf.turns] == [
        ("Bloomberg", Kind.QUESTION, None, None),
        ("Gu Jun", Kind.ANSWER, "vice mayor of Shanghai", 0),
        ("Li Ming", Kind.ANSWER, "vice minister of commerce", 0),
        ("CNBC", Kind.QUESTION, None, None),
        ("Gu Jun", Kind.ANSWER, "vice mayor of Shanghai", 3),
        ("Xi Yanchun", Kind.REMARKS, None, None),
    ]
    assert conf.turns[4].text == ("About 200 billion yuan, an increase of 30 percent.\n\n"
                                  "Most of it came through the bond connect.\n\nWe expect more this year.")
    assert conf.turns[5].role is Role.MODERATOR  # "Chairperson" before the name says so


@pytest.mark.parametrize(("line", "name"), [
    ("Li Ming, vice minister of commerce:", "Li Ming, vice minister of commerce"),
    ("Mr. Gu Jun, vice mayor of Shanghai:", "Mr. Gu Jun, vice mayor of Shanghai"),
    ("First, as the vice mayor said:", None),
    ("Second, industrial innovation:", None),
    ("In 2024, the ministry set three goals:", None),
])
def test_name_and_title_speaker_lines(line: str, name: str | None) -> None:
    assert speaker_name(line) == name


FOLLOW_UP = """Reuters:
Will foreign companies be allowed to take part in the data exchanges?

Zhang Hong:
Yes. Foreign-invested enterprises registered in China may trade on the data exchanges.

{label}:
So overseas companies without a Chinese entity cannot trade directly.

Zhang Hong:
That is correct for now. We are studying rules on cross-border data trading.

Interpreter's note:
The figure Ms. Zhang gave earlier is 230, not 23.

Zhang Hong:
The exchanges traded 110 billion yuan of data products last year.
(Interpreter's note: the speaker means billion, not million.)
We expect the volume to double.
"""


@pytest.mark.parametrize("label", ["Follow-up", "Follow-up question", "Followup"])
def test_follow_up_is_the_same_journalist_and_an_interpreter_is_no_official(label: str) -> None:
    # "Follow-up:" was an official (its words returned as an answer by "Follow-up"), or with "question" in it not a
    # speaker line at all (the journalist's words merged into Zhang Hong's answer); "Interpreter's note:" the same.
    conf = parse_text(FOLLOW_UP.format(label=label))
    assert [(t.speaker, t.role, t.kind, t.outlet, t.replies_to) for t in conf.turns] == [
        ("Reuters", Role.JOURNALIST, Kind.QUESTION, "Reuters", None),
        ("Zhang Hong", Role.OFFICIAL, Kind.ANSWER, None, 0),
        ("Reuters", Role.JOURNALIST, Kind.QUESTION, "Reuters", None),
        ("Zhang Hong", Role.OFFICIAL, Kind.ANSWER, None, 2),
        ("Interpreter's note", Role.INTERPRETER, Kind.REMARKS, None, None),
        ("Zhang Hong", Role.OFFICIAL, Kind.ANSWER, None, 2),
    ]
    assert conf.turns[5].text == "The exchanges traded 110 billion yuan of data products last year.\n\n" \
                                 "We expect the volume to double."


QA_LABELS = """Speakers:
Mr. Wu Xiaohua, deputy director of the Lingang administration

Q:
Jiefang Daily: How many new enterprises registered in Lingang last year?

Host:
This question goes to Mr. Wu.

A:
More than 12,000 new enterprises registered in the Lingang Special Area last year.

Q:
The Paper: What support is there for young talent?

Host:
I invite Ms. Chen Jie to answer.

A:
Young graduates can apply for a housing subsidy of up to 5,000 yuan a month.

Q:
And for foreign graduates?

A:
The same subsidy applies to them.
"""


def test_q_and_a_labels_take_the_outlet_and_the_official_from_the_text() -> None:
    # "Q:" was the outlet and "A:" the speaker of every answer. The outlet opens the question; the hand-off names
    # who answers; with no hand-off nobody is named, and "A" stays rather than a guess.
    conf = parse_text(QA_LABELS)
    assert [(t.speaker, t.kind, t.outlet, t.title) for t in conf.turns if t.kind is not Kind.HANDOFF] == [
        ("Jiefang Daily", Kind.QUESTION, "Jiefang Daily", None),
        ("Wu Xiaohua", Kind.ANSWER, None, "deputy director of the Lingang administration"),
        ("The Paper", Kind.QUESTION, "The Paper", None),
        ("Chen Jie", Kind.ANSWER, None, None),
        ("Q", Kind.QUESTION, None, None),
        ("A", Kind.ANSWER, None, None),
    ]


JOURNALIST_LABELS = """Gu Jun:
Shanghai will open two new container terminals at Yangshan this year.

{label}:
When will the terminals at Yangshan be fully automated?

Gu Jun:
Both terminals will be fully automated by the end of 2025.
"""


@pytest.mark.parametrize(("label", "outlet"), [
    ("Reporter from China Daily", "China Daily"),
    ("China Daily reporter", "China Daily"),
    ("A journalist with Xinhua News Agency", "Xinhua News Agency"),
    ("Li Hua, China Daily", "China Daily"),
    ("Journalist (Reuters)", "Reuters"),
    ("Phoenix TV (follow-up)", "Phoenix TV"),
    ("China Media Group (CMG)", "China Media Group (CMG)"),
])
def test_journalist_labels_that_name_the_outlet(label: str, outlet: str) -> None:
    # "Reporter from China Daily:" and "Li Hua, China Daily:" were not speaker lines: the question was returned
    # inside Gu Jun's answer, and his reply joined his statement instead of answering it.
    conf = parse_text(JOURNALIST_LABELS.format(label=label))
    assert [(t.role, t.kind, t.outlet, t.replies_to) for t in conf.turns] == [
        (Role.OFFICIAL, Kind.STATEMENT, None, None),
        (Role.JOURNALIST, Kind.QUESTION, outlet, None),
        (Role.OFFICIAL, Kind.ANSWER, None, 1),
    ]
    assert conf.turns[2].text == "Both terminals will be fully automated by the end of 2025."


INLINE = """Regular press conference of the Ministry of Foreign Affairs

Mao Ning: Good afternoon. The floor is open.

AFP: Will China send a delegation to the climate talks?

Mao Ning: China will send a delegation led by the special envoy for climate change.

Bloomberg:
What is China's position on the new tariffs?

Mao Ning:
We oppose unilateral tariffs.

Beijing Youth Daily: A follow-up: when will the list of measures be published?

Mao Ning: The list will be published in due course. Note: the envoy's name was given above.
"""


def test_names_in_front_of_the_words_are_speaker_lines() -> None:
    # "AFP: Will China …" on one line was read into the turn before it: a journalist's question returned as the
    # spokesperson's answer; a transcript with every name in front had "no speaker lines".
    text = INLINE
    conf = parse_text(text)
    assert [(t.speaker, t.kind, t.outlet, t.replies_to) for t in conf.turns] == [
        ("Mao Ning", Kind.REMARKS, None, None),
        ("AFP", Kind.QUESTION, "AFP", None),
        ("Mao Ning", Kind.ANSWER, None, 1),
        ("Bloomberg", Kind.QUESTION, "Bloomberg", None),
        ("Mao Ning", Kind.ANSWER, None, 3),
        ("Beijing Youth Daily", Kind.QUESTION, "Beijing Youth Daily", None),
        ("Mao Ning", Kind.ANSWER, None, 5),
    ]
    assert conf.turns[2].text == "China will send a delegation led by the special envoy for climate change."
    assert conf.turns[6].text == "The list will be published in due course. Note: the envoy's name was given above."
    assert all(text[p.start : p.end] == p.text for t in conf.turns for p in t.paragraphs)


def test_a_colon_in_prose_is_no_speaker() -> None:
    conf = parse_text("CCTV:\nWhat are the goals?\nGu Jun:\nThree goals, as follows.\n"
                      "Second: the ports. We will build two terminals.\nFinally: the rules will change.\n")
    assert [(t.speaker, len(t.paragraphs)) for t in conf.turns] == [("CCTV", 1), ("Gu Jun", 3)]


def test_an_officials_rhetorical_question_is_still_an_answer() -> None:
    # With no Speakers block, everyone whose every turn had a "?" was a journalist: Li Hua's answer was read as a
    # question and never returned. Who only ever speaks right after an outlet is replying to it.
    conf = parse_text("CCTV:\nWhat will Shanghai do about housing for young people?\n\nLi Hua:\nWhy does housing "
                      "matter so much? Because young talent is the future of the city. We will build 70,000 units "
                      "of affordable rental housing this year.\n\nPhoenix TV:\nHow many foreign students study in "
                      "Shanghai?\n\nWang Fang:\nAbout 60,000 foreign students study in Shanghai.\n")
    assert [(t.speaker, t.kind, t.replies_to) for t in conf.turns] == [
        ("CCTV", Kind.QUESTION, None), ("Li Hua", Kind.ANSWER, 0),
        ("Phoenix TV", Kind.QUESTION, None), ("Wang Fang", Kind.ANSWER, 2),
    ]


def test_a_family_name_with_an_honorific_is_the_one_person_of_that_name() -> None:
    # "Mr. Gu:" was a speaker "Mr. Gu" beside "Gu Jun", without his title; "Ms. Li:" stays Li, two people have it.
    conf = parse_text("Speakers:\nMr. Gu Jun, vice mayor of Shanghai\nMs. Li Qun, director of transport\n"
                      "Mr. Li Ming, vice minister of commerce\n\nCCTV:\nWhat is the plan for the port?\n\n"
                      "Mr. Gu:\nThe port will get two new terminals.\n\nMs. Li:\nThey open in 2025.\n")
    assert [(t.speaker, t.title) for t in conf.turns] == [
        ("CCTV", None), ("Gu Jun", "vice mayor of Shanghai"), ("Li", None)]


CALLED_BY_NAME = """Xing Huina:
Now the floor is open. Ms. Li from China Daily, please.

{label}:
What is the timetable for the stock connect programme?

Xing Huina:
This question goes to Mr. Gu.

Gu Jun:
The programme will start in the second half of the year.
"""


@pytest.mark.parametrize(("label", "outlet"), [("China Daily reporter Li Hua", "China Daily"),
                                               ("Reporter Li Hua", None), ("Li Hua, China Daily", "China Daily")])
def test_a_journalist_the_chair_calls_by_name_asks(label: str, outlet: str | None) -> None:
    # "China Daily reporter Li Hua:" was no speaker line (her question joined the chair's words), a journalist named
    # in "Ms. Li …, please." was an official, and the chair's call on her was returned as an official statement.
    conf = parse_text(CALLED_BY_NAME.format(label=label))
    assert [(t.role, t.kind, t.outlet, t.replies_to) for t in conf.turns] == [
        (Role.MODERATOR, Kind.REMARKS, None, None),
        (Role.JOURNALIST, Kind.QUESTION, outlet, None),
        (Role.MODERATOR, Kind.HANDOFF, None, 1),
        (Role.OFFICIAL, Kind.ANSWER, None, 1),
    ]


SPLIT_QUESTION = """Speakers:
Mr. Wu Xiaohua, deputy director of the Lingang administration
Ms. Chen Jie, director of the Lingang talent office

Q:
Jiefang Daily: How will Lingang attract enterprises and young talent?

Host:
This question goes to Mr. Wu Xiaohua and Ms. Chen Jie.

A:
More than 12,000 new enterprises registered in the Lingang Special Area last year.

A:
Young graduates can apply for a housing subsidy of up to 5,000 yuan a month.
"""


def test_a_question_handed_to_two_officials_leaves_a_bare_answer_unnamed() -> None:
    # Two officials named in the hand-off: which "A:" is whose is not said, so neither is credited with both.
    conf = parse_text(SPLIT_QUESTION)
    answer = next(t for t in conf.turns if t.kind is Kind.ANSWER)
    assert answer.speaker == "A"
    assert "12,000 new enterprises" in answer.text and "housing subsidy" in answer.text


def test_a_journalist_who_opens_the_page_asks_even_when_it_ends_on_a_question() -> None:
    # Who speaks only right after a journalist is an official replying; the first turn follows no one (it must not
    # look back to the page's last turn, a journalist's question, and make the opening question an answer).
    conf = parse_text("Li Hua:\nHow many container terminals will Yangshan open this year?\n\n"
                      "Gu Jun:\nShanghai will open two new container terminals at Yangshan this year.\n\n"
                      "Reuters:\nWhen will they be fully automated?\n")
    assert [(t.speaker, t.role, t.kind) for t in conf.turns] == [
        ("Li Hua", Role.JOURNALIST, Kind.QUESTION), ("Gu Jun", Role.OFFICIAL, Kind.ANSWER),
        ("Reuters", Role.JOURNALIST, Kind.QUESTION)]


def test_a_conference_held_on_the_day_its_page_was_published_keeps_that_year() -> None:
    # "held … on March 28" without a year takes the publication's; only a day after publication is last year's.
    conf = parse_text("Shanghai holds press conference on port development\nPress Room\n"
                      "The Shanghai municipal government held a press conference in Shanghai on March 28 to introduce "
                      "port plans. March 28, 2024\n\n"
                      "Gu Jun:\nShanghai will open two new container terminals at Yangshan this year.\n")
    assert (conf.held, conf.published) == (date(2024, 3, 28), date(2024, 3, 28))

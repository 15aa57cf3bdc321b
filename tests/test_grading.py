"""Grading: what earns a marking point and what does not, on questions written here."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.tutor.bank import Glossary, MarkingPoint, Question, QuestionType, load_bank, load_glossary
from bot.tutor.grading import MAX_ANSWER_CHARS, Grader, Marking, PointResult, grade
from bot.tutor.grading.english import normalise, stem

CONTENT = Path(__file__).resolve().parent.parent / "content"
GLOSSARY = load_glossary(CONTENT)


def _q(qid: str, prompt: str, points: list[tuple[str, str, list[str]]], pass_mark: int | None = None,
       model: str = "") -> Question:
    return Question(
        id=qid, topic="test", type=QuestionType.FREE_TEXT, prompt=prompt,
        marking_points=tuple(MarkingPoint(i, t, tuple(a)) for i, t, a in points),
        pass_mark=pass_mark, model_answer=model,
    )


BREACH = _q(
    "breach-report",
    "An agent emails a customer's bank details to the wrong person. If the breach is serious, "
    "who must the organisation report it to, and how quickly?",
    [
        ("ico", "It must be reported to the Information Commissioner's Office (ICO).", ["ICO", "Information Commissioner"]),
        ("72h", "It must be reported within 72 hours of becoming aware of it.", ["72 hours", "three days"]),
    ],
    model="Report it to the ICO within 72 hours of finding out.",
)

LAR = _q(
    "lar-stages",
    "What are the three stages of the LAR complaint model?",
    [
        ("listen", "L is Listen: let the customer explain the problem fully.", ["listen"]),
        ("apologise", "A is Apologise: say sorry for their experience.", ["apologise", "say sorry"]),
        ("resolve", "R is Resolve: agree how the problem will be put right.", ["resolve"]),
    ],
)

REFUND = _q(
    "refund-over-limit",
    "A customer wants a refund that is above the amount you can approve. What should you do?",
    [
        ("escalate", "Escalate it to a manager who has the authority to approve it.", ["refer it to a manager"]),
        ("inform", "Keep the customer informed about what happens next and when.", ["manage expectations"]),
    ],
)

FEEDBACK = _q(
    "feedback-rude-manner",
    "How should a team leader give feedback about an agent's rude manner on calls?",
    [
        ("behaviour", "Describe the specific behaviour and its effect, not the person's character.", []),
        ("private", "Give the feedback in private, soon after the call.", ["in private", "one to one"]),
    ],
)

SPEED = _q(
    "answer-target",
    "Your centre's target is 90/30. What does this mean?",
    [("meaning", "90% of calls are answered within 30 seconds.", ["90 percent answered in 30 seconds"])],
)


@pytest.fixture(scope="module")
def grader() -> Grader:
    return Grader(GLOSSARY)


# --------------------------------------------------------------------------- credit

CREDITED = [
    # the point in other words
    (BREACH, "They have to tell the information commissioner, and they get seventy-two hours to do it.", {"ico", "72h"}),
    (REFUND, "Pass it up to my team leader since they are allowed to sign it off, and let the customer know what happens next.", {"escalate", "inform"}),
    # typos
    (BREACH, "report it to the Informaton Comissioner within 72 hrs", {"ico", "72h"}),
    (LAR, "Lisen, Apologize, Reslove", {"listen", "apologise", "resolve"}),
    # abbreviations and expansions
    (BREACH, "ICO, 72hrs", {"ico", "72h"}),
    (BREACH, "the Information Commissioner's Office within three days", {"ico", "72h"}),
    # British and American spelling
    (FEEDBACK, "Talk about the specific behavior and the effect it had rather than their character", {"behaviour"}),
    (LAR, "listen, apologize, resolve", {"listen", "apologise", "resolve"}),
    # inflections
    (REFUND, "It should be escalated to a manager with the authority", {"escalate"}),
    (REFUND, "escalating to a manager who has authority is right", {"escalate"}),
    # number words
    (BREACH, "within seventy two hours", {"72h"}),
    (SPEED, "ninety per cent of calls answered in thirty seconds", {"meaning"}),
    (SPEED, "nine out of ten calls are answered within 30 secs", {"meaning"}),
    # lists in any order, with extra text around the point
    (LAR, "Resolve, listen, apologise", {"listen", "apologise", "resolve"}),
    (LAR, "Well first you listen to them, then you apologise, and finally you resolve it.", {"listen", "apologise", "resolve"}),
    (BREACH, "Honestly this is a big deal at work. You report it to the ICO. I think it's within 72 hours, "
             "and you also tell your manager straight away.", {"ico", "72h"}),
    # partial answers earn what they say
    (BREACH, "It goes to the ICO", {"ico"}),
]


@pytest.mark.parametrize("question,answer,expected", CREDITED, ids=[a for _, a, _ in CREDITED])
def test_credits(grader: Grader, question: Question, answer: str, expected: set[str]) -> None:
    assert set(grader.grade(question, answer).hits) == expected


# --------------------------------------------------------------------------- refusal

REFUSED = [
    # negated points
    (BREACH, "You don't have to tell the ICO about it", "ico"),
    (BREACH, "There's no need to report it within 72 hours", "72h"),
    (REFUND, "Don't escalate it to a manager, they have no authority", "escalate"),
    # wrong numbers and durations
    (BREACH, "within 48 hours", "72h"),
    (BREACH, "within two weeks", "72h"),
    (SPEED, "30% of calls answered within 90 seconds", "meaning"),
    # the misconception instead of the point
    (BREACH, "Only the police need to be told", "ico"),
]


@pytest.mark.parametrize("question,answer,point", REFUSED, ids=[a for _, a, _ in REFUSED])
def test_refuses(grader: Grader, question: Question, answer: str, point: str) -> None:
    assert point not in grader.grade(question, answer).hits


NOTHING = [
    (BREACH, ""),
    (BREACH, "   \n\t "),
    (BREACH, "🤷‍♂️😬"),
    (BREACH, "asdfgh qwerty zxcvb"),
    (BREACH, "?"),
    (LAR, "dunno"),
    # keyword bags that assert nothing
    (BREACH, "ICO, breach, report, bank, data, customer, email, serious"),
    (REFUND, "escalation, manager, refund, authority, customer, limit"),
    # answers to a different question
    (BREACH, "Use open questions and summarise back to the customer"),
    (LAR, "Specific, measurable, achievable, relevant, time-bound"),
]


@pytest.mark.parametrize("question,answer", NOTHING, ids=[repr(a) for _, a in NOTHING])
def test_earns_nothing(grader: Grader, question: Question, answer: str) -> None:
    m = grader.grade(question, answer)
    assert m.hits == () and m.score == 0.0


@pytest.mark.parametrize("question", [BREACH, LAR, REFUND, FEEDBACK, SPEED], ids=lambda q: q.id)
def test_prompt_echoed_back_earns_nothing(grader: Grader, question: Question) -> None:
    assert grader.grade(question, question.prompt).hits == ()


# --------------------------------------------------------------------------- the Marking


def test_marking_figures(grader: Grader) -> None:
    m = grader.grade(BREACH, "It goes to the ICO")
    assert m.hits == ("ico",)
    assert [p.id for p in m.misses] == ["72h"]
    assert m.earned == 1 and m.needed == 2 and m.score == 0.5 and not m.passed
    assert m.points[0].evidence == "It goes to the ICO" and m.points[1].evidence == ""
    full = grader.grade(BREACH, BREACH.model_answer)
    assert full.passed and full.score == 1.0


def test_score_is_capped_by_pass_mark(grader: Grader) -> None:
    q = _q("two-of-three", LAR.prompt, [(p.id, p.text, list(p.accept)) for p in LAR.marking_points], pass_mark=2)
    m = grader.grade(q, "listen, apologise, resolve")
    assert m.earned == 3 and m.score == 1.0 and m.passed


def test_marking_round_trips(grader: Grader) -> None:
    m = grader.grade(BREACH, "Report to the ICO, no idea how fast")
    again = Marking.from_dict(m.to_dict(), BREACH)
    assert again == m
    assert isinstance(again.points[0], PointResult)


def test_grading_is_deterministic() -> None:
    answer = "Talk to them privately about the specific behaviour and its effect"
    results = {Grader(GLOSSARY).grade(FEEDBACK, answer) for _ in range(3)}
    g = Grader(GLOSSARY)
    results |= {g.grade(FEEDBACK, answer) for _ in range(3)}
    assert len(results) == 1


def test_long_answers_are_cut(grader: Grader) -> None:
    answer = "It goes to the ICO. " + "x" * MAX_ANSWER_CHARS + " within 72 hours"
    m = grader.grade(BREACH, answer)
    assert m.truncated and m.hits == ("ico",)
    assert not grader.grade(BREACH, "It goes to the ICO").truncated


def test_convenience_function_matches_grader() -> None:
    assert grade(BREACH, "ICO within 72 hours", GLOSSARY) == Grader(GLOSSARY).grade(BREACH, "ICO within 72 hours")
    assert grade(BREACH, "ICO").hits == ("ico",)  # the glossary is optional


def test_glossary_extends_the_grader() -> None:
    q = _q("tla", "What should you check before discussing an account?", [("idv", "Complete ID&V first.", [])])
    assert Grader(Glossary()).grade(q, "do the identification and verification checks").hits == ()
    extended = Glossary((("ID&V", "identification and verification"),))
    assert Grader(extended).grade(q, "do the identification and verification checks").hits == ("idv",)


def test_normalising_helpers() -> None:
    assert normalise("organisation") == normalise("organization")
    assert normalise("centre") == normalise("center")
    assert {stem("escalate"), stem("escalated"), stem("escalation"), stem("escalating")} == {stem("escalate")}


# --------------------------------------------------------------------------- properties


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=600))
def test_grading_never_raises(answer: str) -> None:
    m = Grader(GLOSSARY).grade(BREACH, answer)
    assert 0.0 <= m.score <= 1.0
    assert set(m.hits) <= {"ico", "72h"}


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(["ICO", "72", "hours", "not", "no", ",", ".", "report", "within", "💥", "-", "%", "a"]), max_size=40))
def test_grading_never_raises_on_word_salad(words: list[str]) -> None:
    m = Grader(GLOSSARY).grade(BREACH, " ".join(words))
    assert 0.0 <= m.score <= 1.0


# --------------------------------------------------------------------------- bundled content


def _bundled_or_skip() -> tuple[Grader, list[Question]]:
    """The bundled bank's free-text questions: broken content fails here (it is not a reason to skip)."""
    bank = load_bank(CONTENT)
    questions = [q for q in bank if not q.is_choice]
    assert len(questions) >= 100, "the bundled bank should have its free-text questions"
    return Grader(bank.glossary), questions


def test_bundled_model_answers_earn_full_marks() -> None:
    grader, questions = _bundled_or_skip()
    failing = {q.id: [p.id for p in grader.grade(q, q.model_answer).misses]
               for q in questions if not grader.grade(q, q.model_answer).passed}
    assert not failing, f"model answers that do not earn full marks: {failing}"


def test_bundled_empty_answer_earns_nothing() -> None:
    grader, questions = _bundled_or_skip()
    assert [q.id for q in questions if grader.grade(q, "").hits] == []


def test_bundled_prompt_echo_earns_nothing() -> None:
    grader, questions = _bundled_or_skip()
    echoed = {q.id: grader.grade(q, q.prompt).hits for q in questions if grader.grade(q, q.prompt).hits}
    assert not echoed, f"prompts that earn marks when pasted back: {echoed}"


# --------------------------------------------------------------------------- misconceptions

WARM = _q(
    "warm-transfer",
    "What happens in a warm transfer?",
    [("brief", "The agent briefs the colleague before the call is put through.", ["briefs the colleague"])],
)

KINDS = _q(
    "question-kinds",
    "Describe the two kinds of question you can ask on a call, with an example of each.",
    [
        ("open", "Open questions invite a full answer in the customer's own words.", ["invite a full answer"]),
        ("closed", "Closed questions confirm a single fact with a yes or no.", ["yes or no"]),
        ("open-example", "A valid example of an open question, e.g. what happened, how can I help.", []),
        ("closed-example", "A valid example of a closed question, e.g. is that correct, shall I go ahead.", []),
    ],
    pass_mark=3,
)

CARD = _q(
    "card-on-recorded-line",
    "A caller starts reading out their card number on a recorded line. What do you do?",
    [
        ("stop", "The recording must be paused while the number is read out.", ["pause the recording"]),
        ("pci", "This is required by PCI DSS.", ["PCI DSS"]),
    ],
    pass_mark=1,
)

REGULATOR = _q(
    "credit-regulator",
    "Who oversees how consumer credit firms treat their customers?",
    [("fca", "They are regulated by the Financial Conduct Authority (FCA).", ["FCA"])],
)

MISCONCEPTIONS = [
    # role swap: the point's claim said of someone else
    (WARM, "the customer briefs the colleague before being put through", set()),
    (WARM, "the agent briefs the colleague, then puts the call through", {"brief"}),
    # category swap: one kind's claim or example filed under the other kind
    (KINDS, "Closed questions invite a full answer in the customer's own words", set()),
    (KINDS, "Open questions invite a full answer; closed questions confirm one fact, yes or no", {"open", "closed"}),
    (KINDS, "open questions such as 'is that correct'", set()),
    (KINDS, "closed questions such as 'is that correct'", {"closed-example"}),
    # the opposite predicate, with the right name attached to it
    (CARD, "Just keep recording, PCI DSS is fine with that", set()),
    (CARD, "Don't pause anything, PCI DSS lets you store it", set()),
    (CARD, "Pause the recording until the number is done, PCI DSS", {"stop", "pci"}),
    # the point names a term: another term in its place earns nothing
    (REGULATOR, "They are regulated by Ofcom", set()),
    (REGULATOR, "They are regulated by the FCA", {"fca"}),
]


@pytest.mark.parametrize("question,answer,expected", MISCONCEPTIONS, ids=[a for _, a, _ in MISCONCEPTIONS])
def test_misconceptions(grader: Grader, question: Question, answer: str, expected: set[str]) -> None:
    assert set(grader.grade(question, answer).hits) == expected


# --------------------------------------------------------------------------- paraphrase lexicon

CALLBACKS = _q(
    "callback-promise",
    "Someone was promised a callback that never came. What went wrong and what is the effect?",
    [
        ("again", "They have to call the centre again, adding to the workload.", ["call again"]),
        ("unhappy", "The customer becomes dissatisfied.", ["unhappy customer"]),
        ("fix", "Their issue is left unresolved.", ["not resolved"]),
    ],
    pass_mark=2,
)

PARAPHRASES = [
    (CALLBACKS, "so they end up having to ring back, which is more work for us", {"again"}),
    (CALLBACKS, "the customer is fed up", {"unhappy"}),
    (CALLBACKS, "the customer gets happier", set()),
    (CALLBACKS, "the problem never gets sorted out", {"fix"}),
]


@pytest.mark.parametrize("question,answer,expected", PARAPHRASES, ids=[a for _, a, _ in PARAPHRASES])
def test_paraphrase_lexicon(grader: Grader, question: Question, answer: str, expected: set[str]) -> None:
    assert set(grader.grade(question, answer).hits) == expected


def test_text_helpers_for_new_mechanisms() -> None:
    from bot.tutor.grading.english import default_vocab, tokenize

    OPPOSITES = default_vocab().opposites
    assert stem("happier") == stem("happy") and stem("easiest") == stem("easy")
    keep = tokenize("keep recording the call")[0]
    stop = tokenize("stop")[0]
    assert any(g in OPPOSITES.get(s, ()) for g, _ in keep.concepts for s, _ in stop.concepts)
    assert not tokenize("keep the notes")[0].concepts or all(
        g not in OPPOSITES.get(s, ()) for g, _ in tokenize("keep the notes")[0].concepts for s, _ in stop.concepts)
    # "first" is "before" only when it is an adverb, not in "first time"
    assert tokenize("first time")[0].concepts != tokenize("do it first")[2].concepts


def test_run_on_answers_are_read_in_windows(grader: Grader) -> None:
    filler = "and then we had a chat about the weather and the football " * 40
    m = grader.grade(BREACH, filler + "you report it to the ICO within 72 hours " + filler)
    assert set(m.hits) == {"ico", "72h"}
    assert grader.grade(BREACH, "k " * 2000).hits == ()
    assert grader.grade(BREACH, "🙂" * 3000).hits == ()


# --------------------------------------------------------------------------- third pass

SURVEY = _q(
    "survey-drop",
    "Your team's post-call survey scores have fallen this quarter. Give two likely causes.",
    [
        ("hold", "Long hold times leave callers unhappy.", []),
        ("transfer", "Calls are transferred several times, and the caller must repeat the story.", []),
    ],
    pass_mark=1,
)

WELLBEING = _q(
    "wellbeing-overtime",
    "A team leader asks agents to work unpaid overtime every week. What is the likely effect?",
    [("morale", "It lowers staff morale.", ["demotivated staff"])],
)

RESTART = _q(
    "system-outage",
    "The booking system goes down in the middle of a call. What should the agent do when it returns?",
    [("restart", "Resume the booking where it stopped.", ["resume the booking"])],
)

ROTA = _q(
    "rota-skills",
    "Why should a rota planner know each agent's skills?",
    [("match", "So calls that need a specialist reach an agent with the right skill.", [])],
)

THIRD_PASS = [
    # a point stated across two adjacent short sentences; each clause keeps its own negation
    (SURVEY, "Callers wait on hold for ages. By the time we answer they are already fed up.", {"hold"}),
    (SURVEY, "Callers wait on hold for ages. By the time we answer they are not upset at all.", set()),
    # a decrease of a word with a negative form is that negative form
    (WELLBEING, "the staff end up demotivated", {"morale"}),
    (WELLBEING, "it damages the team's motivation", {"morale"}),
    (WELLBEING, "morale among the staff drops", {"morale"}),
    (WELLBEING, "it doesn't lower staff morale", set()),
    # a phrasal verb with its object inside it; a real word is not "corrected" into another
    (RESTART, "start it back up from the step where it stopped", {"restart"}),
    # a dash ends the reach of a negation like a comma does
    (SURVEY, "It's not the survey itself - callers are kept on hold so long they get annoyed", {"hold"}),
]


@pytest.mark.parametrize("question,answer,expected", THIRD_PASS, ids=[a for _, a, _ in THIRD_PASS])
def test_third_pass_mechanisms(grader: Grader, question: Question, answer: str, expected: set[str]) -> None:
    assert set(grader.grade(question, answer).hits) == expected


def test_dotted_and_clipped_abbreviations() -> None:
    from bot.tutor.grading.english import split_sentences
    text = "Pay e.g. wages is hygiene. The F.C.R. rose. The K.P.I.s fell"
    assert [text[a:b].strip() for a, b in split_sentences(text)] == [
        "Pay e.g. wages is hygiene", "The F.C.R. rose", "The K.P.I.s fell"]
    assert normalise("The F.C.R. rose") == normalise("the FCR rose")
    assert normalise("K.P.I.s and SLA's").split()[0] == "kpis"
    assert normalise("fast - not slow").split() == ["fast", ",", "not", "slow"]
    assert normalise("time-bound").split() == ["time", "-", "bound"]


@pytest.mark.parametrize("answer", [
    "We track the F.C.R. every week",
    "our fcr's fine",
    "First call resolutions matter",
    "first-contact resolution",
])
def test_glossary_terms_in_any_form(answer: str) -> None:
    q = _q("fcr-name", "Which measure counts how often nobody needs to ring back?",
           [("fcr", "First contact resolution (FCR).", ["FCR"])])
    assert Grader(GLOSSARY).grade(q, answer).hits == ("fcr",)


def test_clipped_words_are_expanded(grader: Grader) -> None:
    q = _q("recognition-kind", "Name one motivator for an agent that is not money.",
           [("recognition", "Recognition, such as a thank-you from the manager.", ["recognition"])])
    assert grader.grade(q, "recog from the boss").hits == ("recognition",)
    assert grader.grade(q, "a bonus").hits == ()


def test_warming_compiles_every_free_text_question_once_and_changes_no_marking() -> None:
    from bot.tutor.bank import load_bank

    bank = load_bank(Path(__file__).resolve().parent.parent / "content")
    cold, warm = Grader(bank.glossary), Grader(bank.glossary)
    assert warm.warm(bank) == sum(1 for q in bank if not q.is_choice)
    for q in list(bank)[:20]:
        if not q.is_choice:
            assert warm.grade(q, q.model_answer) == cold.grade(q, q.model_answer)

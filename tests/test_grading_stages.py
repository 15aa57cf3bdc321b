"""The grader's stages, one table each: lexicon, English, guards, the learned stage, decisions, CLI."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.errors import ContentError
from bot.tutor.bank import Glossary, MarkingPoint, Question, QuestionType, load_bank, load_glossary
from bot.tutor.grading import Grader, grade
from bot.tutor.grading import decide, model as model_mod
from bot.tutor.grading.english import normalise, stem, tokenize
from bot.tutor.grading.lexicon import bundled_lexicon, load_lexicon
from bot.tutor.grading.model import Head, SemanticModel

ROOT = Path(__file__).resolve().parent.parent
GLOSSARY = load_glossary(ROOT / "content")


def _q(qid: str, prompt: str, points: list[tuple[str, str, list[str]]], model: str = "") -> Question:
    return Question(id=qid, topic="test", type=QuestionType.FREE_TEXT, prompt=prompt,
                    marking_points=tuple(MarkingPoint(i, t, tuple(a)) for i, t, a in points),
                    model_answer=model or " ".join(t for _, t, _ in points))


ADHERENCE = _q("t-adh-occ", "Explain the difference between schedule adherence and occupancy.", [
    ("adherence", "Schedule adherence measures how closely an agent follows their schedule, at the planned times.",
     ["following the schedule", "keeping to their schedule"]),
    ("occupancy", "Occupancy is the share of logged-in time an agent spends handling contacts rather than idle.",
     ["time spent handling contacts", "busy versus idle time"]),
])
BREACH = _q("t-breach", "A customer's bank details were emailed to the wrong person. What must happen?", [
    ("ico", "Report it to the ICO within 72 hours of becoming aware.", ["report to the ICO", "tell the ICO"]),
    ("log", "Record the breach in the breach log.", ["log it", "record it"]),
])
DRIVERS = _q("t-drivers", "Name the four drivers of vulnerability the FCA describes.", [
    ("health", "Health conditions or illnesses that affect the ability to carry out day-to-day tasks.", ["health"]),
    ("life-events", "Life events such as bereavement, job loss or relationship breakdown.", ["life events"]),
    ("resilience", "Low resilience: little ability to withstand financial or emotional shocks.", ["resilience"]),
    ("capability", "Low capability: low knowledge of financial matters or low confidence managing money.",
     ["low capability"]),
])
QA_CSAT = _q("t-qa-csat", "An agent has a high CSAT but a low QA score. Explain the difference between the two.", [
    ("qa", "The QA score is the organisation's internal assessment of the call against a quality scorecard.",
     ["internal quality assessment", "quality team's score"]),
    ("csat", "CSAT is the customers' own rating of how satisfied they were with the interaction.",
     ["customers' rating", "how satisfied the customer was"]),
])
GROW = _q("t-grow", "Give one question for the Goal stage and one for the Reality stage of GROW.", [
    ("goal", "G is Goal: ask what the agent wants to achieve.", ["what do you want to achieve"]),
    ("reality", "R is Reality: ask what is happening now and what has been tried.", ["what have you tried"]),
])


# --------------------------------------------------------------------------- lexicon


def test_the_bundled_lexicon_loads_with_named_groups() -> None:
    lex = bundled_lexicon()
    assert "call" in lex.synonyms and "ring" in lex.synonyms["call"]
    assert all(a in lex.synonyms and b in lex.synonyms for a, b in lex.opposites)
    assert lex.bodies["ico"][0] == "ico"


@pytest.mark.parametrize("body, message", [
    ("lexicon:\n  synonyms:\n    call: [call]\n", "lexicon.yaml:3 lexicon.synonyms.call: a group needs at least two"),
    ("lexicon:\n  synonyms:\n    call: [call, ring]\n  opposites:\n    - [call, nothing]\n",
     "lexicon.yaml:5 lexicon.opposites[0]: 'nothing' is not a synonym group"),
    ("lexicon:\n  synonyms:\n    call: [call, ring]\n  stopwrds: [a]\n", "lexicon.yaml:4 lexicon.stopwrds: unknown key (did you mean 'stopwords'?)"),
    ("lexicon:\n  synonyms:\n    call: [call, ring]\n  polar: [happy]\n", "lexicon.yaml:4 lexicon.polar: 'happy' is not a synonym group"),
])
def test_lexicon_errors_name_file_and_line(tmp_path: Path, body: str, message: str) -> None:
    f = tmp_path / "lexicon.yaml"
    f.write_text(body)
    with pytest.raises(ContentError) as err:
        load_lexicon(f)
    assert any(message in p for p in err.value.problems), err.value.problems


def test_the_bank_loader_checks_a_lexicon_file_beside_the_topics(tmp_path: Path) -> None:
    for f in (ROOT / "content").glob("*.yaml"):
        (tmp_path / f.name).write_text(f.read_text())
    assert len(load_bank(tmp_path)) > 0
    (tmp_path / "lexicon.yaml").write_text("lexicon:\n  synonyms:\n    call: [call]\n")
    with pytest.raises(ContentError) as err:
        load_bank(tmp_path)
    assert any("lexicon.yaml:3" in p for p in err.value.problems)


# --------------------------------------------------------------------------- English


@pytest.mark.parametrize("text, expected", [
    ("Don't ring the custmer b4 2mins", "do not ring the custmer before 2 minutes"),
    ("organisation's centre", "organization center"),
    ("AHT = talk + hold", "aht is talk and hold"),
])
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


@pytest.mark.parametrize("a, b", [("escalate", "escalation"), ("resolve", "resolution"), ("satisfied", "satisfies")])
def test_stem_agrees(a: str, b: str) -> None:
    assert stem(a) == stem(b)


@pytest.mark.parametrize("sentence, word, negated", [
    ("you do not need to tell the ICO", "tell", True),
    ("it is not true that you must report it", "report", True),
    ("not only the ICO but also the customer", "customer", False),
    # a negated predicate is denied to the end of its clause, "and" and relative clauses included
    ("ACW is not the work an agent does after the customer has gone", "gone", True),
    ("agreed actions are never recorded or shared with the agent", "shared", True),
    ("it is not written down and agreed with the agent, who keeps a copy", "agreed", True),
    ("it is not written down, who keeps a copy", "copy", False),
    ("AHT is not talk time and it is hold time", "hold", False),
    ("AHT is not quick because the customer waits", "waits", False),
    # "not only", "not just": affirmed
    ("it is not just about speed", "speed", False),
    # a negated dismissal ("isn't needed", "doesn't matter") denies its subject, back to the clause's start
    ("but large print and slowing down aren't really needed", "print", True),
    ("FCR doesn't really matter here", "fcr", True),
    ("the agent keeps the log, but proofreading is not necessary", "log", False),
    # not when a verb follows: what is denied comes after ("you don't need to ...")
    ("agents don't need to tell the ICO", "agents", False),
    ("a reason is not required to make a request", "reason", False),
    # a dismissing predicate denies its subject without a negation word
    ("asking permission wastes time", "permission", True),
    ("cascading's a waste of time", "cascading", True),
    ("proofreading is unnecessary", "proofreading", True),
    ("avoid unnecessary jargon", "avoid", False),
])
def test_negation_scope(sentence: str, word: str, negated: bool) -> None:
    tok = next(t for t in tokenize(sentence) if t.surface == word)
    assert tok.neg is negated


# --------------------------------------------------------------------------- guards (lexical stage)


INDICATORS = _q("t-leading-lagging", "Explain the difference between leading and lagging indicators.", [
    ("leading", "A leading indicator measures activity now that predicts future results, so you can act early.",
     ["it predicts what will happen", "an early warning you can act on"]),
    ("lagging", "A lagging indicator measures an outcome after it has happened, such as survey results.",
     ["shows the result after the event", "measures what has already happened"]),
])


@pytest.mark.parametrize("question, answer, point, earned, rule", [
    (ADHERENCE, "Occupancy is how closely agents keep to their schedule.", "adherence", False, "swapped-definition"),
    (ADHERENCE, "Adherence is keeping to their schedule; occupancy is busy versus idle time.", "adherence", True, None),
    (BREACH, "Report it to the ICO within 30 days.", "ico", False, "wrong-number"),
    (BREACH, "Just report to the ICO and log it.", "ico", False, "no-time-limit"),
    (BREACH, "Report it to the FCA within 72 hours.", "ico", False, None),
    (BREACH, "Tell the ICO within three days.", "ico", True, None),
    (GROW, "Goal: what have you tried so far? Reality: what do you want to achieve?", "goal", False, "swapped-definition"),
    (GROW, "Goal: what do you want to achieve? Reality: what have you tried?", "reality", True, None),
    # denied one of the things the question asks for: "X is not a driver"
    (DRIVERS, "Health and life events. Resilience is not a driver, because it means they are strong.",
     "resilience", False, "negation"),
    (DRIVERS, "Health, life events, capability and low resilience are the drivers.", "resilience", True, None),
    (DRIVERS, "Low resilience is a driver, and so is health.", "resilience", True, None),
    # an accept phrase is bound by its own words: "predicts what's coming" is said of the lagging one
    (INDICATORS, "A leading indicator measures results after they happen, and a lagging indicator predicts "
     "what's coming.", "leading", False, "swapped-definition"),
    (INDICATORS, "A leading indicator predicts what will happen, and a lagging one measures results after they "
     "happen.", "leading", True, None),
])
def test_guards_on_lexical_marks(question: Question, answer: str, point: str, earned: bool, rule: str | None) -> None:
    m = Grader(GLOSSARY, model=False).grade(question, answer)
    r = next(r for r in m.points if r.point.id == point)
    assert r.earned is earned, r.explain()
    if rule:
        assert (r.stage, r.rule) == ("guard", rule), r.explain()


CSAT_NPS = _q("t-csat-nps", "Your centre measures both CSAT and NPS. Explain the difference.", [
    ("csat", "CSAT measures how satisfied customers are with a particular interaction.",
     ["satisfaction with the call", "satisfied with the interaction"]),
    ("nps", "NPS measures how likely customers are to recommend the organisation.",
     ["likelihood to recommend", "would recommend us"]),
])
CONTROLLER = _q("t-controller", "Explain the terms data controller and data processor.", [
    ("controller", "The controller decides why and how personal data is processed.", ["decides the purpose and means"]),
    ("processor", "The processor handles the data on the controller's behalf and only on its instructions.",
     ["acts on instructions"]),
])
OUTSOURCING = _q("t-outsourcing", "When you outsource contact handling, your company is the data controller and the "
                 "outsourcer is a data processor. Explain both terms and one legal requirement for the relationship.", [
    ("controller", "The controller decides why and how personal data is processed, and remains responsible for "
                   "compliance.", ["decides the purpose and means", "remains responsible"]),
    ("processor", "The processor handles the data on the controller's behalf and only on its instructions.",
     ["acts on instructions", "processes on behalf of the controller"]),
    ("contract", "There must be a written contract, or data processing agreement, setting out the processor's "
                 "obligations.", ["data processing agreement", "DPA contract", "written contract"]),
])
WARM_COLD = _q("t-warm-cold", "What is the difference between a warm transfer and a cold transfer?", [
    ("warm", "In a warm transfer the agent speaks to the colleague first and briefs them.",
     ["brief the colleague first", "speak to the colleague before"]),
    ("cold", "In a cold (blind) transfer the call is put straight through without briefing anyone.",
     ["put straight through", "just put through"]),
])
SHRINKAGE = _q("t-shrinkage", "Why would rostering exactly the Erlang C figure leave you short, and what is the allowance called?", [
    ("shrinkage", "The allowance is called shrinkage.", ["shrinkage"]),
    ("definition", "Shrinkage is paid time when agents are not available to handle contacts.",
     ["not available to take calls"]),
    ("occupancy", "Occupancy is the share of logged-in time spent handling contacts.", ["time spent handling contacts"]),
])
PRINCIPLES = _q("t-principles", "An agent keeps every caller's details forever. Name two data protection principles it breaks.", [
    ("minimisation", "Data minimisation: it collects more personal data than is needed.", ["more data than needed"]),
    ("storage", "Storage limitation: the data is kept for longer than it is needed.", ["kept too long", "kept for longer than needed"]),
])


@pytest.mark.parametrize("question, answer, point, earned", [
    # a glossary term ("customer satisfaction") is a term, not a person
    (CSAT_NPS, "NPS is how satisfied they were with that particular call.", "csat", False),
    (CSAT_NPS, "CSAT is how satisfied they were with that particular call.", "csat", True),
    # a point with no defining verb is bound by its id to the term its text opens with
    (CONTROLLER, "The processor decides why and how the data is processed.", "controller", False),
    (CONTROLLER, "The controller decides why and how the data is processed.", "controller", True),
    # a possessive governs nothing: "on the controller's behalf" is still said of the processor
    (CONTROLLER, "The processor handles the data on the controller's behalf, only on its instructions.", "processor", True),
    # a word derived from a term does not name it: "processing" is not "the processor"
    (OUTSOURCING, "The processor decides why and how the data is used, and the controller carries out the "
                  "processing on its instructions.", "processor", False),
    (OUTSOURCING, "The controller decides why and how the data is used, and the processor handles the data "
                  "only on its instructions.", "processor", True),
    # "X is called Y" defines Y: the allowance is not a term of its own
    (SHRINKAGE, "It's called shrinkage.", "shrinkage", True),
    (SHRINKAGE, "It's called occupancy.", "shrinkage", False),
    # a term with a gloss is named by it: "the quality team's score" does not name "the QA score"
    (QA_CSAT, "QA is the customers' rating of the call and CSAT is the quality team's score.", "qa", False),
    (QA_CSAT, "QA is the quality team's score against the scorecard and CSAT is the customers' rating of the "
              "call.", "qa", True),
    # a bracketed alternative is not part of the term: "cold (blind) transfer" is "cold transfer"
    (WARM_COLD, "A cold transfer is when you speak to the colleague first and brief them.", "warm", False),
    (WARM_COLD, "A warm transfer is when you speak to the colleague first and brief them.", "warm", True),
    # two sentences read as a pair do not make one term across their boundary
    (ADHERENCE, "Occupancy is how closely an agent keeps to their schedule. Adherence is the share of time "
                "spent on calls.", "adherence", False),
    # a term named only to be given another term's definition earns nothing
    (PRINCIPLES, "Data minimisation, it's kept for longer than needed, and storage limitation, it collects "
                 "more data than needed.", "minimisation", False),
    (PRINCIPLES, "Data minimisation, it collects more data than needed, and storage limitation, it's kept "
                 "for longer than needed.", "minimisation", True),
])
def test_definitions_bind_to_their_terms(question: Question, answer: str, point: str, earned: bool) -> None:
    r = next(r for r in Grader(GLOSSARY, model=False).grade(question, answer).points if r.point.id == point)
    assert r.earned is earned, r.explain()
    if not earned and r.stage == "guard":
        assert r.rule == "swapped-definition", r.explain()


LISTENING = _q("t-listening", "Describe three active listening techniques an agent can use on a call.", [
    ("paraphrase", "Paraphrase or summarise what the customer said to check understanding.",
     ["summarise back what they said"]),
    ("questions", "Ask clarifying or probing questions to understand fully.", ["ask probing questions"]),
    ("acknowledge", "Use short verbal acknowledgements, such as 'I see', so the customer knows you are listening.",
     ["saying i see"]),
])
TEMPLATES = _q("t-templates", "Give one benefit and one risk of using email templates.", [
    ("benefit", "Templates make replies consistent, accurate and faster to write.", ["faster to write"]),
    ("risk", "Replies can sound generic or robotic and may not answer the customer's actual question.",
     ["sound robotic", "sounds generic"]),
])
ONE_TO_ONES = _q("t-one-to-ones", "Maya holds 7 one-to-ones a week: each takes her 45 minutes and takes the agent 30 "
                 "minutes off the phones. How much time a week does it cost Maya, and the agents?", [
    ("maya-5-25", "Maya spends 5 hours 15 minutes a week (7 x 45 minutes).", ["5 hours 15 minutes"]),
    ("agents-3-5", "Agents spend 3.5 hours a week off the phones (7 x 30 minutes).", ["3.5 hours"]),
])
SHRINK_KINDS = _q("t-shrink-kinds", "Explain the two kinds of shrinkage, with an example of each.", [
    ("planned", "Planned shrinkage is known in advance, such as breaks, training and team meetings.",
     ["known in advance", "breaks and training"]),
    ("unplanned", "Unplanned shrinkage cannot be scheduled, such as sickness or lateness.",
     ["sickness or lateness", "sickness and lateness"]),
])

STYLES = _q("t-styles", "Explain the difference between assertive and aggressive communication, and why an agent "
            "should be assertive.", [
    ("assertive-def", "Assertive communication is calm, clear and honest while respecting the customer.",
     ["calm and clear"]),
    ("aggressive-def", "Aggressive communication puts the agent's point across at the customer's expense: "
                       "raising the voice, interrupting or blaming.",
     ["raise your voice", "talk over them"]),
    ("why-assertive", "Being assertive keeps the relationship and de-escalates the call.", ["keeps the relationship"]),
])


@pytest.mark.parametrize("question, answer, point, earned", [
    # what a point says, said where the answer says what another point's subject is
    (LISTENING, "Paraphrasing is asking probing questions to understand fully.", "questions", False),
    (LISTENING, "Asking probing questions helps you understand fully.", "questions", True),
    (LISTENING, "Paraphrasing is when you summarise back what they said, and you ask probing questions.",
     "questions", True),
    (TEMPLATES, "Benefit is that replies sound robotic. Risk is that they are faster to write.", "benefit", False),
    (TEMPLATES, "Benefit is that replies sound robotic. Risk is that they are faster to write.", "risk", False),
    (TEMPLATES, "The benefit is that replies are faster to write; the risk is that they sound robotic.", "benefit", True),
    (TEMPLATES, "The benefit is that replies are faster to write; the risk is that they sound robotic.", "risk", True),
    # two other points about the same subject ("assertive"): it is still not this point's
    (STYLES, "Assertive is when you raise your voice and talk over them.", "aggressive-def", False),
    (STYLES, "Aggressive is when you raise your voice and talk over them.", "aggressive-def", True),
    # a label opening the answer says whose figure follows
    (ONE_TO_ONES, "Agents: 7 x 45 = 315 minutes = 5 hours 15 minutes.", "maya-5-25", False),
    (ONE_TO_ONES, "Maya: 7 x 45 = 315 minutes = 5 hours 15 minutes.", "maya-5-25", True),
    # the point's own subject, given another point's words and none of its own
    # (the bank's question: its accept phrase "skills-based routing" names the point)
    ("comm-acd-routing", "Skills-based routing means the call goes to the agent who has been idle the longest.",
     "skills", False),
    ("comm-acd-routing", "Skills-based routing means the call goes to the agent with the right skill or language.",
     "skills", True),
    # "the planned one", "the unplanned one": the kind, "one" standing for its noun
    (SHRINK_KINDS, "The planned one is like breaks and training, the unplanned one is like sickness and lateness.",
     "unplanned", True),
    (SHRINK_KINDS, "The planned one is like sickness and lateness, the not planned one is like breaks and training.",
     "unplanned", False),
])
def test_what_is_said_of_another_points_subject_earns_nothing(question: Question | str, answer: str, point: str,
                                                             earned: bool) -> None:
    if isinstance(question, str):
        bank = load_bank(ROOT / "content")
        question = next(q for q in bank if q.id == question)
    r = next(r for r in Grader(GLOSSARY, model=False).grade(question, answer).points if r.point.id == point)
    assert r.earned is earned, r.explain()


def test_the_model_is_vetoed_where_a_point_is_said_of_another_points_subject() -> None:
    answer = "Paraphrasing is asking the customer probing questions so you understand fully."
    r = next(r for r in Grader(GLOSSARY, model=SURE).grade(LISTENING, answer).points if r.point.id == "questions")
    assert not r.earned and (r.stage, r.rule) == ("guard", "swapped-definition"), r.explain()


AIMS = _q("t-aims", "Name the two kinds of statement in a plan and explain the difference between them.", [
    ("aim", "An aim is a broad, long-term statement of intent.", ["aim is broad", "aim is long term"]),
    ("objective", "An objective is a specific, measurable, time-bound step.", ["objective is specific", "objective is measurable"]),
])
OPEN_CLOSED = _q("t-open-closed", "Explain when an agent should use each of the two main types of question.", [
    ("open", "Open questions invite the customer to explain in their own words.", ["open questions get detail"]),
    ("closed", "Closed questions get a short answer, such as yes or no, to confirm a fact.",
     ["closed questions get a short answer", "closed questions confirm"]),
])
REPEAT = _q("t-repeat", "Why can a very short AHT be bad for the customer?", [
    ("repeat", "Customers are more likely to call back when the issue is not fixed on the first call.",
     ["call back", "ring back"]),
])
AHT_TARGET = _q("t-aht", "The team's AHT target is under 9 minutes. Is 8 minutes 40 seconds on target?", [
    ("value", "AHT of 8 minutes 40 seconds is 520 seconds.", ["520 seconds"]),
])
NAME_THREE = _q("t-drivers", "Name three drivers of vulnerability.", [
    ("health", "Health: conditions that affect the ability to carry out day-to-day tasks.", ["health"]),
    ("life", "Life events: bereavement, job loss, relationship breakdown.", ["life events"]),
    ("resilience", "Resilience: low ability to withstand financial or emotional shocks.", ["resilience"]),
])
STANDARDS = _q("t-hard-soft", "Explain the difference between hard and soft service standards.", [
    ("hard", "Hard standards: measurable targets, such as answering 80% of calls within 20 seconds.",
     ["measurable targets"]),
    ("soft", "Soft standards: behaviours that are harder to measure, such as empathy and tone.", ["behaviours"]),
])
WILL = _q("t-grow-will", "Explain what happens at the Will stage of GROW.", [
    ("commitment", "The agent commits to specific actions and a timescale.", ["commitment to actions", "timescale"]),
])
NAME_THEM = _q("t-drivers-some", "Name some drivers of vulnerability an agent listens for.",
               [(p.id, p.text, list(p.accept)) for p in NAME_THREE.marking_points])


@pytest.mark.parametrize("question, answer, expected", [
    # examples are stripped at "like", never inside "likely": the rest of the point stays
    (REPEAT, "If the issue isn't fixed first time the customer has to ring back.", {"repeat"}),
    (REPEAT, "Customers are more likely to be happy.", set()),
    # "yes or no" is a kind of answer, not a negation
    (OPEN_CLOSED, "Closed questions get a yes or no answer to confirm a fact.", {"closed"}),
    # a definition is bound to the term it is said of, short terms included
    (AIMS, "An objective is broad and long term, and an aim is specific and measurable.", set()),
    (AIMS, "An aim is broad and long term, and an objective is specific and measurable.", {"aim", "objective"}),
    (ADHERENCE, "Occupancy is how closely an agent keeps to their schedule; adherence is the percentage of "
                "available time spent handling calls.", set()),
    # a list of terms earns nothing unless the prompt asks to name or list things
    (BREACH, "ICO, 72 hours, breach log, customer, bank, email", set()),
    (NAME_THREE, "health, life events, resilience, capability", {"health", "life", "resilience"}),
    # ... however it is punctuated, with structure words inside its names ("Breach of data")
    (BREACH, "ICO. 72 hours. Breach log. GDPR.", set()),
    (BREACH, "ICO, 72 hours, log of breaches, GDPR", set()),
    (NAME_THREE, "Health. Life events. Resilience. Capability.", {"health", "life", "resilience"}),
    # asked for three, given six names or more: a shotgun earns nothing; four or five are an answer
    (NAME_THREE, "Health, life events, resilience, capability, age, GDPR.", set()),
    (NAME_THREE, "Health, life events, resilience, capability, age.", {"health", "life", "resilience"}),
    # "name some": with no number, the prompt asks for what its points name (three: six names are a shotgun)
    (NAME_THEM, "Health, life events, resilience, capability, age, GDPR.", set()),
    (NAME_THEM, "Health, life events, resilience, capability.", {"health", "life", "resilience"}),
    # ... bulleted, or written with slashes; a capitalised name that is also a verb ("Will") is a name
    (BREACH, "- ICO\n- 72 hours\n- breach log\n- GDPR", set()),
    (BREACH, "ICO / 72 hours / breach log / GDPR / DPO", set()),
    (WILL, "SMART, Will, way forward, commitment, timescale, review", set()),
    (WILL, "In the Will stage the agent makes a commitment to actions with a timescale.", {"commitment"}),
    # ... or a bag of keywords with no punctuation, even where it names a point's term
    (STANDARDS, "measurable targets behaviours gdpr ico wallboard rota adherence sickness", set()),
    (STANDARDS, "Hard standards are measurable targets; soft standards are behaviours like empathy.",
     {"hard", "soft"}),
    # items that say something are a terse answer, not a list of terms
    (BREACH, "ICO - within 72 hours. Breach log. GDPR. DPO.", {"ico", "log"}),
    (BREACH, "Report it to the ICO / the regulator within 72 hours. Log it.", {"ico", "log"}),
    (BREACH, "Tell the ICO in 72 hours. Log it. Will do it today. GDPR.", {"ico", "log"}),
    (BREACH, "Report it to the ICO within 72 hours, log it, tell the DPO, GDPR.", {"ico", "log"}),
])
def test_general_rules_from_the_examiner_reads(question: Question, answer: str, expected: set[str]) -> None:
    assert set(Grader(GLOSSARY, model=False).grade(question, answer).hits) == expected


def test_a_shotgun_is_told_how_many_the_question_wants() -> None:
    g = Grader(GLOSSARY, model=False)
    assert "asks for 3" in g.grade(NAME_THREE, "Health, life events, resilience, capability, age, GDPR.").advice
    assert "has 3 points" in g.grade(NAME_THEM, "Health, life events, resilience, capability, age, GDPR.").advice


@pytest.mark.parametrize("text, quantities", [
    ("8 minutes 40 seconds", ["q:t:520"]),
    ("an hour and five minutes", ["q:t:3900"]),
    ("8 minutes", ["q:t:480"]),
    # halves: of a unit, and "one and a half" (not a bare half beside a whole unit)
    ("an hour and a half", ["q:t:5400"]),
    ("one and a half hours", ["q:t:5400"]),
    ("half an hour", ["q:t:1800"]),
    ("a minute and a half", ["q:t:90"]),
    ("one and a half", ["q:n:1.5"]),
])
def test_a_duration_in_parts_is_one_quantity(text: str, quantities: list[str]) -> None:
    assert [t.surface for t in tokenize(text) if t.quantity] == quantities


@pytest.mark.parametrize("text, quantities", [
    # a decimal and a number with a thousands comma are one number each
    ("168 divided by 2400 is 0.7%", ["q:n:168", "q:n:2400", "q:p:0.7"]),
    ("Agents spend 3.5 hours a week", ["q:t:12600", "q:t:604800"]),
    ("March is 7.5.", ["q:n:7.5"]),
    ("£6,000 a month, 48,000 contacts", ["q:n:6000", "q:t:2592000", "q:n:48000"]),
    ("seven and a half in every thousand", ["q:n:7.5", "q:n:1000"]),
    ("72k a year, six grand a month", ["q:n:72000", "q:t:31536000", "q:n:6000", "q:t:2592000"]),
    # a rate is not a duration: "6,000 per month" is not 6,000 months
    ("6,000 per month", ["q:n:6000"]),
])
def test_numbers_are_read_whole(text: str, quantities: list[str]) -> None:
    assert [t.surface for t in tokenize(text) if t.quantity] == quantities


def test_a_calculations_results_in_a_row_are_not_a_list_of_terms() -> None:
    q = _q("t-net", "A step adds 30 seconds to each of 20,000 calls and prevents 2,000 calls of 7 minutes. "
           "Work out the minutes it adds, the minutes it saves and the net effect.", [
        ("minutes-added", "It adds 20,000 x 0.5 = 10,000 minutes a month.", ["10,000 minutes"]),
        ("minutes-saved", "It saves 2,000 x 7 = 14,000 minutes a month.", ["14,000 minutes"]),
        ("net-saving", "Overall it saves 4,000 minutes a month.", ["4,000 minutes"]),
    ])
    m = Grader(GLOSSARY, model=False).grade(q, "+10,000 min added, 14,000 min saved, net 4,000 min saved.")
    assert set(m.hits) == {"minutes-added", "minutes-saved", "net-saving"}, [r.explain() for r in m.points]


def test_a_wrong_decimal_is_a_wrong_number() -> None:
    q = _q("t-abandon", "168 of 2,400 calls were abandoned. What is the abandonment rate?", [
        ("result", "The abandonment rate is 7%.", ["7%", "seven percent"])])
    wrong = Grader(GLOSSARY, model=False).grade(q, "168 divided by 2400 = 0.7%.").points[0]
    right = Grader(GLOSSARY, model=False).grade(q, "168 divided by 2400 = 7%.").points[0]
    assert not wrong.earned and right.earned, (wrong.explain(), right.explain())


@pytest.mark.parametrize("answer", ["Tell the ICO within three days.", "tell the ico in 3 days",
                                    "Report it to the ICO within seventy-two hours."])
def test_a_number_in_words_is_a_number_never_a_typo(answer: str) -> None:
    # "three" is one slip from "there", a word the question uses: the corrector must leave it
    q = _q("t-breach-risk", "A customer's bank details were emailed to the wrong person. What must happen?", [
        ("ico", "If there is a risk, report it to the ICO within 72 hours of becoming aware.", ["tell the ICO"])])
    assert "ico" in Grader(GLOSSARY, model=False).grade(q, answer).hits


PROCEDURE = _q("t-procedure", "How is a procedure different from a policy?", [
    ("steps", "A procedure gives staff step-by-step instructions for carrying out a task.",
     ["step-by-step instructions"]),
    ("expectations", "Policies are updated when customer expectations change.", []),
    ("check", "Check that the customer has understood.", ["check they understand"]),
])


@pytest.mark.parametrize("answer, point, earned", [
    # spelt as it sounds: the one word the question uses with the same Metaphone key
    ("a procedur is the step by step instrucshuns for a task", "steps", True),
    ("a procedur is the step by step instructions for a task", "steps", True),
    ("wen custmer expectashuns chang", "expectations", True),
    ("chek they understand", "check", True),  # a short word too, where one slip would be too loose
    # a sound-alike needs the same first letter and few changed letters: "extractions" is no "expectations"
    ("wen custmer extractions chang", "expectations", False),
])
def test_phone_spelling_is_read_as_it_sounds(answer: str, point: str, earned: bool) -> None:
    assert (point in Grader(GLOSSARY, model=False).grade(PROCEDURE, answer).hits) is earned


def test_numbers_from_the_prompt_stay_in_accept_phrases() -> None:
    q = _q("t-fcr", "342 of 450 calls were resolved first time. Work out the FCR.", [
        ("method", "Divide the calls resolved first time by all calls.", ["342/450 = 76%"]),
    ])
    g = Grader(GLOSSARY, model=False)
    keys = g.matcher.compiled(q).points[0].accepts[0].keys
    assert {k.quantity for k in keys if k.quantity} >= {"n:342", "n:450"}
    assert g.grade(q, "76%").hits == ()


# --------------------------------------------------------------------------- the learned stage


class _SameCross:
    """A cross-encoder that gives every pair the same logit; records what it was shown."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def logits(self, pairs: list[tuple[str, str]]) -> list[float]:
        self.seen.extend(pairs)
        return [0.0 for _ in pairs]


def _head(p: float, **kw: float) -> Head:
    z = float(np.log(p / (1 - p)))
    n = len(model_mod.FEATURES)
    return Head(tuple(0.0 for _ in range(n)), z, tuple(0.0 for _ in range(n)), tuple(1.0 for _ in range(n)), 1.0, **kw)


def _model(p: float, award: float = 0.9, hint: float = 0.3, doubt: Head | None = None) -> SemanticModel:
    return SemanticModel(_SameCross(), _head(p, award=award, hint=hint), doubt_head=doubt)  # type: ignore[arg-type]


SURE = _model(0.99)


@pytest.mark.parametrize("answer, point, rule", [
    ("You don't need to tell anyone about it, within 72 hours or ever.", "ico", "negation"),
    ("ICO, 72 hours, breach log, customer", "ico", "keyword-list"),
    ("The ICO. 72 hours. The breach log. The customer.", "ico", "keyword-list"),
    ("idk", "ico", "minimum-content"),
])
def test_guards_veto_the_model(answer: str, point: str, rule: str) -> None:
    r = next(r for r in Grader(GLOSSARY, model=SURE).grade(BREACH, answer).points if r.point.id == point)
    assert not r.earned and r.stage == "guard" and r.rule == rule, r.explain()


FORTNIGHT = _q("t-fortnight", "Maya has 14 agents. Each has a 30-minute one-to-one every two weeks, and Maya "
               "spends 15 minutes preparing each. How much of Maya's time a week do one-to-ones take? And what "
               "does a service level of 80/20 mean?", [
    ("maya-5-15", "Maya spends 5 hours 15 minutes a week (14 x 45 minutes every two weeks).",
     ["5 hours 15 minutes"]),
    ("define-80-20", "80/20 means 80% of calls answered within 20 seconds.", ["80% in 20 seconds"]),
])


@pytest.mark.parametrize("answer, point, earned", [
    # the working's figures (45 minutes) stated, the result wrong: no mark, however sure the model is
    ("14 x 45 mins = 630 mins = 10.5 hrs a week for Maya.", "maya-5-15", False),
    ("14 x 45 = 630 minutes a fortnight, so Maya spends 5 hrs 15 mins a week.", "maya-5-15", True),
    # the percentage right and the time wrong: the time is the point's too
    ("80/20 means 80% of calls are answered within 20 minutes.", "define-80-20", False),
    ("80/20 means 80% of calls are answered within 20 secs.", "define-80-20", True),
])
def test_a_wrong_result_is_vetoed_though_its_working_is_right(answer: str, point: str, earned: bool) -> None:
    r = next(r for r in Grader(GLOSSARY, model=SURE).grade(FORTNIGHT, answer).points if r.point.id == point)
    assert r.earned is earned, r.explain()
    if not earned:
        assert (r.stage, r.rule) == ("guard", "wrong-number"), r.explain()


def test_guards_veto_the_model_on_a_swapped_definition() -> None:
    answer = "Occupancy means sticking closely to the plan of when you do things during your shift."
    r = Grader(GLOSSARY, model=SURE).grade(ADHERENCE, answer).points[0]
    assert not r.earned and (r.stage, r.rule) == ("guard", "swapped-definition"), r.explain()


def test_a_sure_model_awards_a_paraphrase_it_may_and_says_so() -> None:
    answer = "The data regulator has to hear about it within three days of us finding out."
    m = Grader(GLOSSARY, model=SURE).grade(BREACH, answer)
    r = m.points[0]
    assert r.earned and r.stage == "model" and r.confidence >= 0.9, r.explain()


def test_a_probably_below_the_threshold_is_a_hint_never_a_mark() -> None:
    answer = "The data regulator has to hear about it within three days of us finding out."
    m = Grader(GLOSSARY, model=_model(0.6)).grade(BREACH, answer)
    r = m.points[0]
    assert not r.earned and r.maybe and r.stage == "model"
    assert "ico" not in m.hits and "ico" in [p.id for p in m.maybe_points]
    assert m.needs_review and m.score == 0.0
    assert m.to_dict()["points"][0]["maybe"] is True


def test_the_model_never_reads_what_a_guard_refused() -> None:
    model = _model(0.99)
    answer = "ICO, 72 hours, breach log, customer. The data regulator has to hear about it within three days."
    Grader(GLOSSARY, model=model).grade(BREACH, answer)
    shown = {b for _, b in model.cross.seen}  # type: ignore[attr-defined]
    assert shown and all("breach log" not in b for b in shown), shown


def test_a_doubted_lexical_mark_is_a_hint_not_a_mark() -> None:
    doubting = _model(0.1, doubt=_head(0.2, doubt=0.5))
    m = Grader(GLOSSARY, model=doubting).grade(BREACH, "Tell the ICO within 72 hours of finding it.")
    r = next(r for r in m.points if r.point.id == "ico")
    assert not r.earned and r.maybe and r.stage == "model" and r.rule.startswith("doubts"), r.explain()
    assert "ico" not in m.hits and m.needs_review
    trusting = _model(0.1, doubt=_head(0.8, doubt=0.5))
    assert "ico" in Grader(GLOSSARY, model=trusting).grade(BREACH, "Tell the ICO within 72 hours of finding it.").hits


class _PerPointCross(_SameCross):
    """A cross-encoder whose logit depends only on the marking point it is asked about."""

    def __init__(self, logit: dict[str, float]) -> None:
        super().__init__()
        self.logit = logit

    def logits(self, pairs: list[tuple[str, str]]) -> list[float]:
        self.seen.extend(pairs)
        return [next((z for start, z in self.logit.items() if a.startswith(start)), -4.0) for a, _ in pairs]


def test_a_lexical_mark_in_an_answer_where_the_model_finds_no_point_at_all_is_doubted() -> None:
    # a doubt head on the best logit among the answer's points alone (FEATURES' last)
    n = len(model_mod.FEATURES)
    on_best = Head(tuple(0.0 for _ in range(n - 1)) + (1.0,), 0.0, tuple(0.0 for _ in range(n)),
                   tuple(1.0 for _ in range(n)), 1.0, doubt=0.5)
    answer = "Tell the ICO within 72 hours of finding it. Then write down what happened."
    for log_logit, kept in ((4.0, True), (-4.0, False)):
        cross = _PerPointCross({"Record the breach": log_logit})
        model = SemanticModel(cross, _head(0.1, award=0.9, hint=0.3), doubt_head=on_best)  # type: ignore[arg-type]
        m = Grader(GLOSSARY, model=model).grade(BREACH, answer)
        assert ("ico" in m.hits) is kept, [r.explain() for r in m.points]
        assert "log" not in m.hits
    # the earned point is read even when no mark is doubted: its logit is every point's feature too
    cross, lexical = _PerPointCross({}), Grader(GLOSSARY, model=False)
    reading = lexical.matcher.read(lexical.matcher.compiled(BREACH), answer)
    SemanticModel(cross, _head(0.1, award=0.9, hint=0.3)).decide(  # type: ignore[arg-type]
        reading, [1], {0: lexical.grade(BREACH, answer).points[0]})
    assert {a.split(" ")[0] for a, _ in cross.seen} == {"Report", "Record"}


def test_below_the_hint_threshold_is_neither() -> None:
    m = Grader(GLOSSARY, model=_model(0.1)).grade(BREACH, "The data regulator hears about it in three days.")
    assert not m.points[0].earned and not m.points[0].maybe


def test_without_onnxruntime_the_grader_falls_back_to_the_lexical_path(monkeypatch: pytest.MonkeyPatch,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(model_mod, "_DEFAULT", [])
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    monkeypatch.delenv("GRADER_MODEL", raising=False)
    with caplog.at_level(logging.WARNING):
        g = Grader(GLOSSARY)
    assert g.model is None and "lexical stage only" in caplog.text
    assert g.grade(BREACH, BREACH.model_answer).hits == ("ico", "log")


def test_grader_model_off(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(model_mod, "_DEFAULT", [])
    monkeypatch.setenv("GRADER_MODEL", "off")
    with caplog.at_level(logging.WARNING):
        assert Grader(GLOSSARY).model is None
    assert "GRADER_MODEL=off" in caplog.text


def test_the_committed_model_loads_and_grades_when_onnxruntime_is_installed() -> None:
    pytest.importorskip("onnxruntime")
    m = model_mod.load()
    g = Grader(GLOSSARY, model=m)
    assert g.grade(BREACH, BREACH.model_answer).hits == ("ico", "log")
    assert g.grade(BREACH, BREACH.prompt).hits == ()


def test_a_pairs_logit_does_not_depend_on_what_is_scored_with_it() -> None:
    pytest.importorskip("onnxruntime")
    pairs = [("Report it to the ICO within 72 hours of becoming aware.", "tell the ico in 3 days"),
             ("Record the breach in the breach log.", "I would write it up in the log and tell my team leader "
                                                     "straight away, then call the customer back"),
             ("Schedule adherence measures how closely an agent follows their schedule.", "sticking to your rota")]
    alone = [model_mod.load().cross.logits([p])[0] for p in pairs]  # a fresh model each time: no cache
    together = model_mod.load().cross.logits(pairs)
    assert together == alone  # the same logit whatever shares the run: every replica grades alike


# --------------------------------------------------------------------------- decisions and the CLI


def test_every_point_names_its_stage_rule_and_confidence() -> None:
    m = Grader(GLOSSARY, model=_model(0.6)).grade(ADHERENCE, "Adherence is keeping to their schedule. Occupancy: no idea.")
    for r in m.points:
        assert r.stage in ("lexical", "model", "guard", "none") and r.rule and 0.0 <= r.confidence <= 1.0
        assert r.point.id in r.explain()


def test_module_grade_reuses_one_grader() -> None:
    grade(BREACH, "tell the ICO within 72 hours", GLOSSARY)
    g = decide._SHARED[(id(GLOSSARY),)]
    grade(ADHERENCE, "anything", GLOSSARY)
    assert decide._SHARED[(id(GLOSSARY),)] is g


def test_grade_cli_explain_names_a_stage_for_every_point(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.__main__ import main

    monkeypatch.setenv("GRADER_MODEL", "off")
    monkeypatch.setattr(model_mod, "_DEFAULT", [])
    answers = tmp_path / "a.jsonl"
    answers.write_text("\n".join(json.dumps(r) for r in [
        {"id": "a1", "question": "kpi-csat-vs-nps", "answer": "NPS: would recommend us"},
        {"id": "a2", "question": "kpi-csat-vs-nps", "answer": "idk"},
        {"id": "a3", "question": "kpi-csat-vs-nps", "answer": "CSAT. NPS. Survey. Promoters. Detractors."},
    ]) + "\n")
    assert main(["grade", "--content", str(ROOT / "content"), "--answers", str(answers), "--explain"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in rows] == ["a1", "a2", "a3"]
    assert rows[0]["advice"] == "" and "list of terms" in rows[2]["advice"]
    for r in rows:
        assert {"hits", "score", "maybe", "explain", "advice"} <= set(r)
        assert all(e["stage"] in ("lexical", "model", "guard", "none") and e["rule"] for e in r["explain"])
    assert main(["grade", "--content", str(ROOT / "content"), "--answers", str(answers)]) == 0
    plain = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert set(plain[0]) == {"id", "question", "hits", "score"}


def test_a_long_answer_is_read_in_bounded_windows_keeping_the_point_like_ones() -> None:
    filler = ["We had a busy Monday and the coffee machine broke again, so everyone was tired."] * 40
    texts = filler[:20] + ["Report it to the ICO within 72 hours."] + filler[20:]
    weight = [0.0] * 20 + [1.0] + [0.0] * 20
    windows = model_mod._windows(texts, weight)
    assert len(windows) == model_mod._MAX_WINDOWS
    assert all(len(w) <= model_mod._WINDOW_CHARS for w in windows)
    assert any("ICO within 72 hours" in w for w in windows)
    assert model_mod._windows(["One sentence.", "Two sentences."]) == ["One sentence. Two sentences."]


def test_a_manifest_fitted_for_other_features_is_refused_and_grading_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("onnxruntime")
    manifest = json.loads((model_mod.DATA_DIR / "manifest.json").read_text())
    for key in ("head", "doubt_head"):
        for field in ("weights", "mean", "scale"):
            manifest[key][field] = manifest[key][field][:3]  # the last stop's three features
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    for name in ("cross.int8.onnx", "tokenizer.json"):
        (tmp_path / name).symlink_to(model_mod.DATA_DIR / name)
    with pytest.raises(ValueError, match="run tools/train_grader.py"):
        model_mod.load(tmp_path)
    monkeypatch.delenv("GRADER_MODEL", raising=False)
    monkeypatch.setattr(model_mod, "_DEFAULT", [])
    monkeypatch.setattr(model_mod.load, "__defaults__", (tmp_path,))
    with caplog.at_level(logging.WARNING):
        assert model_mod.load_default() is None
    assert "run tools/train_grader.py" in caplog.text
    assert Grader(GLOSSARY, model=model_mod.load_default()).grade(BREACH, "Tell the ICO within 72 hours.").hits


def test_a_model_scored_with_another_onnxruntime_release_says_so_at_start_up(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("onnxruntime")
    manifest = json.loads((model_mod.DATA_DIR / "manifest.json").read_text())
    for name in ("cross.int8.onnx", "tokenizer.json"):
        (tmp_path / name).symlink_to(model_mod.DATA_DIR / name)
    for version, warned in (("0.9.1", True), ("", False)):
        manifest["cross_encoder"]["onnxruntime"] = version
        (tmp_path / "manifest.json").write_text(json.dumps(manifest))
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            model = model_mod.load(tmp_path)
        assert ("onnxruntime 0.9.1, this is " + model.cross.runtime_version in caplog.text) is warned
    manifest["cross_encoder"]["onnxruntime"] = model.cross.runtime_version
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        model_mod.load(tmp_path)
    assert "onnxruntime" not in caplog.text


def test_warm_works_out_the_guards_facts_before_the_first_answer() -> None:
    g = Grader(GLOSSARY, model=False)
    assert g.warm([ADHERENCE, CSAT_NPS]) == 2
    cached = g.matcher.__dict__.get("_guard_facts", {})
    assert {qid for qid, _ in cached} == {"t-adh-occ", "t-csat-nps"}


@pytest.mark.parametrize("question, answer, advice", [
    (BREACH, "ICO, 72 hours, breach log, GDPR, fine.", "list of terms"),
    (NAME_THREE, "Health, life events, resilience, capability, age, GDPR.", "You listed 6 things and the question asks for 3"),
    (NAME_THREE, "Health, life events, resilience.", ""),  # a list is the answer here
    (BREACH, "Report it to the ICO within 72 hours.", ""),
])
def test_a_list_that_earns_nothing_says_why(question: Question, answer: str, advice: str) -> None:
    m = Grader(GLOSSARY, model=False).grade(question, answer)
    assert (advice in m.advice) if advice else m.advice == ""

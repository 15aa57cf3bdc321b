"""General English text handling for the grader: normalisation, tokens, stems, a small lexicon.

Nothing here knows about any particular question: question-specific wording lives in the
content (`accept` lists, the glossary). What lives here is general English:

- `normalise(text)`: lower case, symbols and text-speak spelt out, contractions expanded,
  British spellings mapped to one form (colour/color, organise/organize, centre/center);
- `stem(word)`: a light suffix stripper, so escalate / escalated / escalation agree;
- number words and quantities: "one month" = "1 month" = "a month", "eighty per cent" =
  "80%", "four out of five" = "80%", "20 secs" = "20 seconds";
- `LEXICON`: small groups of everyday synonyms (ring/call/phone, fix/resolve/sort), and
  words that carry their own negation (unhappy = not happy, free = no charge);
- stop words, negation cues and the closed-class words that give a sentence structure.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from collections.abc import Callable
from functools import lru_cache

__all__ = [
    "Token",
    "normalise",
    "stem",
    "split_sentences",
    "tokenize",
    "STOPWORDS",
    "NEGATIONS",
    "STRUCTURE_WORDS",
    "LEXICON",
    "OPPOSITES",
    "concepts_of",
    "lowered",
]

# --------------------------------------------------------------------------- normalising

_SYMBOLS = [
    (re.compile(r"[\u2018\u2019\u201b\u2032`´]"), "'"),
    (re.compile(r"[\u201c\u201d\u201e\u2033]"), '"'),
    (re.compile(r"\s[\u2013\u2014]+\s|\s-+\s|\u2014"), " , "),  # a dash between words: a pause, like a comma
    (re.compile(r"[\u2013\u2014\u2212]"), " - "),
    (re.compile(r"->|=>|\u2192|\u27f6|\u21d2"), " leads to "),
    (re.compile(r"\u2260|!="), " is not "),
    (re.compile(r"\u2191"), " higher "),
    (re.compile(r"\u2193"), " lower "),
    (re.compile(r"\u00f7"), " divided by "),
    (re.compile(r"\u00d7"), " times "),
    (re.compile(r"(?<=\d)\s*%|%"), " percent "),
    (re.compile(r"&"), " and "),
    (re.compile(r"\+"), " and "),
    (re.compile(r"(?<![<>!=])=(?!=)"), " is "),
    (re.compile(r"\be\.g\.?(?=\s|$)|\beg\b|\bfor example\b|\bfor instance\b|\bsuch as\b"), " like "),
    (re.compile(r"\bi\.e\.?(?=\s|$)|\bie\b"), " that is "),
    (re.compile(r"\bw/in\b"), " within "),
    (re.compile(r"\bw/o\b"), " without "),
    (re.compile(r"\bw/(?=\s|[a-z])"), " with "),
    (re.compile(r"\bb/c\b"), " because "),
    (re.compile(r"\bper\s+cent\b|\bpct\b"), " percent "),
]

# Contractions and their apostrophe-less spellings (learners type fast on phones).
_NEG_CONTRACTIONS = {
    "don't": "do not", "dont": "do not", "doesn't": "does not", "doesnt": "does not",
    "didn't": "did not", "didnt": "did not", "isn't": "is not", "isnt": "is not",
    "aren't": "are not", "arent": "are not", "wasn't": "was not", "wasnt": "was not",
    "weren't": "were not", "werent": "were not", "can't": "can not", "cant": "can not",
    "cannot": "can not", "couldn't": "could not", "couldnt": "could not",
    "won't": "will not", "wont": "will not", "wouldn't": "would not", "wouldnt": "would not",
    "shouldn't": "should not", "shouldnt": "should not", "mustn't": "must not",
    "mustnt": "must not", "haven't": "have not", "havent": "have not", "hasn't": "has not",
    "hasnt": "has not", "arnt": "are not", "isnt'": "is not", "hadn't": "had not", "hadnt": "had not", "needn't": "need not",
    "neednt": "need not", "ain't": "is not", "aint": "is not", "shant": "shall not",
}

# Text-speak and everyday abbreviations of general English (not domain terms: those are
# in the glossary).
_TEXTSPEAK = {
    "u": "you", "ur": "your", "n": "and", "ppl": "people", "b4": "before",
    "bc": "because", "bcos": "because", "coz": "because", "cos": "because", "cuz": "because",
    "tho": "though", "thru": "through", "shud": "should", "shd": "should", "wud": "would",
    "cud": "could", "wen": "when", "wot": "what", "wat": "what", "dat": "that", "da": "the",
    "dis": "this", "gonna": "going to", "wanna": "want to", "gotta": "have to",
    "1st": "first", "2nd": "second", "3rd": "third", "4th": "fourth", "5th": "fifth",
    "fwd": "forward", "thx": "thanks", "pls": "please", "plz": "please", "asap": "quickly",
    "info": "information", "incl": "including", "esp": "especially", "approx": "about",
    "msg": "message", "mgr": "manager", "mngr": "manager", "dept": "department",
    "cust": "customer", "custs": "customers", "emp": "employee", "govt": "government",
    "yr": "year", "yrs": "years", "hr": "hour", "hrs": "hours", "min": "minute",
    "mins": "minutes", "sec": "second", "secs": "seconds", "wk": "week", "wks": "weeks",
    "mth": "month", "mths": "months", "mo": "month", "mos": "months", "ok": "okay",
    "w": "with", "re": "about", "v": "very", "vs": "versus", "thn": "then",
    "abt": "about", "bout": "about", "tmrw": "tomorrow", "2day": "today", "2moro": "tomorrow",
    "gr8": "great", "l8r": "later", "ya": "you", "yeah": "yes", "nah": "no", "nope": "no",
    "whilst": "while", "amongst": "among", "towards": "toward",
}

# Dotted abbreviations ("e.g.", "i.e.", "F.C.R.", "K.P.I.s"): their dots end no sentence.
_DOTTED = re.compile(r"(?<![^\W\d_])[A-Za-z](?:\.[A-Za-z](?![^\W\d_]))+\.?(?:(?<=\.)s\b)?")
_CONTRACTION_TAILS = re.compile(r"(?<=[a-z])'(s|re|ve|ll|d|m)\b")
_WORD = re.compile(r"\d+(?:[.,]\d+)?/\d+(?:[.,]\d+)?|\d+(?:\.\d+)?|[a-z]+(?:'[a-z]+)?|[,:()\-]")
_DIGIT_SUFFIX = re.compile(r"\b(\d+(?:\.\d+)?)([a-z]+)\b")


# Memoised pure functions of one word (no state, same answer every call): bounded, so a
# stream of unseen words costs at most ~65k entries each; shared by every Grader safely.
@lru_cache(maxsize=65536)
def _uk_us(word: str) -> str:
    """Map British and American spellings of one word to a single form (consistently)."""
    if len(word) < 5:
        return word
    w = word
    w = re.sub(r"isation(s?)$", r"ization\1", w)
    w = re.sub(r"is(e|es|ed|ing|er|ers)$", r"iz\1", w) if len(w) > 6 else w
    w = re.sub(r"ys(e|es|ed|ing|is)$", r"yz\1", w)
    w = re.sub(r"^(.{3,})our(s|ed|ing|ite|ites|able|er|ers|ful|ism)?$", r"\1or\2", w)
    w = re.sub(r"^(.{2,}[^aeiou])(t|b)re(s|d)?$", r"\1\2er\3", w)  # centre, fibre
    w = re.sub(r"^(.{3,})ell(ed|ing|er|ers)$", r"\1el\2", w)      # cancelled, travelling
    w = re.sub(r"^(.{3,})ogue(s?)$", r"\1og\2", w)                # catalogue, dialogue
    w = re.sub(r"mme(s?)$", r"m\1", w)                               # programme
    w = re.sub(r"ence(s?)$", r"ense\1", w) if w.endswith(("licence", "licences", "defence", "offence", "offences", "pretence")) else w
    w = re.sub(r"gement(s?)$", r"gment\1", w)                      # judgement
    w = w.replace("enquir", "inquir")
    return w


def normalise(text: str) -> str:
    """Lower-case, spell out symbols and text-speak, expand contractions, unify spelling."""
    t = unicodedata.normalize("NFKC", text)
    if "." in t:
        t = _DOTTED.sub(lambda m: m.group(0).replace(".", ""), t)  # "F.C.R." -> "FCR"
    t = t.lower()
    for pattern, repl in _SYMBOLS:
        t = pattern.sub(repl, t)
    t = _DIGIT_SUFFIX.sub(lambda m: m.group(1) + " " + m.group(2) if m.group(2) not in ("st", "nd", "rd", "th") else m.group(0), t)
    words = re.findall(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]", t)
    out: list[str] = []
    for w in words:
        if w in _NEG_CONTRACTIONS:
            out.append(_NEG_CONTRACTIONS[w])
            continue
        if w.endswith("n't"):
            out.append(w[:-3] + " not")
            continue
        if "'" in w:
            w = _CONTRACTION_TAILS.sub("", w)
        w = _TEXTSPEAK.get(w, w)
        out.append(_uk_us(w) if w.isalpha() else w)
    return " ".join(out)


# --------------------------------------------------------------------------- stemming

_SUFFIXES = (
    "izations", "ization", "ational", "fulness", "iveness", "lessness",
    "ations", "ation", "itions", "ition", "utions", "ution", "ements", "ement", "ments", "ment",
    "nesses", "ness", "ables", "able", "ibles", "ible", "ators", "ator", "izers", "izer",
    "izing", "ized", "izes", "ize", "ities", "ity", "ively", "ive", "ists", "ist",
    "ances", "ance", "ences", "ence", "ants", "ant", "ents", "ent", "ical", "ial", "al",
    "ful", "ous", "ic", "ers", "er", "ors", "or", "ates", "ated", "ating", "ate",
)
_VOWELS = set("aeiouy")


@lru_cache(maxsize=65536)  # pure: see _uk_us
def stem(word: str) -> str:
    """A light stemmer: inflections, then one derivational suffix; consistent, not pretty."""
    w = word
    if len(w) <= 3 or not w.isalpha():
        return w
    # comparatives of -y adjectives: happier / happiest -> happy
    if w.endswith(("ier", "iest")) and len(w) > 5 and w not in ("cashier", "premier", "frontier", "barrier", "carrier"):
        w = w[: -3 if w.endswith("ier") else -4] + "y"
    # inflections
    if w.endswith("sses"):
        w = w[:-2]
    elif w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")) and len(w) > 3:
        w = w[:-1]
    for suf in ("ingly", "edly", "ing", "ed", "ly"):
        if w.endswith(suf) and len(w) - len(suf) >= 3 and _VOWELS & set(w[: -len(suf)]):
            if suf == "ly" and w.endswith("ply"):
                break
            w = w[: -len(suf)]
            if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "lsz" and w[-1] not in _VOWELS:
                w = w[:-1]
            elif suf != "ly" and w.endswith(("at", "bl", "iz")):
                w += "e"
            break
    if w.endswith("i") and len(w) > 3:
        w = w[:-1] + "y"
    # lution -> lv (resolution/resolve, solution/solve)
    if w.endswith(("lution", "lutions")):
        return w[: w.rfind("lution")] + "lv"
    for suf, repl in (("fication", "f"), ("faction", "f"), ("fications", "f")):
        if w.endswith(suf):
            return w[: -len(suf)] + repl
    for suf in _SUFFIXES:
        if w.endswith(suf) and len(w) - len(suf) >= 4:
            w = w[: -len(suf)]
            break
    if w.endswith("y") and len(w) > 4:
        w = w[:-1]
    if w.endswith("e") and len(w) >= 4:
        w = w[:-1]
    return w


# --------------------------------------------------------------------------- words

STOPWORDS = frozenset("""
a an the and or but if then so than that this these those there here of to in on at by for
from with within into onto over under about as is are was were be been being am do does did
doing done have has had having it its it's they them their theirs he him his she her hers we
us our ours you your yours i me my mine who whom whose which what when where why how
all any each both either neither some such own same other another more most much many
can could shall should will would may might must need needs needed ought also just only
very really quite too even still yet ever already again always often usually normally
e eg ie etc like get gets got getting go goes going went make makes made making
one's oneself themselves itself myself yourself ourselves something anything everything
nothing someone anyone way ways thing things lot lots bit well okay yes
""".split()) - {"all", "more", "again", "always", "need", "way", "other", "only"}

NEGATIONS = frozenset({"not", "no", "never", "without", "none", "nobody", "nothing",
                       "nor", "neither", "cannot", "hardly", "rarely"})

# Words that end a negation's scope.
_SCOPE_BREAKS = frozenset({"but", "because", "so", "which", "although", "though", "while",
                           "whereas", "however", "than", "and", "then", "otherwise", "unless",
                           "as", "since", "if", "when", "where", "who", "that"})

# Closed-class words and common verbs: a sentence with none of them is a list of terms.
STRUCTURE_WORDS = frozenset("""
is are was were be been being am do does did have has had can could shall should will would
may might must need needs to of in on at by for from with within into about as if then so
because when where which who that the a an this these those it they them their he she we
you your our my i not no never without means mean meaning leads lead stops stop helps help
makes make gets get give gives keep keeps let lets take takes like
also then just actually really only always often usually still too
alongside over under before after between through throughout against during until unless
than while but although though whereas instead rather toward across via without besides
""".split())

# --------------------------------------------------------------------------- lexicon

# Each group: everyday words that mean the same here. Written as plain words; they are
# normalised and stemmed like any text. A word prefixed with "!" means the negation of
# the group (unhappy = not happy).
_GROUPS: tuple[tuple[str, ...], ...] = (
    ("call", "ring", "phone", "telephone", "dial", "rang", "rung", "give a ring", "give a call",
     "get in touch", "get on the phone", "pick up the phone"),
    ("happy", "satisfied", "satisfy", "satisfaction", "pleased", "glad", "delighted", "content",
     "!unhappy", "!dissatisfied", "!dissatisfaction", "!annoyed", "!frustrated", "!upset",
     "!angry", "!displeased", "!unsatisfied", "!irritated", "!fed", "!fed up", "!disappointed",
     "!unimpressed", "!cross", "!furious", "!miffed", "!disgruntled", "!grumpy", "!moan",
     "!mad", "!livid", "!fuming", "!irate", "!aggrieved", "!exasperated", "!dismayed", "!unhappier",
     "!upsetting", "!annoying", "!frustrating", "!infuriated", "!displeasure", "!frustration",
     "!irritation", "!anger", "!resentful", "happier", "happiness", "contented", "gratified",
     "cheerful", "chuffed", "thrilled", "appreciative", "loyal"),
    ("fix", "resolve", "solve", "sort", "sorted", "resolution", "solution", "deal with", "dealt with",
     "remedy", "rectify", "repair", "work out", "iron out", "take care of", "fixed",
     "sort out", "put right", "clear up", "settle", "get to the bottom of", "answered properly",
     "!unresolved", "!unsolved", "!unfixed", "!outstanding"),
    ("rush", "hurry", "hurried", "rushed", "hasten", "pressure", "race through", "cut short", "push through", "speed through",
     "in a hurry", "hurry up", "hurry along", "rush through", "get off the phone",
     "cut off early", "bundle off", "hustle"),
    ("quick", "fast", "speed", "rapid", "swift", "quickly", "prompt", "short", "efficient", "efficiency",
     "speedy", "speedily", "rapidly", "swiftly", "brisk", "snappy", "fastest", "quickest", "shortest"),
    ("slow", "long", "lengthy", "delay", "drawn out", "dragged out", "longer", "slower"),
    ("lower", "reduce", "decrease", "drop", "fall", "cut", "less", "fewer", "down", "decline",
     "go down", "goes down", "went down", "dip", "slump", "plummet", "sink", "lessen", "diminish",
     "cut down", "bring down", "knock down", "fell", "dropped",
     "worsen", "worse", "hurt", "damage", "harm", "shrink", "minimise", "low"),
    ("increase", "raise", "rise", "higher", "more", "boost", "up", "grow", "high", "maximise",
     "go up", "goes up", "went up", "climb", "soar", "spike", "rose", "extra",
     "additional"),
    ("improve", "better", "enhance", "boost", "raise the standard", "lift"),
    ("customer", "client", "caller", "consumer", "member of the public", "service user"),
    ("agent", "advisor", "adviser", "staff", "employee", "colleague", "operator", "representative",
     "team member", "call handler", "handler", "frontline staff", "workforce", "personnel",
     "rep", "worker", "people"),
    ("manager", "supervisor", "boss", "team leader", "line manager", "senior", "superior",
     "team lead", "management", "manager's", "higher up", "someone senior", "more senior"),
    ("issue", "problem", "query", "inquiry", "matter", "fault", "concern", "complaint",
     "difficulty", "glitch"),
    ("again", "repeat", "repeated", "return", "twice", "second time", "back", "ring back",
     "call back", "callback", "phone back", "come back", "get back in touch", "chase", "follow up",
     "another call", "another contact"),
    ("record", "log", "document", "note", "write", "notes", "capture", "detail", "details",
     "write down", "jot", "case history", "history", "audit trail", "paper trail", "add to"),
    ("inform", "update", "tell", "notify", "advise", "let know", "keep posted", "explain",
     "let the customer know", "keep informed", "keep updated", "fill in",
     "give an update", "updates", "informed", "updated",
     "communicate", "contact", "keep in the loop", "in the loop", "keep up to date", "expectation",
     "expectations", "reassure", "what happens next", "next steps"),
    ("follow", "adhere", "comply", "stick", "obey", "observe"),
    ("procedure", "process", "policy", "protocol", "rules", "guidelines", "steps"),
    ("pause", "stop", "halt", "suspend", "switch off", "turn off", "interrupt", "cut off",
     "freeze", "put on hold", "block"),
    ("resume", "restart", "continue", "switch on", "turn on", "start again", "unpause", "reactivate",
     "switch back on", "turn back on", "start back up", "back on", "pick up again", "carry on"),
    ("mask", "hide", "conceal", "redact", "blank", "obscure", "mute"),
    ("everyone", "everybody", "all", "whole", "every", "entire", "each", "anyone", "no matter"),
    ("everyone", "everybody", "all staff", "all team members", "whole team", "all agents",
     "every agent", "all employees", "all colleagues", "every member", "the whole workforce"),
    ("seen as", "viewed as", "regarded as", "perceived as", "feel like", "feels like", "felt like",
     "come across as", "considered", "thought of as", "treated as"),
    ("build on", "reinforce", "strengthen", "consolidate", "capitalize on", "make the most of"),
    ("strength", "strong", "good at", "talent"),
    ("develop", "development", "grow", "growth", "progress", "progression", "advance",
     "learn", "improve", "stretch", "upskill", "career", "move up", "promotion"),
    ("skill", "ability", "competence", "capability", "know how", "expertise"),
    ("punish", "punishment", "penalty", "discipline", "disciplinary", "sanction", "telling off",
     "told off", "penalize", "reprimand", "dressing down", "naming and shaming",
     "trouble", "blame", "stigma", "stigmatize"),
    ("motivate", "motivation", "motivated", "drive", "inspire", "encourage", "engage",
     "engagement", "morale", "!demotivate", "!demotivating", "!demotivated", "spur", "energize",
     "enthuse", "keen", "eager", "!disengage", "!disengaged"),
    ("pay", "wage", "wages", "salary", "earnings", "money", "bonus", "remuneration"),
    ("fee", "charge", "cost", "price", "pay", "payment", "expense", "!free", "money", "spend",
     "expensive", "costly"),
    ("save", "saving", "cheaper", "cost-effective", "save money", "cost less", "cut costs",
     "lower costs", "reduce costs", "less expensive", "cost saving"),
    ("answer", "pick up", "respond", "reply", "take", "response", "handle"),
    ("hang up", "give up", "abandon", "put the phone down", "drop off", "ring off", "quit",
     "leave the queue", "put down the phone", "hung up", "gave up", "drop out", "walk away"),
    ("wait", "queue", "hold", "waiting"),
    ("percent", "percentage", "proportion", "share", "rate", "ratio", "fraction"),
    ("quality", "standard", "properly", "proper", "thorough", "thoroughly", "well done", "good job"),
    ("balance", "trade off", "compromise", "equilibrium", "alongside", "as well as", "both",
     "at the same time", "just as important", "equally", "middle ground", "happy medium",
     "right level", "not at the expense of", "weigh up", "in step with", "hand in hand"),
    ("achieve", "reach", "hit", "meet", "attain", "accomplish", "realistic", "possible",
     "feasible", "doable", "achievable", "attainable"),
    ("measure", "track", "monitor", "quantify", "number", "metric", "count", "figure"),
    ("deadline", "timescale", "timeframe", "time limit", "date", "end date", "due"),
    ("clear", "precise", "exact", "exactly", "specific", "defined", "well defined", "detailed"),
    ("link", "relevant", "relate", "related", "connect", "align", "fit", "tie", "tied", "matter"),
    ("goal", "aim", "objective", "target", "want"),
    ("current", "present", "now", "existing", "currently", "at the moment", "today"),
    ("situation", "position", "state", "circumstance", "where they are"),
    ("option", "possibility", "choice", "alternative", "idea"),
    ("commit", "agree", "promise", "pledge", "decide", "commitment"),
    ("action", "step", "task", "plan"),
    ("coach", "mentor", "train", "training"),
    ("high", "top", "best", "strong", "star", "good", "great", "excellent", "high performing",
     "high performer", "top performer", "outstanding", "talented", "experienced"),
    ("poor", "weak", "struggling", "bad", "low", "underperforming", "underperformer",
     "behind", "failing", "mistake", "missing targets", "below target"),
    ("help", "support", "assist", "aid"),
    ("data", "information", "detail", "details", "record", "records"),
    ("request", "ask", "demand", "application"),
    ("prevent", "stop", "avoid", "remove", "eliminate", "reduce"),
    ("cause", "lead", "result", "create", "produce", "generate", "bring", "trigger", "mean"),
    ("praise", "recognition", "recognize", "credit", "thank", "reward", "acknowledge", "appreciation",
     "pat on the back", "well done", "shout out", "commend", "compliment", "celebrate", "appreciate"),
    ("responsibility", "responsible", "trust", "trusted", "ownership", "accountability"),
    ("condition", "environment", "conditions", "surroundings", "workplace", "office", "desk", "heating", "noise", "canteen", "facilities"),
    ("equipment", "kit", "tools", "headset", "hardware", "computer", "pc", "laptop", "chair",
     "desk"),
    ("require", "required", "requirement", "mandatory", "compulsory", "must", "obligation"),
    ("allow", "permit", "let", "entitled", "right"),
    ("store", "keep", "retain", "hold", "save"),
    ("card", "credit card", "debit card", "payment card"),
    ("first", "initial", "straight away", "immediately", "1"),
    ("before", "prior", "ahead", "beforehand", "in advance", "first"),
    ("time", "period", "duration", "length"),
    ("volume", "workload", "demand", "amount", "traffic", "footfall",
     "number of calls", "call numbers"),
    ("check", "verify", "confirm", "validate", "double check", "make sure", "double-check",
     "checked", "verification", "confirmation"),
    ("complain", "complaint", "grievance"),
    ("legal", "law", "legislation", "regulation", "statutory", "act"),
    ("breach", "break", "violate", "infringe", "violation", "infringement"),
    ("security", "secure", "safe", "protect", "protection", "safeguard"),
    ("listen", "hear", "attentive"),
    ("empathy", "empathize", "understand", "sympathize"),
    ("apologize", "apology", "sorry"),
    ("escalate", "escalation", "refer", "pass on", "hand over", "transfer", "pass up"),
    ("authority", "power", "remit", "allowed", "permission", "limit"),
    ("personal", "private", "own"),
    ("free", "free of charge", "no charge", "no cost", "complimentary"),
    # groups below mostly exist as the opposite of a group above (see _OPPOSITE_PAIRS)
    ("continue", "carry on", "keep going", "keep on", "leave on", "leave running", "keep running",
     "as normal", "throughout", "the whole call", "the entire call", "all the way through"),
    ("after", "afterwards", "afterward", "later", "once done", "once finished", "when done",
     "when finished", "back on"),
    ("reveal", "show", "expose", "disclose", "display", "share"),
    ("delete", "destroy", "erase", "discard", "wipe", "bin", "dispose"),
    ("public", "publicly", "in public", "in front of", "openly", "on the floor"),
    ("forbid", "ban", "prohibit", "outlaw", "disallow"),
    ("worsen", "worse", "deteriorate", "suffer", "decline", "damage", "hurt", "harm", "undermine"),
    ("make money", "earn", "profit", "revenue", "income"),
    ("ignore", "neglect", "overlook", "disregard", "skip"),
)

# Pairs of groups (by their first word) whose words say opposite things: "keep recording"
# against "pause the recording", "higher" against "lower". Used to spot a sentence that
# states the contrary of a marking point.
_OPPOSITE_PAIRS: tuple[tuple[str, str], ...] = (
    ("pause", "continue"), ("pause", "resume"), ("lower", "increase"), ("improve", "worsen"),
    ("quick", "slow"), ("mask", "reveal"), ("store", "delete"), ("before", "after"),
    ("personal", "public"), ("allow", "forbid"), ("high", "poor"), ("praise", "punish"),
    ("free", "fee"), ("save", "fee"), ("save", "make money"), ("follow", "ignore"),
    ("record", "ignore"), ("inform", "ignore"), ("escalate", "ignore"),
)


def _build_lexicon() -> dict[tuple[str, ...], tuple[tuple[int, bool], ...]]:
    lex: dict[tuple[str, ...], list[tuple[int, bool]]] = {}
    for gid, group in enumerate(_GROUPS):
        for phrase in group:
            neg = phrase.startswith("!")
            words = tuple(stem(w) for w in normalise(phrase.lstrip("!")).split())
            lex.setdefault(words, [])
            if (gid, neg) not in lex[words]:
                lex[words].append((gid, neg))
    return {k: tuple(v) for k, v in lex.items()}


LEXICON: dict[tuple[str, ...], tuple[tuple[int, bool], ...]] = _build_lexicon()


def _build_opposites() -> dict[int, frozenset[int]]:
    firsts: dict[str, list[int]] = {}
    for gid, group in enumerate(_GROUPS):
        firsts.setdefault(group[0], []).append(gid)
    out: dict[int, set[int]] = {}
    for a, b in _OPPOSITE_PAIRS:
        for ga in firsts[a]:
            for gb in firsts[b]:
                out.setdefault(ga, set()).add(gb)
                out.setdefault(gb, set()).add(ga)
    return {k: frozenset(v) for k, v in out.items()}


# lexicon group id -> ids of the groups that say the opposite
OPPOSITES: dict[int, frozenset[int]] = _build_opposites()
# "keep doing X" / "kept recording": a verb of continuing (the group of "continue")
_CONTINUE = next(g for g, grp in enumerate(_GROUPS) if grp[0] == "continue")
_KEEP = frozenset({"keep", "kept"})
# "do it first" is "do it before"; "first time", "first contact" is an ordinal, not "before"
_BEFORE = next(g for g, grp in enumerate(_GROUPS) if grp[0] == "before")
# multi-word lexicon phrases by their first stem, longest first
_LEX_PHRASES: dict[str, tuple[tuple[str, ...], ...]] = {}
for _k in sorted((k for k in LEXICON if len(k) > 1), key=len, reverse=True):
    _LEX_PHRASES[_k[0]] = _LEX_PHRASES.get(_k[0], ()) + (_k,)


def concepts_of(stems: tuple[str, ...]) -> tuple[tuple[int, bool], ...]:
    """Lexicon groups (id, negated) that a word or phrase (as stems) belongs to."""
    return LEXICON.get(stems, ())


# --------------------------------------------------------------------------- numbers

_UNITS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "zero": 0, "nil": 0, "half": 0.5,
    "dozen": 12, "hundred": 100, "thousand": 1000, "once": 1, "twice": 2,
}
_TENS = {"twenty", "thirty", "forty", "fourty", "fifty", "sixty", "seventy", "eighty", "ninety"}

# unit word -> (dimension, size in the dimension's base unit)
UNIT_WORDS: dict[str, tuple[str, float]] = {
    "second": ("t", 1), "seconds": ("t", 1), "s": ("t", 1),
    "minute": ("t", 60), "minutes": ("t", 60), "m": ("t", 60),
    "hour": ("t", 3600), "hours": ("t", 3600), "h": ("t", 3600),
    "day": ("t", 86400), "days": ("t", 86400), "d": ("t", 86400),
    "week": ("t", 604800), "weeks": ("t", 604800),
    "month": ("t", 2592000), "months": ("t", 2592000),
    "year": ("t", 31536000), "years": ("t", 31536000),
    "percent": ("p", 1), "pence": ("gbp", 0.01), "p": ("gbp", 0.01), "pound": ("gbp", 1),
    "pounds": ("gbp", 1), "quid": ("gbp", 1),
}
_UNIT_FILLERS = {"calendar", "working", "business", "full", "clear", "whole", "of", "per"}


@dataclass(slots=True)
class Token:
    """One word of a sentence: its (normalised) surface form, stem and meaning."""

    surface: str
    stem: str
    index: int          # position in the sentence
    neg: bool = False   # under a negation cue (or a negative word such as "unhappy")
    concepts: tuple[tuple[int, bool], ...] = ()
    quantity: str = ""  # "t:2592000" for "one month", "p:80" for "80%", "n:3" for a bare 3
    gloss: int = -1     # glossary group id, if this token stands for a glossary phrase
    skip: bool = False  # a filler (stop word, punctuation) inside the sentence
    cont: bool = False  # continues a lexicon phrase begun by an earlier token ("hang *up*")
    low: bool = False   # negated by a decrease word before or after it ("lower *satisfaction*")


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


_DECIMAL = re.compile(r"\d+(?:\.\d+)?")


def _numbers(words: list[str]) -> list[str]:
    """Turn number words into digits and quantities into single 'q:dim:value' words."""
    out: list[str] = []
    i = 0
    n = len(words)
    while i < n:
        w = words[i]
        val: float | None = None
        j = i
        if w[:1].isdigit() and _DECIMAL.fullmatch(w):
            val = float(w)
            j = i + 1
        elif w in _UNITS and w not in ("once", "twice") and not (w == "one" and not (i + 1 < n and (words[i + 1] in UNIT_WORDS or words[i + 1] in _UNIT_FILLERS or words[i + 1] == "out"))):
            val = float(_UNITS[w])
            j = i + 1
            if w in _TENS and j < n and words[j] in _UNITS and _UNITS[words[j]] < 10:
                val += _UNITS[words[j]]
                j += 1
            elif j < n and words[j] == "-" and j + 1 < n and words[j + 1] in _UNITS:
                val += _UNITS[words[j + 1]]
                j += 2
            if j < n and words[j] in ("hundred", "thousand") and val < 100:
                val *= _UNITS[words[j]]
                j += 1
        elif w in ("a", "an") and i + 1 < n and (words[i + 1] in UNIT_WORDS and words[i + 1] not in ("s", "m", "h", "d", "p", "percent")
                                                  or (words[i + 1] in _UNIT_FILLERS and i + 2 < n and words[i + 2] in ("month", "week", "day", "year", "hour", "minute"))):
            val = 1.0
            j = i + 1
        if val is None:
            out.append(w)
            i += 1
            continue
        # "four out of (every) five" -> 80 percent
        if j + 2 < n and words[j] == "out" and words[j + 1] == "of":
            k = j + 2
            if k < n and words[k] in ("every", "each", "all", "the"):
                k += 1
            if k < n:
                den = float(words[k]) if _DECIMAL.fullmatch(words[k]) else _UNITS.get(words[k])
                if den:
                    out.append(f"q:p:{_fmt(round(val * 100 / den, 1))}")
                    i = k + 1
                    continue
        k = j
        while k < n and words[k] in _UNIT_FILLERS and k - j < 2:
            k += 1
        if k < n and words[k] in UNIT_WORDS and not (words[k] in ("m", "d", "p") and k != j):
            dim, size = UNIT_WORDS[words[k]]
            out.append(f"q:{dim}:{_fmt(val * size)}")
            i = k + 1
            continue
        out.append(f"q:n:{_fmt(val)}")
        i = j
    return out


# --------------------------------------------------------------------------- sentences

_SENT_SPLIT = re.compile(r"(?<!\d)[.!?;]+(?![\d\"'\u201d\u2019])|[.!?;]+(?=\s|$)|\n+\s*(?:[-\u2022*]\s)?|^\s*[-\u2022*]\s")




def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text` (split on . ! ? ; new lines, bullets)."""
    spans: list[tuple[int, int]] = []
    start = 0
    dotted = [m.span() for m in _DOTTED.finditer(text)] if "." in text else []
    for m in _SENT_SPLIT.finditer(text):
        if dotted and text[m.start()] == "." and m.end() - m.start() == 1 and any(
                a <= m.start() < b for a, b in dotted):
            continue
        if m.start() > start:
            spans.append((start, m.start()))
        start = m.end()
    if start < len(text):
        spans.append((start, len(text)))
    return [(a, b) for a, b in spans if text[a:b].strip()]


# Groups whose words have a negative form ("unhappy" = not happy): a decrease of one of them
# is its negative ("lower satisfaction" = "dissatisfied", "damages morale" = "demotivates").
_POLAR = frozenset(g for g, grp in enumerate(_GROUPS) if grp[0] in ("happy", "motivate"))
_DOWN_GROUPS = frozenset(g for g, grp in enumerate(_GROUPS) if grp[0] in ("lower", "worsen"))
_DOWN_WORDS = frozenset(stem(w) for w in "poor bad undermine lose kill dent sap".split())
_DOWN_REACH = 4  # content words between the decrease and what it decreases


def _is_down(t: Token) -> bool:
    return not t.skip and (t.stem in _DOWN_WORDS or any(
        g in _DOWN_GROUPS and not n for g, n in t.concepts))


def _is_polar(t: Token) -> bool:
    return not t.skip and t.gloss < 0 and any(g in _POLAR and not n for g, n in t.concepts)


def _flip_first_polar(tokens: list[Token], order: range, reach: int, allow_and: bool) -> bool:
    """Negate the first polar word in `order` before a scope break; True if one was found."""
    seen = 0
    for j in order:
        x = tokens[j]
        if x.skip or (x.surface in _SCOPE_BREAKS and not (allow_and and x.surface == "and")) \
                or x.surface in NEGATIONS:
            return False
        if _is_polar(x):
            x.neg = not x.neg
            x.low = True
            return True
        if x.surface not in STOPWORDS:
            seen += 1
            if seen > reach:
                return False
    return False


def lowered(tokens: list[Token]) -> None:
    """"lower customer satisfaction", "morale drops": the polar word, negated (the decrease
    word is then part of it, not a word of its own)."""
    n = len(tokens)
    for i, t in enumerate(tokens):
        if not _is_down(t) or t.cont:
            continue
        # forwards: "lower (the) customer satisfaction", "hurts team morale";
        # then backwards: "satisfaction drops", "morale will go down"
        if (_flip_first_polar(tokens, range(i + 1, n), _DOWN_REACH, allow_and=True)
                or _flip_first_polar(tokens, range(i - 1, -1, -1), 2, allow_and=False)):
            t.cont = True


# Objects that sit inside a phrasal verb ("sort *it* out", "keep *them* informed").
_OBJECTS = frozenset("it them him her this that these those everything something things us me you".split())

_NEG_PREFIX = re.compile(r"^(un|dis|non)(?=[a-z]{4,})")


def tokenize(sentence: str, known: frozenset[str] = frozenset(),
             correct: Callable[[str], str] | None = None) -> list[Token]:
    """Tokens of one sentence, with stems, negation scope, quantities and lexicon groups.

    `known` is a set of stems; a word `un`+X / `dis`+X whose X stems into `known` (or the
    lexicon) is read as a negated X. `correct` maps a misspelt word to a known one.
    """
    words = normalise(sentence).split()
    if correct is not None:
        words = " ".join(correct(w) for w in words).split()
    words = _numbers(words)
    tokens: list[Token] = []
    for w in words:
        if w.startswith("q:"):
            tokens.append(Token(w, w, len(tokens), quantity=w[2:]))
        elif w.isalnum():
            tokens.append(Token(w, stem(w), len(tokens)))
        else:
            tokens.append(Token(w, w, len(tokens), skip=True))
    # lexicon phrases (longest first), negative-prefix words
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t.skip or t.quantity:
            i += 1
            continue
        matched = False
        for key in _LEX_PHRASES.get(t.stem, ()):
            size = len(key)
            span = tokens[i:i + size]
            if tuple(x.stem for x in span) != key:
                # a phrasal verb with its object inside: "start it back up", "let them know"
                if size < 2 or i + 1 >= len(tokens) or tokens[i + 1].surface not in _OBJECTS:
                    continue
                span = [tokens[i]] + tokens[i + 2:i + size + 1]
                if tuple(x.stem for x in span) != key:
                    continue
                tokens[i + 1].cont = True
            c = LEXICON[key]
            for n, x in enumerate(span):
                x.concepts = x.concepts + c
                x.cont = x.cont or n > 0
            matched = True
            break
        c = LEXICON.get((t.stem,))
        if c:
            t.concepts = t.concepts + c
        elif not matched:
            m = _NEG_PREFIX.match(t.surface)
            if m:
                root = stem(t.surface[m.end():])
                rc = LEXICON.get((root,))
                if rc or root in known:
                    t.stem = root
                    t.concepts = rc or ()
                    t.neg = True
        i += 1
    # "keep recording", "kept talking": continuing, the opposite of stopping
    for n, t in enumerate(tokens[:-1]):
        if t.stem in _KEEP:
            nxt = tokens[n + 1]
            if not nxt.skip and nxt.surface.endswith("ing") and len(nxt.surface) > 5:
                t.concepts = t.concepts + ((_CONTINUE, False),)
    for n, t in enumerate(tokens[:-1]):
        if t.stem == "first" and t.concepts:
            nxt = tokens[n + 1]
            if not nxt.skip and (nxt.quantity or nxt.surface not in STOPWORDS):
                t.concepts = tuple(c for c in t.concepts if c[0] != _BEFORE)
    # negation scope: a cue negates the words after it up to a break or 4 content words
    scope = 0
    for t in tokens:
        if t.surface in NEGATIONS:
            scope = 4
            t.skip = True
            continue
        if t.skip and t.surface in (",", ":", "(", ")"):
            scope = 0
            continue
        if t.surface in _SCOPE_BREAKS:
            scope = 0
            continue
        if scope and not t.skip:
            t.neg = not t.neg
            if t.surface not in STOPWORDS:
                scope -= 1
    return tokens

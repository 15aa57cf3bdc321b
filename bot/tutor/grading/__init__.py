"""Free-text grading: which marking points a learner's answer earns, and why.

`Grader(glossary).grade(question, answer) -> Marking`. One module per stage:

- `lexicon`   the vocabulary, read from `content/lexicon.yaml` (named groups, file:line errors)
- `english`   normalise, stem, numbers, sentences, tokens (general English, no word lists)
- `evidence`  the lexical stage: compiled questions, the sentences that state each point, the rule
- `guards`    objections that veto a mark from any stage: negation and opposites, wrong numbers
              and time limits, the wrong named body, a definition given of the wrong term,
              keyword lists, echoes of the prompt, too little content
- `model`     the learned semantic stage (ONNX, optional): scores (point, sentence) pairs
- `decide`    the `Grader`: lexical evidence, then guards, then the model for points still open
- `marking`   the results: `Marking`, `PointResult` (stage, rule, confidence, maybe)
"""

from bot.tutor.grading.decide import Grader, grade
from bot.tutor.grading.marking import MAX_ANSWER_CHARS, Marking, PointResult

__all__ = ["Grader", "Marking", "PointResult", "grade", "MAX_ANSWER_CHARS"]

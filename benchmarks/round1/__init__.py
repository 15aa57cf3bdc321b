"""The first-round grader, frozen as it was before issue 12 (commit d065023), for comparison only.

`benchmarks/grading_quality.py --baseline round1` scores it on the same folds as today's grader.
Never imported by the bot.
"""

"""Drafting a reply: reading the mail (assistant/reading.py), answering each question from its own passages
(question.py), composing the letter from the department's template (letter.py), all wired in drafter.py."""

from assistant.answer.drafter import Answerer
from assistant.answer.question import AnswerPolicy
from assistant.errors import InputError

__all__ = ["AnswerPolicy", "Answerer", "InputError"]

"""The study's text normalisation: NFKC, URLs and numbers replaced by placeholders."""

from __future__ import annotations

import re
import unicodedata

URL_PLACEHOLDER = "[URL]"
NUMBER_PLACEHOLDER = "[NUM]"
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# Digits with French thousands separators and decimal commas count as one number.
_NUMBER = re.compile(r"(?<![\w\[])\d+(?:[ \u202f\u00a0.,]\d+)*(?![\w\]])")


def preprocess_text(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = _URL.sub(URL_PLACEHOLDER, text)
    return _NUMBER.sub(NUMBER_PLACEHOLDER, text)

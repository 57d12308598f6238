"""Messages stored in English (a step's detail written by the worker, which has no reader's
language) shown in the reader's language: the sentence is matched back to its message in the
catalogue, placeholders and all, and translated then. Text that matches nothing is shown as
stored."""

from __future__ import annotations

import re
from functools import lru_cache

from django.utils.translation import get_language, gettext
from django.utils.translation.trans_real import translation

_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@lru_cache(maxsize=8)
def _patterns(language: str) -> tuple[tuple[re.Pattern[str], str], ...]:
    """(regex of the English message, the message) for every message with placeholders."""
    out = []
    for key in translation(language)._catalog.keys():  # type: ignore[attr-defined]
        if not isinstance(key, str) or "%(" not in key:
            continue
        # A message that is mostly placeholders ("%(a)s to %(b)s") would match anything.
        if sum(c.isalpha() for c in _PLACEHOLDER.sub("", key)) < 8:
            continue
        pieces, last = [], 0
        names: set[str] = set()
        for match in _PLACEHOLDER.finditer(key):
            pieces.append(re.escape(key[last : match.start()]))
            name = match.group(1)
            pieces.append(f"(?P={name})" if name in names else f"(?P<{name}>.+?)")
            names.add(name)
            last = match.end()
        pieces.append(re.escape(key[last:]))
        out.append((re.compile("^" + "".join(pieces) + "$", re.S), key))
    # The most specific (longest literal text) first.
    out.sort(key=lambda item: -len(_PLACEHOLDER.sub("", item[1])))
    return tuple(out)


def _one(text: str, language: str) -> str | None:
    translated = gettext(text)
    if translated != text:
        return translated
    for pattern, msgid in _patterns(language):
        match = pattern.match(text)
        if match:
            values = {k: _one(v, language) or v for k, v in match.groupdict().items()}
            try:
                return gettext(msgid) % values
            except (KeyError, ValueError, TypeError):
                return None
    return None


@lru_cache(maxsize=2048)
def _translate(text: str, language: str) -> str:
    exact = gettext(text)
    if exact != text:
        return exact
    # Sentence by sentence: a detail is often two messages joined ("Domain running." and
    # "Memory limited to 768 MiB.").
    return " ".join(_one(s, language) or s for s in _SENTENCE_END.split(text))


def translate_stored(text: str | None) -> str:
    """`text` in the active language when it is one of Nuage's messages, else unchanged."""
    if not text:
        return text or ""
    language = get_language() or "en"
    if language.startswith("en"):
        return text
    return _translate(text, language)

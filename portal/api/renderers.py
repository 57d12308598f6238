"""The API's JSON, encoded in C (orjson): the same document DRF's JSONRenderer writes, compact.

DRF's renderer runs the standard library's encoder, which calls back into Python for every
value it does not know (each timestamp, UUID, lazy translation): on the VM list that encoding was
the largest single cost of a request after the SQL (bench/api_latency.py). orjson writes
timestamps, dates, UUIDs and the containers DRF returns itself, in DRF's format (RFC 3339, UTC
as `Z`, microseconds only when there are some); what it does not know goes through DRF's own
encoder, so decimals, lazy strings, querysets and the rest read as before. A client that asks
for indentation (`Accept: application/json; indent=4`), or a document with an integer past 64
bits (an error echoing its input), gets DRF's renderer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS
_fallback = JSONEncoder().default


def _default(value: Any) -> Any:
    return _fallback(value)


class FastJSONRenderer(JSONRenderer):
    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if data is None:
            return b""
        if not self.compact or self.get_indent(accepted_media_type or "", renderer_context or {}):
            return super().render(data, accepted_media_type, renderer_context)
        try:
            out = orjson.dumps(data, default=_default, option=_OPTIONS)
        except TypeError:  # what orjson cannot write, an integer past 64 bits (an echoed input)
            return super().render(data, accepted_media_type, renderer_context)
        # As DRF does: the two line separators escaped, so that the JSON is JavaScript too.
        if b"\xe2\x80\xa8" in out or b"\xe2\x80\xa9" in out:
            out = out.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
        return out

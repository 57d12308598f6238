"""The API's pages: `?limit=&offset=`, 100 rows by default and never more than 500 at once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import QuerySet
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request


class CappedLimitOffsetPagination(LimitOffsetPagination):
    """A larger `limit` gives 500 rows (the `next` link leads on): one request cannot make the
    server build and serialise a whole table.

    The page is read first: a page that is not full (and not empty past the first) ends the
    list, so its length gives the count and no COUNT query is run (most lists of a tenant fit
    in one page). The answer is DRF's: the same count, links and rows.
    """

    max_limit = 500

    def paginate_queryset(
        self, queryset: QuerySet[Any] | Sequence[Any], request: Request, view: Any = None
    ) -> list[Any] | None:
        self.request = request
        limit = self.get_limit(request)
        if limit is None:
            return None
        self.limit = limit
        self.offset = self.get_offset(request)
        page = list(queryset[self.offset : self.offset + self.limit])
        if len(page) < self.limit and (page or self.offset == 0):
            self.count = self.offset + len(page)
        else:
            self.count = self.get_count(queryset)
        if self.count > self.limit and self.template is not None:
            self.display_page_controls = True
        if self.count == 0 or self.offset > self.count:
            return []
        return page

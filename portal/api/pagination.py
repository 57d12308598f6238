"""The API's pages: `?limit=&offset=`, 100 rows by default and never more than 500 at once."""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination


class CappedLimitOffsetPagination(LimitOffsetPagination):
    """A larger `limit` gives 500 rows (the `next` link leads on): one request cannot make the
    server build and serialise a whole table."""

    max_limit = 500

"""Paged DRACOON lists that a lying or broken server cannot turn into an endless loop.

DRACOON pages lists with ``offset``/``limit`` and reports ``range.total``. Trusting those
numbers blindly lets one bad answer wedge a worker: ``total: 1000000000`` with full pages
keeps it paging for days, an empty page while ``total`` promises more, or the same page
over and over, never ends. Every paged list of the client goes through this module:

* a hard cap on pages (``max_pages``) and on the entries a list may claim (``max_total``);
* every answer must be an object with an ``items`` list of objects, at most ``limit`` of
  them (the server may never send more than was asked for), and a ``range.total`` that is a
  non-negative number when present;
* :func:`offset_pages` stops as soon as ``offset`` reaches ``total`` and refuses an answer
  that contradicts itself (an empty page before ``total``, a page reaching past ``total``,
  a page that repeats the previous one);
* between two pages the current job's cancel and deadline are checked (``deadlines``), so a
  long listing ends with the job.

A broken list raises :class:`DracoonAnswerError` (retryable) naming the endpoint; a stopped
job raises :class:`DracoonDeadlineError` (retryable).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from recording_storage import deadlines

from .errors import DracoonAnswerError, DracoonDeadlineError
from .models import answer_int, answer_list, answer_object


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int | None  # range.total, if the answer had one
    answer: dict[str, Any]  # the whole answer (other lists ride along, e.g. users and files)


class Pager:
    """Checks the pages of one listing, one after the other."""

    def __init__(
        self,
        method: str,
        endpoint: str,
        *,
        limit: int,
        max_pages: int | None,
        max_total: int | None = None,
    ) -> None:
        self.method = method
        self.endpoint = endpoint
        self.limit = limit
        self.max_pages = max_pages
        self.max_total = max_total
        self.pages = 0

    def check(self, answer: Any) -> Page:
        """Validate one answer; DracoonAnswerError when it cannot be a page of this list."""
        self.pages += 1
        if self.max_pages is not None and self.pages > self.max_pages:
            raise self.lie(f"the list goes on beyond {self.max_pages} pages of {self.limit}")
        body = answer_object(answer, self.method, self.endpoint, "a page")
        items = answer_list(body.get("items"), self.method, self.endpoint, "the page's 'items'")
        if len(items) > self.limit:
            raise self.lie(f"{len(items)} items answer a request for at most {self.limit}")
        for item in items:
            answer_object(item, self.method, self.endpoint, "an item of the page")
        total = None
        if body.get("range") is not None:
            page_range = answer_object(body["range"], self.method, self.endpoint, "'range'")
            total = answer_int(
                page_range.get("total"), self.method, self.endpoint, "'range.total'",
                optional=True,
            )  # fmt: skip
        if total is not None and total < 0:
            raise self.lie(f"range.total is negative ({total})")
        if total is not None and self.max_total is not None and total > self.max_total:
            raise self.lie(
                f"range.total claims {total} entries, more than the {self.max_total} this "
                "service pages through"
            )
        return Page(items, total, body)

    def before_next_page(self) -> None:
        """Stop between pages when the current job is cancelled or past its deadline."""
        reason = deadlines.stop_reason()
        if reason is not None:
            raise DracoonDeadlineError(
                f"{self.method} {self.endpoint}: listing stopped after {self.pages} page(s): "
                f"the job is {reason} (retryable)"
            )

    def lie(self, problem: str) -> DracoonAnswerError:
        return DracoonAnswerError(self.method, self.endpoint, 200, f"the paging lies: {problem}")


def offset_pages(
    fetch: Callable[[int, int], Any],
    *,
    method: str,
    endpoint: str,
    limit: int,
    max_pages: int,
) -> Iterator[list[dict[str, Any]]]:
    """Yield the items of each page of a forward-paged list; ``fetch(offset, limit)`` asks
    for one page and returns the decoded answer."""
    pager = Pager(method, endpoint, limit=limit, max_pages=max_pages, max_total=limit * max_pages)
    offset = 0
    previous: list[dict[str, Any]] | None = None
    while True:
        if pager.pages:
            pager.before_next_page()
        page = pager.check(fetch(offset, limit))
        items, total = page.items, page.total
        if not items:
            if total is not None and offset < total:
                raise pager.lie(f"an empty page at offset {offset} while range.total is {total}")
            return
        if previous is not None and items[0] == previous[0] and len(items) == len(previous):
            raise pager.lie(f"the page at offset {offset} repeats the previous page")
        if total is not None and offset + len(items) > total:
            raise pager.lie(
                f"the page at offset {offset} holds {len(items)} items, past range.total {total}"
            )
        yield items
        offset += len(items)
        if total is None and len(items) < limit:
            return
        if total is not None and offset >= total:
            return
        previous = items

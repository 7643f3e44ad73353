"""Unit tests of the shared paging guard (dracoon/client/paging.py): every way a server can
lie about a paged list ends in a clear, retryable DracoonAnswerError naming the endpoint,
and a job past its deadline stops between pages."""

from __future__ import annotations

import threading

import pytest

from recording_storage import deadlines
from recording_storage.dracoon.client import DracoonAnswerError, DracoonDeadlineError
from recording_storage.dracoon.client.paging import Pager, offset_pages
from recording_storage.jobs.transfer import is_retryable


def items(start: int, count: int) -> list[dict]:
    return [{"id": i} for i in range(start, start + count)]


def listing(pages: list[object], *, limit: int = 3, max_pages: int = 10):
    """Run offset_pages over scripted answers; returns (ids, offsets asked for)."""
    asked: list[int] = []

    def fetch(offset: int, page_limit: int) -> object:
        assert page_limit == limit
        asked.append(offset)
        return pages[len(asked) - 1]

    ids = [
        item["id"]
        for page in offset_pages(
            fetch, method="GET", endpoint="/v4/nodes", limit=limit, max_pages=max_pages
        )
        for item in page
    ]
    return ids, asked


def page(start: int, count: int, total: int | None) -> dict:
    answer: dict = {"items": items(start, count)}
    if total is not None:
        answer["range"] = {"offset": start, "limit": 3, "total": total}
    return answer


def test_honest_list_stops_at_total():
    ids, asked = listing([page(0, 3, 7), page(3, 3, 7), page(6, 1, 7)])
    assert ids == list(range(7)) and asked == [0, 3, 6]


def test_exact_multiple_of_the_limit_needs_no_extra_request():
    ids, asked = listing([page(0, 3, 6), page(3, 3, 6)])
    assert ids == list(range(6)) and asked == [0, 3]


def test_without_range_a_short_page_ends_the_list():
    ids, asked = listing([page(0, 3, None), page(3, 1, None)])
    assert ids == [0, 1, 2, 3] and asked == [0, 3]


def test_a_shrinking_total_ends_the_list_where_it_now_ends():
    ids, asked = listing([page(0, 3, 9), page(3, 2, 5)])
    assert ids == [0, 1, 2, 3, 4] and asked == [0, 3]


def lie(pages: list[object], **kwargs) -> DracoonAnswerError:
    with pytest.raises(DracoonAnswerError) as info:
        listing(pages, **kwargs)
    error = info.value
    assert "GET /v4/nodes" in str(error) and is_retryable(error)
    return error


def test_a_total_of_a_billion_is_refused_at_once():
    error = lie([page(0, 3, 1_000_000_000)])
    assert "more than the 30" in str(error)


def test_an_empty_page_while_total_promises_more():
    error = lie([page(0, 3, 10), page(3, 0, 10)])
    assert "empty page at offset 3" in str(error)


def test_more_items_than_the_limit_asked_for():
    error = lie([page(0, 5, 10)])
    assert "5 items answer a request for at most 3" in str(error)


def test_the_same_page_again_and_again():
    error = lie([page(0, 3, 30), page(0, 3, 30)])
    assert "repeats the previous page" in str(error)


def test_a_page_reaching_past_the_total():
    error = lie([page(0, 3, 2)])
    assert "past range.total 2" in str(error)


def test_the_page_cap_holds_even_when_every_page_looks_fine():
    pages = [page(3 * i, 3, None) for i in range(20)]
    error = lie(pages, max_pages=4)
    assert "beyond 4 pages" in str(error)


@pytest.mark.parametrize(
    "answer",
    [
        None,
        [],
        "text",
        {"range": {"total": 3}},
        {"items": "abc"},
        {"items": [1, 2]},
        {"items": [], "range": "x"},
        {"items": [], "range": {"total": "3"}},
        {"items": [], "range": {"total": True}},
        {"items": [], "range": {"total": -1}},
    ],
    ids=repr,
)
def test_wrong_shapes_are_answer_errors_not_tracebacks(answer):
    error = lie([answer])
    assert error.status == 200


def test_a_job_past_its_deadline_stops_between_pages():
    budget = deadlines.JobBudget(60)
    served = []

    def fetch(offset: int, limit: int) -> dict:
        served.append(offset)
        budget.seconds = 0  # the deadline passes while the first page is processed
        return page(offset, 3, 9)

    with deadlines.job_budget(budget), pytest.raises(DracoonDeadlineError) as info:
        list(offset_pages(fetch, method="GET", endpoint="/v4/nodes", limit=3, max_pages=10))
    assert served == [0]
    assert "after 1 page(s)" in str(info.value) and "deadline" in str(info.value)
    assert is_retryable(info.value)


def test_a_cancelled_job_stops_between_pages():
    cancel = threading.Event()
    budget = deadlines.JobBudget(60, outer=cancel)
    pager = Pager("GET", "/v4/nodes/missingFileKeys", limit=100, max_pages=None)
    with deadlines.job_budget(budget):
        pager.before_next_page()  # fine while running
        cancel.set()
        with pytest.raises(DracoonDeadlineError, match="cancelled"):
            pager.before_next_page()
    pager.before_next_page()  # outside a job nothing stops it

"""Reader for ``conf/pubsub/sqs/topics.yml``: queue keys mapped to SQS queue URLs.

The original service looked its queue up by a key (``workers.FileTransferer.queue``) in this
file, so the same configuration can point dev, test and prod at different queues without
touching app.conf.
"""

from __future__ import annotations

from pathlib import Path

import yaml


class TopicsError(ValueError):
    """topics.yml is not a mapping of non-empty keys to queue URLs; the message says where."""


def parse_topics(text: str, source: str = "topics.yml") -> dict[str, str]:
    """Parse topics.yml text: a flat mapping ``key: queue-url`` (an empty file is no topics).

    Every bad entry is reported, one per line of the error message.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TopicsError(f"{source}: not valid YAML ({_first_line(exc)})") from None
    except RecursionError:  # "[[[[..." exhausts the YAML composer's stack
        raise TopicsError(f"{source}: not valid YAML (nested too deeply)") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise TopicsError(f"{source}: must be a mapping of queue keys to SQS queue URLs")
    topics: dict[str, str] = {}
    problems: list[str] = []
    for key, url in data.items():
        if not isinstance(key, str) or not key.strip():
            problems.append(f"{source}: key {_shown(key)} must be a non-empty string")
            continue
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            problems.append(
                f"{source}: {_shown(key)}: must be an SQS queue URL (https://...), "
                f"got {_shown(url)}"
            )
            continue
        topics[key] = url
    if problems:
        raise TopicsError("\n".join(problems))
    return topics


def read_topics(path: str | Path) -> dict[str, str]:
    """Read and parse a topics.yml file."""
    path = Path(path)
    return parse_topics(path.read_text(encoding="utf-8"), source=str(path))


def _shown(value: object, limit: int = 80) -> str:
    """A key or value for an error line: quoted (no raw newlines) and shortened."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__

"""Reader for ``conf/pubsub/sqs/topics.yml``: queue keys mapped to SQS queue URLs.

The original service looked its queue up by a key (``workers.FileTransferer.queue``) in this
file, so the same configuration can point dev, test and prod at different queues without
touching app.conf.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from recording_storage.safe_yaml import UnsafeYamlError, load_yaml

MAX_TOPICS_BYTES = 256 * 1024  # a few queue URLs; far more than any real topics.yml


class TopicsError(ValueError):
    """topics.yml is not a mapping of non-empty keys to queue URLs; the message says where."""


def parse_topics(text: str, source: str = "topics.yml") -> dict[str, str]:
    """Parse topics.yml text: a flat mapping ``key: queue-url`` (an empty file is no topics).

    Every bad entry is reported, one per line of the error message.
    """
    try:
        data = load_yaml(text, source=source, max_bytes=MAX_TOPICS_BYTES)
    except UnsafeYamlError as exc:  # the message names the source and the limit
        raise TopicsError(str(exc)) from None
    except yaml.YAMLError as exc:
        raise TopicsError(f"{source}: not valid YAML ({_first_line(exc)})") from None
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
    with path.open("rb") as stream:  # never read more than the limit allows
        data = stream.read(MAX_TOPICS_BYTES + 1)
    return parse_topics(data.decode("utf-8"), source=str(path))


def _shown(value: object, limit: int = 80) -> str:
    """A key or value for an error line: quoted (no raw newlines) and shortened."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__

"""Caps on the size of one job: target rooms per job, target rules per instance.

Every target of a job is uploaded at the same time (one S3 read, jobs.tee), so the number of
targets is what a job costs in threads, connections and DRACOON requests (memory is bounded
separately by the upload budget, dracoon.client.chunk_budget). A job over a cap can never
succeed as it is, so it fails permanently with an error that names the instance and the key
to change: an invalid message (15007) when the message listed the targets, a configuration
error (15018) when the instance's rules produced them.
"""

from __future__ import annotations

from collections.abc import Sized
from typing import Any

from recording_storage.jobs.message import InvalidMessageError, JobMessage
from recording_storage.jobs.targets import INSTANCE_FIELD, TargetRulesError

DEFAULT_MAX_TARGETS_PER_JOB = 50
DEFAULT_MAX_TARGET_RULES_PER_INSTANCE = 100


def max_targets_per_job(settings: Any) -> int:
    dracoon = getattr(settings, "dracoon", None)
    return int(getattr(dracoon, "max_targets_per_job", DEFAULT_MAX_TARGETS_PER_JOB))


def max_target_rules(settings: Any) -> int:
    dracoon = getattr(settings, "dracoon", None)
    return int(
        getattr(dracoon, "max_target_rules_per_instance", DEFAULT_MAX_TARGET_RULES_PER_INSTANCE)
    )


def check_rule_count(rules: Sized, limit: int, domain: str) -> None:
    """Raise TargetRulesError when instance ``domain`` lists more than ``limit`` rules."""
    if len(rules) > limit:
        raise TargetRulesError(
            f"{INSTANCE_FIELD} of instance {domain} lists {len(rules)} rules, more than "
            f"dracoon.maxTargetRulesPerInstance ({limit}) allows; merge rules (one rule's "
            "copyTo can list several rooms) or raise the limit"
        )


def check_target_count(message: JobMessage, targets: Sized, limit: int, domain: str) -> None:
    """Raise InvalidMessageError when the job has more than ``limit`` target rooms; its
    field says where they came from (the message, or the instance's rules)."""
    if len(targets) <= limit:
        return
    field = "storage.extra.dracoon.targets" if message.targets else INSTANCE_FIELD
    source = "the message lists" if message.targets else "the instance's rules select"
    raise InvalidMessageError(
        field,
        f"{source} {len(targets)} target rooms for instance {domain}, more than "
        f"dracoon.maxTargetsPerJob ({limit}) allows in one job",
    )

"""Fixtures of the security tests: the jobs tests' end-to-end ``service`` (CLI + moto S3 +
DRACOON emulator + file configurator), reused as is rather than built a second time."""

from tests.jobs.conftest import readme_bucket, service  # noqa: F401 - fixtures used by name

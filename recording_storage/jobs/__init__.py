"""The work of a FileTransferer and of the DracoonGlobalSharer, independent of SQS.

``message`` (parse + validate a job message), ``expiration`` (expiry phrases), ``templates``
(room path templates, DRACOON names), ``targets`` (which rooms), ``transfer`` (one job: S3 ->
DRACOON with the duplicate marker), ``runner`` (``JobRunner``: per-process caches and failure
classes), ``sharer`` (``GlobalSharer``). See docs/configuration.md.
"""

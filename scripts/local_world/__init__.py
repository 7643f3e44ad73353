"""The local world: everything recording-storage talks to, on 127.0.0.1, for one run.

``scripts/demo.py``, the benchmark (``scripts/bench``) and the tests all need the same stand-ins:
a moto server for S3 and SQS, the DRACOON emulator with seeded users and rooms, a file
configurator, an ``app.conf`` + ``topics.yml`` that point the service at them, the service
itself as a subprocess, and a way to read a transferred file back as a room member. Before
this package each of them had its own copy of that set-up; now they share this one.

- ``processes``: free ports, waiting, child processes in their own session (and stopping them);
- ``aws``: fake AWS credentials, boto3 clients, the moto server;
- ``dracoon``: the emulator (as a subprocess), its admin API, cached key pairs, reading back;
- ``service``: the configuration files, ``recording-storage serve``, its JSON log and metrics.

It lives under ``scripts/`` (not in ``recording_storage/``) so that it never ships in the
service's wheel or image: it is a tool for running the service, not part of it
(docs/architecture.md, "Tools around the service").
"""

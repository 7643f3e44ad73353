"""A TLS-terminating relay for tests: clients that only speak https (DRACOON Commander builds
``https://host:port`` from every path it is given) reach a plain-HTTP server through it.

The relay copies bytes both ways and understands nothing of HTTP, so keep-alive, chunked
bodies and streaming pass unchanged. The server behind it must hand out https URLs itself
(the emulator's ``url_scheme: https``). The certificate is self-signed for 127.0.0.1 and
``localhost``, made at test time; clients trust it through ``SSL_CERT_FILE``.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import threading
from pathlib import Path

_MAKE_CERT = """
import datetime, ipaddress, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (
    x509.CertificateBuilder().subject_name(name).issuer_name(name)
    .public_key(key.public_key()).serial_number(x509.random_serial_number())
    .not_valid_before(now - datetime.timedelta(minutes=5))
    .not_valid_after(now + datetime.timedelta(days=1))
    .add_extension(x509.SubjectAlternativeName([
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
        critical=False)
    .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    .sign(key, hashes.SHA256())
)
open(sys.argv[1], "wb").write(cert.public_bytes(serialization.Encoding.PEM))
open(sys.argv[2], "wb").write(key.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption()))
"""


def make_self_signed_cert(python: Path, directory: Path) -> tuple[Path, Path]:
    """Write ``cert.pem`` and ``key.pem`` (test-only) with ``python``, an interpreter that has
    ``cryptography`` (the official SDK's venvs do; ours need not)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [str(python), "-c", _MAKE_CERT, str(cert), str(key)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


class TlsRelay:
    """Listen with TLS on 127.0.0.1 (a free port) and relay each connection to ``upstream``."""

    def __init__(self, upstream: tuple[str, int], cert: Path, key: Path) -> None:
        self.upstream = upstream
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(str(cert), str(key))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> TlsRelay:
        self._spawn(self._accept_loop)
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            for sock in list(self._open):
                _close(sock)
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name="tls-relay")
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn(self._serve, client)

    def _serve(self, raw: socket.socket) -> None:
        raw.settimeout(30)
        try:
            client = self._context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            _close(raw)  # e.g. a client that refused our certificate
            return
        try:
            upstream = socket.create_connection(self.upstream, timeout=30)
        except OSError:
            _close(client)
            return
        with self._lock:
            self._open.update((client, upstream))
        self._spawn(_pump, upstream, client)
        _pump(client, upstream)
        with self._lock:
            self._open.difference_update((client, upstream))


def _pump(source: socket.socket, target: socket.socket) -> None:
    """Copy until either side closes; then close both so the other pump ends too."""
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(target)


def _close(sock: socket.socket) -> None:
    """Shut down first: a plain close() does not wake a recv() blocked in another thread."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()

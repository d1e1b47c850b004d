"""TLS and mutual TLS for HTTP and gRPC from one certificate, key and (for mTLS) client CA,
re-read when the files change: HTTP's ``SSLContext`` loads the new chain in place (new
connections get it), and gRPC asks ``fetch`` at each handshake."""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field
from pathlib import Path

import grpc

logger = logging.getLogger(__name__)


@dataclass
class TlsFiles:
    cert: Path
    key: Path
    client_ca: Path | None = None
    """Set: every client must present a certificate signed by it (mTLS)."""
    _seen: tuple[int, ...] = field(default=(), init=False)

    def stamp(self) -> tuple[int, ...]:
        paths = [self.cert, self.key, *([self.client_ca] if self.client_ca else [])]
        return tuple(p.stat().st_mtime_ns for p in paths)

    def changed(self) -> bool:
        """True once after the files changed (a missing file counts as unchanged)."""
        try:
            stamp = self.stamp()
        except OSError:
            return False
        if stamp == self._seen:
            return False
        first, self._seen = not self._seen, stamp
        return not first

    def read(self) -> tuple[bytes, bytes, bytes | None]:
        ca = self.client_ca.read_bytes() if self.client_ca else None
        return self.key.read_bytes(), self.cert.read_bytes(), ca


def ssl_context(files: TlsFiles) -> ssl.SSLContext:
    """The HTTP server's context: TLS 1.2 or newer; client certificates required with a CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    load(context, files)
    if files.client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
    files.changed()  # remember what was loaded
    return context


def load(context: ssl.SSLContext, files: TlsFiles) -> None:
    context.load_cert_chain(files.cert, files.key)
    if files.client_ca:
        context.load_verify_locations(files.client_ca)


class Reloader:
    """Re-reads the files into the HTTP context and gRPC's credentials once they change; a
    pair that fails to load keeps the previous one (logged)."""

    def __init__(self, files: TlsFiles) -> None:
        self.files = files
        self.context = ssl_context(files)
        self._grpc_config = self._grpc_configuration()
        self._fresh: grpc.ServerCertificateConfiguration | None = None

    def refresh(self) -> bool:
        if not self.files.changed():
            return False
        try:
            load(self.context, self.files)
            self._fresh = self._grpc_config = self._grpc_configuration()
        except (OSError, ssl.SSLError, ValueError) as exc:
            logger.error("TLS files not reloaded, the previous certificate stays: %s", exc)
            return False
        logger.info("TLS certificate reloaded from %s", self.files.cert.name)
        return True

    def grpc_credentials(self) -> grpc.ServerCredentials:
        return grpc.dynamic_ssl_server_credentials(
            self._grpc_config,
            self._fetch,
            require_client_authentication=self.files.client_ca is not None,
        )

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """Called by gRPC at each handshake: the new configuration once, else None."""
        fresh, self._fresh = self._fresh, None
        return fresh

    def _grpc_configuration(self) -> grpc.ServerCertificateConfiguration:
        key, cert, ca = self.files.read()
        return grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=ca)

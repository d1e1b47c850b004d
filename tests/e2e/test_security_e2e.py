"""``modelport serve`` secured, driven by NVIDIA's unmodified tritonclient: API keys over HTTP
and gRPC, TLS on both ports, mutual TLS, plaintext to a TLS port, a certificate replaced
while serving. Certificates are made by trustme for each run; no private key is shipped."""

from __future__ import annotations

import hashlib
import socket
import ssl
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.conftest import RunningServer, _module_servers, serve_args, start_server

pytestmark = pytest.mark.e2e
trustme = pytest.importorskip("trustme")
httpclient = pytest.importorskip("tritonclient.http")
grpcclient = pytest.importorskip("tritonclient.grpc")

KEY = "k" * 32


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("client@modelport.test")
    paths = {name: folder / f"{name}.pem" for name in ("ca", "cert", "key", "client", "other_ca")}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    server.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    for blob in server.cert_chain_pems[1:]:
        blob.write_to_path(str(paths["cert"]), append=True)
    server.private_key_pem.write_to_path(str(paths["key"]))
    client.private_key_and_cert_chain_pem.write_to_path(str(paths["client"]))
    trustme.CA().cert_pem.write_to_path(str(paths["other_ca"]))
    return paths


@pytest.fixture(scope="module")
def keys_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "keys.yaml"
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    path.write_text(f"- name: client\n  sha256: {digest}\n  scopes: [infer]\n")
    return path


def digits_input(module: object) -> object:
    x = np.random.default_rng(0).random((2, 784), dtype=np.float32)
    infer_input = module.InferInput("input", list(x.shape), "FP32")  # type: ignore[attr-defined]
    infer_input.set_data_from_numpy(x)
    return infer_input


def test_tritonclient_with_api_keys(
    digits_repository: Path, keys_file: Path, tmp_path: Path
) -> None:
    server = start_server(serve_args(digits_repository, "--api-keys", str(keys_file)), tmp_path)

    def bearer() -> dict[str, str]:  # tritonclient.http adds to the dict it is given
        return {"authorization": f"Bearer {KEY}"}  # gRPC metadata keys are lower case

    http = httpclient.InferenceServerClient(server.url)
    with pytest.raises(Exception, match=r"API key is required"):
        http.infer("digits", [digits_input(httpclient)])
    result = http.infer("digits", [digits_input(httpclient)], headers=bearer())
    assert result.as_numpy("probabilities").shape == (2, 10)
    grpc = grpcclient.InferenceServerClient(server.grpc_url)
    with pytest.raises(Exception, match="UNAUTHENTICATED"):
        grpc.infer("digits", [digits_input(grpcclient)])
    result = grpc.infer("digits", [digits_input(grpcclient)], headers=bearer())
    assert result.as_numpy("probabilities").shape == (2, 10)
    assert server.stop()[0] == 0


@pytest.fixture(scope="module")
def tls_server(
    digits_repository: Path,
    certificates: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> RunningServer:
    tls = ["--tls-cert", str(certificates["cert"]), "--tls-key", str(certificates["key"])]
    server = start_server(
        serve_args(digits_repository, *tls), tmp_path_factory.mktemp("tls-run"), scheme="https"
    )
    _module_servers.append(server.process)
    yield server
    server.stop()


def test_tritonclient_over_tls(tls_server: RunningServer, certificates: dict[str, Path]) -> None:
    ca = str(certificates["ca"])
    http = httpclient.InferenceServerClient(
        tls_server.url, ssl=True, ssl_context_factory=lambda: ssl.create_default_context(cafile=ca)
    )
    assert http.infer("digits", [digits_input(httpclient)]).as_numpy("probabilities").shape == (
        2,
        10,
    )
    grpc = grpcclient.InferenceServerClient(tls_server.grpc_url, ssl=True, root_certificates=ca)
    assert grpc.infer("digits", [digits_input(grpcclient)]).as_numpy("probabilities").shape == (
        2,
        10,
    )


def test_plaintext_to_a_tls_port_is_refused(tls_server: RunningServer) -> None:
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=10) as sock:
        sock.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            answer = sock.recv(1024)
        except ConnectionResetError:
            answer = b""
    assert not answer.startswith(b"HTTP/")  # closed (or a TLS alert), never an HTTP answer
    plain_grpc = grpcclient.InferenceServerClient(tls_server.grpc_url)
    with pytest.raises(Exception, match="UNAVAILABLE"):
        plain_grpc.is_server_live(client_timeout=5)
    assert tls_server.process.poll() is None  # still serving


def test_mutual_tls_refuses_a_client_without_a_certificate(
    digits_repository: Path, certificates: dict[str, Path], tmp_path: Path
) -> None:
    c = {k: str(v) for k, v in certificates.items()}
    flags = ["--tls-cert", c["cert"], "--tls-key", c["key"], "--tls-client-ca", c["ca"]]
    server = start_server(
        serve_args(digits_repository, *flags), tmp_path, scheme="https", client_cert=c["client"]
    )
    anonymous = ssl.create_default_context(cafile=c["ca"])
    with pytest.raises((ssl.SSLError, OSError)):
        urllib.request.urlopen(f"https://{server.url}/v2/health/ready", context=anonymous).read()
    known = ssl.create_default_context(cafile=c["ca"])
    known.load_cert_chain(c["client"])
    with urllib.request.urlopen(f"https://{server.url}/v2/health/ready", context=known) as r:
        assert r.status == 200
    no_cert = grpcclient.InferenceServerClient(server.grpc_url, ssl=True, root_certificates=c["ca"])
    with pytest.raises(Exception, match="UNAVAILABLE"):
        no_cert.is_server_live(client_timeout=5)
    with_cert = grpcclient.InferenceServerClient(
        server.grpc_url,
        ssl=True,
        root_certificates=c["ca"],
        private_key=c["client"],
        certificate_chain=c["client"],
    )
    assert with_cert.is_server_live()
    assert server.stop()[0] == 0


def test_a_replaced_certificate_is_served_without_a_restart(
    digits_repository: Path, tmp_path: Path
) -> None:
    first, second = trustme.CA(), trustme.CA()
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"

    def install(ca: trustme.CA) -> Path:
        issued = ca.issue_cert("127.0.0.1")
        issued.cert_chain_pems[0].write_to_path(str(cert))
        issued.private_key_pem.write_to_path(str(key))
        ca_path = tmp_path / f"ca-{id(ca)}.pem"
        ca.cert_pem.write_to_path(str(ca_path))
        return ca_path

    first_ca = install(first)
    server = start_server(
        serve_args(digits_repository, "--tls-cert", str(cert), "--tls-key", str(key)),
        tmp_path,
        scheme="https",
    )
    trusting_first = ssl.create_default_context(cafile=str(first_ca))
    urllib.request.urlopen(f"https://{server.url}/v2/health/live", context=trusting_first).read()
    second_ca = install(second)
    trusting_second = ssl.create_default_context(cafile=str(second_ca))
    for _ in range(100):  # the server checks every 2 s; bounded at 10 s
        try:
            urllib.request.urlopen(
                f"https://{server.url}/v2/health/live", context=trusting_second, timeout=2
            ).read()
            break
        except (ssl.SSLError, OSError):
            time.sleep(0.1)
    else:
        pytest.fail("the new certificate was not served")
    assert server.stop()[0] == 0

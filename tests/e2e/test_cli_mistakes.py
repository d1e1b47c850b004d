"""A new user's mistakes get one line naming the problem and the fix, never a traceback:
wrong paths to serve, the wrong port, a malformed file, a missing extra, a bad flag."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from modelport.cli import main
from tests.e2e.conftest import RunningServer, serve_args, start_server

pytestmark = pytest.mark.e2e


def modelport(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "modelport", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def one_line_error(run: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert run.returncode == code, (run.stdout, run.stderr)
    assert "Traceback" not in run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("modelport: "), run.stderr
    return lines[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- serve: what to serve ---------------------------------------------------------------


def test_serving_a_path_that_does_not_exist_exits(tmp_path: Path) -> None:
    error = one_line_error(modelport("serve", str(tmp_path / "nope")))
    assert "does not exist" in error
    error = one_line_error(modelport("serve", "--model-repository", str(tmp_path / "nope")))
    assert "does not exist" in error


def test_a_model_folder_given_as_repository_gets_the_hint(digits_repository: Path) -> None:
    model_dir = digits_repository / "digits"
    error = one_line_error(modelport("serve", "--model-repository", str(model_dir)))
    assert f"--model-repository {digits_repository}" in error and "is one model" in error


def test_a_model_folder_as_path_is_served_as_that_model(
    digits_repository: Path, tmp_path: Path
) -> None:
    server = start_server([str(digits_repository / "digits"), *serve_args(tmp_path)[2:]], tmp_path)
    from modelport.client import Client

    with Client(server.url) as client:
        assert client.metadata("digits").name == "digits"
    code, output = server.stop()
    assert code == 0 and "model digits version 1: READY" in output


def test_an_empty_repository_says_so(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    server = start_server(serve_args(tmp_path / "empty"), tmp_path)
    code, output = server.stop()
    assert code == 0 and "WARNING: model repository" in output and "holds no models" in output


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--workers", "0"], "--workers (MODELPORT_WORKERS) must be at least 1, got 0"),
        (["--http-port", "70000"], "--http-port (MODELPORT_HTTP_PORT) must be from 0 to 65535"),
        (["--max-request-bytes", "0"], "--max-request-bytes (MODELPORT_MAX_REQUEST_BYTES)"),
    ],
)
def test_bad_settings_are_refused(digits_repository: Path, flags: list[str], message: str) -> None:
    error = one_line_error(modelport("serve", str(digits_repository), *flags), code=2)
    assert message in error


def test_help_states_every_default() -> None:
    serve_help = modelport("serve", "--help").stdout
    for default in ("(default: 127.0.0.1)", "(default: 8000)", "(default: 8001)", "(default: 1)"):
        assert default in serve_help
    examples_help = " ".join(modelport("examples", "--help").stdout.split())  # unwrapped
    assert "mnist-torch: modelport[torch]" in examples_help and "(default: models)" in examples_help
    assert "(default: 127.0.0.1:8000)" in modelport("predict", "--help").stdout


def test_fraud_trains_with_lightgbm_when_asked(tmp_path: Path) -> None:
    pytest.importorskip("lightgbm")
    run = modelport("examples", "fraud", "--framework", "lightgbm", "--out", str(tmp_path))
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "fraud" / "1" / "model.txt").exists()
    error = one_line_error(modelport("examples", "digits", "--framework", "lightgbm"), code=2)
    assert "--framework applies to" in error


# --- predict: where and what to send ------------------------------------------------------


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sample") / "x.npy"
    np.save(path, np.zeros((1, 784), np.float32))
    return path


def test_rest_to_the_grpc_port_says_it_speaks_grpc(
    digits_server: RunningServer, sample: Path
) -> None:
    run = modelport("predict", "digits", "--url", digits_server.grpc_url, "--input", str(sample))
    assert "speaks gRPC (HTTP/2), not REST: use --protocol grpc" in one_line_error(run)


def test_grpc_to_the_http_port_says_it_speaks_http(
    digits_server: RunningServer, sample: Path
) -> None:
    url = digits_server.url
    run = modelport("predict", "digits", "--url", url, "--protocol", "grpc", "--input", str(sample))
    assert "speaks HTTP/1.1, not gRPC: use --protocol rest" in one_line_error(run)


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_nothing_listening_names_the_url(sample: Path, protocol: str) -> None:
    url = f"127.0.0.1:{free_port()}"
    run = modelport(
        "predict", "digits", "--url", url, "--protocol", protocol, "--input", str(sample)
    )
    error = one_line_error(run)
    assert url in error and "is modelport serving" in error


def test_a_malformed_json_file(digits_server: RunningServer, tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"input": [1, 2')
    run = modelport(
        "predict", "digits", "--url", digits_server.url, "--input", str(tmp_path / "bad.json")
    )
    assert "cannot read" in one_line_error(run) and "bad.json" in run.stderr


def test_a_missing_extra_is_named_by_its_install_name(
    digits_server: RunningServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "digit.png").write_bytes(b"\x89PNG not really")
    monkeypatch.setitem(sys.modules, "PIL", None)  # as on the default install: no pillow
    code = main(
        ["predict", "digits", "--url", digits_server.url, "--input", str(tmp_path / "digit.png")]
    )
    assert code == 1
    assert "pip install 'modelport[evaluate]'" in capsys.readouterr().err


def test_an_unknown_data_set(tmp_path: Path) -> None:
    np.savez(tmp_path / "no_labels.npz", x=np.zeros((2, 784)))
    for dataset in ("nope.txt", str(tmp_path / "no_labels.npz")):
        run = modelport(
            "evaluate", "digits", "--url", f"127.0.0.1:{free_port()}", "--dataset", dataset
        )
        assert "cannot use data set" in one_line_error(run)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--grpc-use-ssl", "true"], "--grpc-use-ssl true needs --grpc-server-cert"),
        (["--tls-cert", "c.pem"], "--tls-cert and --tls-key go together"),
        (["--api-keys", "/nope/keys.yaml"], "--api-keys: keys.yaml: cannot read"),
        (["--model-name", "../x"], "--model-name '../x': use letters"),
    ],
)
def test_security_flags_are_checked(
    digits_repository: Path, flags: list[str], message: str
) -> None:
    run = modelport("serve", str(digits_repository), "--http-port", "0", "--grpc-port", "0", *flags)
    assert message in run.stderr and "Traceback" not in run.stderr and run.returncode in (1, 2)

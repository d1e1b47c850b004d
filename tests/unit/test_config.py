from __future__ import annotations

import pytest

from modelport.config import ConfigError, VersionPolicy, parse_model_config
from modelport.settings import Settings, settings_from
from modelport.tensor import TensorSpec


def test_settings_env_then_flags() -> None:
    env = {
        "MODELPORT_HTTP_PORT": "9001",
        "MODELPORT_MODEL_REPOSITORIES": "a,b",
        "MODELPORT_STRICT_READINESS": "false",
        "MODELPORT_EXIT_TIMEOUT_SECS": "2.5",
    }
    settings = settings_from(env, http_port=None, host="0.0.0.0")
    assert settings.http_port == 9001
    assert settings.model_repositories == ("a", "b")
    assert settings.strict_readiness is False
    assert settings.exit_timeout_secs == 2.5
    assert settings.host == "0.0.0.0"
    assert settings_from(env, http_port=7).http_port == 7
    assert Settings().host == "127.0.0.1"  # loopback unless asked


def test_settings_env_errors_name_the_variable() -> None:
    with pytest.raises(ValueError, match="MODELPORT_HTTP_PORT='x'"):
        settings_from({"MODELPORT_HTTP_PORT": "x"})


def test_full_model_config() -> None:
    config = parse_model_config(
        """
name: renamed
max_batch_size: 8
input: [{name: x, data_type: TYPE_FP32, dims: [-1, 3]}]
outputs: [{name: y, datatype: FP32, shape: [-1, 2], label_file: y.txt}]
version_policy: {specific: {versions: [1, 3]}}
parameters: {intra_op_thread_count: 1}
""",
        "config.yaml",
    )
    assert config.name == "renamed" and config.max_batch_size == 8
    assert config.inputs == (TensorSpec("x", "FP32", (-1, 3)),)
    assert config.label_files == {"y": "y.txt"}
    assert config.version_policy.select([1, 2, 3, 4]) == [1, 3]
    assert config.parameters == {"intra_op_thread_count": 1}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\na: 2\n", "duplicate keys"),
        ("!!python/object/apply:os.system ['true']", "could not determine a constructor"),
        ("max_batch: 4", "unknown keys ['max_batch']"),
        ("max_batch_size: -1", "non-negative"),
        ("version_policy: {newest: {}}", "invalid version_policy"),
        ("inputs: [{name: x, datatype: FP33}]", "unsupported datatype"),
        ("[1, 2]", "mapping at the top level"),
    ],
)
def test_bad_model_configs(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_model_config(text, "config.yaml")


def test_json_config_refuses_duplicate_keys() -> None:
    with pytest.raises(ConfigError, match="duplicate key"):
        parse_model_config('{"name": "a", "name": "b"}', "config.json")


def test_version_policies() -> None:
    assert VersionPolicy().select([3, 1, 2]) == [3]
    assert VersionPolicy("latest", num_versions=2).select([3, 1, 2]) == [2, 3]
    assert VersionPolicy("all").select([3, 1]) == [1, 3]


def test_cloud_environments_set_port_host_and_model() -> None:
    from modelport.cli import platforms

    vertex = platforms.detect(
        {"AIP_HTTP_PORT": "8080", "AIP_PREDICT_ROUTE": "/p", "AIP_STORAGE_URI": "/m"}
    )
    assert (vertex.name, vertex.flags["http_port"], vertex.model_path) == ("Vertex AI", 8080, "/m")
    sagemaker = platforms.detect({"SAGEMAKER_BIND_TO_PORT": "9090"})
    assert (sagemaker.flags["http_port"], sagemaker.model_path) == (9090, "/opt/ml/model")
    assert platforms.detect({"AZUREML_MODEL_DIR": "/a"}).model_path == "/a"
    assert platforms.detect({}).name == ""
    flags = platforms.merged(sagemaker, {"http_port": 7000, "host": None}, {})
    assert flags == {"http_port": 7000, "host": "0.0.0.0"}  # an explicit flag wins
    assert platforms.merged(sagemaker, {"host": None}, {"MODELPORT_HOST": "127.0.0.1"}) == {
        "host": None,  # the MODELPORT_ variable wins, applied by settings_from
        "http_port": 9090,
    }

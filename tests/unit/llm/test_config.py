"""Deployment settings: camelCase aliases, env JSON parsing, clear errors, secrets kept out of reprs."""

import pytest
from pydantic import ValidationError

from chatfleet.chat.llm.config import (
    DEPLOYMENTS_ENV,
    DeploymentConfig,
    deployments_from_env,
    parse_deployments,
)
from chatfleet.contracts.azure_openai import DEFAULT_API_VERSION


def test_parses_camel_case_and_defaults() -> None:
    pool = parse_deployments(
        '[{"name": "east-ptu", "endpoint": "https://aoai-east.openai.azure.com/", "deployment": "gpt-4o",'
        ' "type": "ProvisionedManaged", "priority": 1, "tokensPerMinute": 90000},'
        ' {"name": "west", "endpoint": "https://aoai-west.openai.azure.com", "deployment": "gpt-4o",'
        ' "type": "GlobalStandard", "priority": 2, "weight": 50}]'
    )
    east, west = pool
    assert east.tokens_per_minute == 90000 and east.is_provisioned
    assert east.endpoint == "https://aoai-east.openai.azure.com"
    assert west.weight == 50 and west.api_version == DEFAULT_API_VERSION and west.api_key is None
    assert not west.is_provisioned


def test_errors_name_the_entry_and_field() -> None:
    with pytest.raises(ValueError, match=r"CHATFLEET_OPENAI_DEPLOYMENTS\[1\.weight\]"):
        parse_deployments(
            '[{"name": "a", "endpoint": "https://a.example", "deployment": "d"},'
            ' {"name": "b", "endpoint": "https://b.example", "deployment": "d", "weight": 5000}]'
        )


def test_rejects_unknown_type_and_plain_http() -> None:
    with pytest.raises(ValueError, match=r"\[0\.type\]"):
        parse_deployments(
            '[{"name": "a", "endpoint": "https://a.example", "deployment": "d", "type": "Free"}]'
        )
    with pytest.raises(ValueError, match="https"):
        parse_deployments('[{"name": "a", "endpoint": "http://aoai.example.com", "deployment": "d"}]')


def test_loopback_http_is_allowed_for_the_simulator() -> None:
    config = DeploymentConfig(name="sim", endpoint="http://127.0.0.1:8090", deployment="gpt")
    assert config.endpoint == "http://127.0.0.1:8090"
    # in-cluster Service names, as the ChatApplication CRD allows them
    for endpoint in ("http://aoai-gateway.ai.svc:8080", "http://gw.ai.svc.cluster.local"):
        assert DeploymentConfig(name="gw", endpoint=endpoint, deployment="gpt").endpoint == endpoint
    for endpoint in ("http://svc.example.com", "http://evil.svc.example.com", "ftp://127.0.0.1", "https://"):
        with pytest.raises(ValidationError, match=r"\*\.svc"):
            DeploymentConfig(name="gw", endpoint=endpoint, deployment="gpt")


def test_duplicate_names_and_empty_pool_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"unique.*a"):
        parse_deployments(
            '[{"name": "a", "endpoint": "https://a.example", "deployment": "d"},'
            ' {"name": "a", "endpoint": "https://b.example", "deployment": "d"}]'
        )
    with pytest.raises(ValueError, match="at least one"):
        parse_deployments("[]")


def test_malformed_json_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=DEPLOYMENTS_ENV):
        parse_deployments("[{not json")


def test_api_key_never_shows_in_repr_or_dump() -> None:
    config = DeploymentConfig(name="a", endpoint="https://a.example", deployment="d", apiKey="s3cr3t-value")
    assert "s3cr3t-value" not in repr(config)
    assert "s3cr3t-value" not in config.model_dump_json()
    assert config.api_key is not None and config.api_key.get_secret_value() == "s3cr3t-value"


def test_from_env() -> None:
    env = {DEPLOYMENTS_ENV: '[{"name": "a", "endpoint": "https://a.example", "deployment": "d"}]'}
    assert deployments_from_env(env)[0].name == "a"
    with pytest.raises(ValueError, match="not set"):
        deployments_from_env({})

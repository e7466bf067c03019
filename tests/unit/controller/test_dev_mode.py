"""CHATFLEET_OPERATOR_DEV_MODE: only the chat pods' settings change, and the chat service reads them."""

from __future__ import annotations

import copy

from chatfleet.chat.config import Settings
from chatfleet.controller.dev_mode import local_dev_mode
from chatfleet.controller.loading import parse_application
from chatfleet.controller.render import render
from chatfleet.controller.settings import OperatorSettings


def test_only_the_settings_config_maps_turn_to_dev_mode(make_app) -> None:
    children = render(parse_application(make_app({"metadata": {"uid": "u-1"}})))
    before = copy.deepcopy(children)
    changed = local_dev_mode(children)
    assert children == before, "the input is not modified"
    assert [c["kind"] for c in changed] == [c["kind"] for c in children]
    configs = [c for c in changed if c["kind"] == "ConfigMap"]
    assert configs, "render has a settings ConfigMap"
    for config in configs:
        assert config["data"]["CHATFLEET_DEV_MODE"] == "true"
        assert config["data"]["CHATFLEET_AUTH_MODE"] == "none"
    others = [(a, b) for a, b in zip(children, changed, strict=True) if a["kind"] != "ConfigMap"]
    assert all(a == b for a, b in others)


def test_the_chat_service_reads_dev_mode_and_a_key_for_each_deployment(make_app, monkeypatch) -> None:
    (config,) = [c for c in local_dev_mode(render(parse_application(make_app()))) if c["kind"] == "ConfigMap"]
    for name, value in config["data"].items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert (settings.dev_mode, settings.auth_mode) == (True, "none")
    assert settings.openai_deployments, "the pool is kept"
    for deployment in settings.openai_deployments:
        assert deployment.api_key is not None and deployment.api_key.get_secret_value() == "local-simulator"


def test_it_is_off_unless_the_platform_turns_it_on(monkeypatch) -> None:
    monkeypatch.delenv("CHATFLEET_OPERATOR_DEV_MODE", raising=False)
    assert OperatorSettings().dev_mode is False
    monkeypatch.setenv("CHATFLEET_OPERATOR_DEV_MODE", "true")
    assert OperatorSettings().dev_mode is True

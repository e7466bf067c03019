"""docs/chat-service.md must list every CHATFLEET_ setting (the settings table is the contract)."""

from chatfleet.chat.config import Settings
from chatfleet.paths import REPO_ROOT


def test_every_setting_is_in_the_docs_table() -> None:
    doc = (REPO_ROOT / "docs" / "chat-service.md").read_text(encoding="utf-8")
    names = [f"CHATFLEET_{name.upper()}" for name in Settings.model_fields]
    missing = [name for name in names if f"`{name}`" not in doc]
    assert missing == [], f"undocumented settings: {missing}"

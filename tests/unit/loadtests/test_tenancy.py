"""A leak is another tenant's document in an answer's citations or data points."""

from pathlib import Path

from chatfleet.loadtests.tenancy import TenantCorpus, cited_sources, normalize_source
from chatfleet.paths import EXAMPLES_DIR

CORPUS = TenantCorpus.from_directory(EXAMPLES_DIR / "corpus")


def test_sample_corpus_has_both_tenants() -> None:
    assert {"contoso", "fabrikam"} <= CORPUS.tenants


def test_source_names_normalize_to_the_document() -> None:
    assert normalize_source("fabrikam/thermostat-install.md#chunk-2") == "thermostat-install.md"
    assert normalize_source(" VPN-Setup.md#page=3 ") == "vpn-setup.md"


def test_citations_are_found_in_text() -> None:
    assert cited_sources("Use the portal [vpn-setup.md#1]. Also [expense-policy.md].") == {
        "vpn-setup.md#1",
        "expense-policy.md",
    }


def test_own_documents_are_no_leak() -> None:
    points = {
        "text": ["vpn-setup.md#1: Install the client"],
        "citations": [{"id": "vpn-setup.md#1", "source": "vpn-setup.md"}],
    }
    assert CORPUS.leaks("contoso", "Install it [vpn-setup.md#1].", points) == []


def test_other_tenants_document_in_text_or_data_points_is_a_leak() -> None:
    points = {
        "text": ["thermostat-install.md#2: wiring"],
        "citations": [{"id": "thermostat-install.md#2", "source": "fabrikam/thermostat-install.md"}],
    }
    leaks = CORPUS.leaks("contoso", "Wire it [thermostat-install.md#2].", points)
    assert leaks[0] == "cited thermostat-install.md#2"
    assert "data point thermostat-install.md#2" in leaks
    assert len(leaks) == len(set(leaks))


def test_data_point_with_foreign_tenant_field_is_a_leak(tmp_path: Path) -> None:
    points = {"citations": [{"id": "x#1", "source": "x.md", "tenant": "fabrikam"}]}
    assert TenantCorpus.from_directory(tmp_path).leaks("contoso", "", points) == [
        "data point x.md of tenant fabrikam"
    ]


def test_shared_and_unknown_documents_are_not_leaks(tmp_path: Path) -> None:
    for tenant in ("a", "b"):
        (tmp_path / tenant).mkdir()
        (tmp_path / tenant / "shared.md").write_text("same")
    corpus = TenantCorpus.from_directory(tmp_path)
    assert corpus.leaks("a", "[shared.md#1] [made-up.md]", None) == []

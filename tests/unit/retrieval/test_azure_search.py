"""Azure AI Search pieces that run without a service: the OData filter, query arguments, schema, keys."""

import re

import numpy as np
import pytest

from chatfleet.chat.embeddings import load_embedder
from chatfleet.chat.ingest.azure_target import document_key, documents, index_schema
from chatfleet.chat.retrieval import Principal
from chatfleet.chat.retrieval.azure_search import AzureSearchRetriever
from chatfleet.chat.retrieval.local_index import ChunkRecord
from chatfleet.chat.retrieval.odata_filter import odata_literal, principal_filter


def literals(odata: str) -> list[str]:
    """Every string literal of an OData expression, unescaped: what the service will compare against."""
    return [m.replace("''", "'") for m in re.findall(r"'((?:[^']|'')*)'", odata)]


def structure(odata: str) -> str:
    """The expression with each literal replaced by ?, i.e. its shape."""
    return re.sub(r"'(?:[^']|'')*'", "?", odata)


def test_filter_shape_for_a_typical_principal():
    odata = principal_filter(Principal("contoso", oid="u1", groups=("g1", "g2")))
    assert odata == (
        "tenant eq 'contoso' and ((not acl_oids/any() and not acl_groups/any()) or "
        "acl_oids/any(o: o eq 'u1') or acl_groups/any(g: search.in(g, 'g1,g2', ',')))"
    )


@pytest.mark.parametrize(
    "hostile",
    [
        "x' or tenant ne 'x",
        "x') or true or ('",
        "' or 1 eq 1 or tenant eq '",
        "contoso'--",
        "a''b",
        "x\\' or '1' eq '1",
        "t\n or true",
    ],
)
def test_injection_attempts_stay_inside_one_literal(hostile):
    reference = principal_filter(Principal("t", oid="o", groups=("g",)))
    for principal in (
        Principal(hostile, oid="o", groups=("g",)),
        Principal("t", oid=hostile, groups=("g",)),
        Principal("t", oid="o", groups=(hostile,)),
    ):
        odata = principal_filter(principal)
        assert structure(odata) == structure(reference), odata
        assert hostile in literals(odata) or any(hostile in v for v in literals(odata))


def test_group_containing_the_delimiter_cannot_become_two_groups():
    odata = principal_filter(Principal("t", groups=("sales,hr", "x")))
    assert "search.in" not in odata
    assert "g eq 'sales,hr' or g eq 'x'" in odata


def test_filter_requires_a_tenant_and_rejects_nul():
    with pytest.raises(ValueError):
        principal_filter(Principal(""))
    with pytest.raises(ValueError):
        odata_literal("a\x00b")


def test_no_oid_no_groups_sees_only_unrestricted_chunks():
    assert (
        principal_filter(Principal("t"))
        == "tenant eq 't' and ((not acl_oids/any() and not acl_groups/any()))"
    )


class _ClientThatMustNotBeCalled:
    async def close(self) -> None:
        return None


def test_search_arguments_always_carry_the_filter_and_pick_hybrid_semantic():
    retriever = AzureSearchRetriever(
        "https://s.example", "idx", client=_ClientThatMustNotBeCalled(), embedder=load_embedder("wordllama")
    )
    principal = Principal("contoso", oid="u1")
    hybrid = retriever.search_arguments("reset router", principal, top=3, mode="hybrid", semantic_ranker=True)
    assert hybrid["filter"] == principal_filter(principal)
    assert hybrid["search_text"] == "reset router"
    assert hybrid["query_type"] == "semantic"
    assert hybrid["semantic_configuration_name"] == "default"
    (vector_query,) = hybrid["vector_queries"]
    assert vector_query.fields == "embedding" and len(vector_query.vector) == 256
    vectors = retriever.search_arguments("x", principal, top=3, mode="vectors", semantic_ranker=True)
    assert vectors["search_text"] is None and "query_type" not in vectors
    text = retriever.search_arguments("x", principal, top=3, mode="text", semantic_ranker=False)
    assert "vector_queries" not in text and "query_type" not in text
    assert all(args["filter"] for args in (hybrid, vectors, text))


def test_index_vectorizer_used_when_no_local_embedder():
    retriever = AzureSearchRetriever("https://s.example", "idx", client=_ClientThatMustNotBeCalled())
    (query,) = retriever.search_arguments("q", Principal("t"), top=1, mode="hybrid", semantic_ranker=False)[
        "vector_queries"
    ]
    assert query.text == "q"


def test_index_schema_matches_what_the_retriever_queries():
    schema = index_schema("support", 256)
    fields = {f.name: f for f in schema.fields}
    assert fields["id"].key
    assert fields["tenant"].filterable and fields["acl_oids"].filterable and fields["acl_groups"].filterable
    assert fields["embedding"].vector_search_dimensions == 256
    types = {name: field.type for name, field in fields.items()}
    assert types["id"] == "Edm.String" and types["chunk"] == "Edm.Int32"
    assert types["acl_oids"] == "Collection(Edm.String)" and types["embedding"] == "Collection(Edm.Single)"
    assert schema.semantic_search.configurations[0].name == "default"


def test_document_keys_are_valid_and_unique():
    keys = {document_key(t, s, c) for t in ("a", "b") for s in ("x.md", "x.md#1", "ü/€.md") for c in (0, 1)}
    assert len(keys) == 12
    assert all(re.fullmatch(r"[A-Za-z0-9_\-=]+", k) for k in keys)
    docs = documents("t", "s.md", "h", [ChunkRecord(0, "T", "C")], np.ones((1, 4)), ["o"], [])
    assert docs[0]["tenant"] == "t" and docs[0]["acl_oids"] == ["o"] and docs[0]["embedding"] == [1.0] * 4

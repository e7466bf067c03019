"""Cross-tenant retrieval through the real API: a tenant never sees another tenant's (or a group's) chunks,
whatever the request body or headers claim."""

import pytest

pytestmark = pytest.mark.service

# Questions about content that exists only in the other tenant's documents.
FABRIKAM_QUESTIONS = ["What do thermostat error codes mean?", "How do I set up the Fabrikam camera?"]
CONTOSO_QUESTIONS = ["How do I connect to the VPN?", "What is the parental leave policy?"]


def sources(body: dict) -> list[str]:
    data_points = body["context"]["data_points"]
    return [str(p) for p in data_points.get("text", [])] if isinstance(data_points, dict) else []


def question(text: str, **context: object) -> dict:
    return {"messages": [{"role": "user", "content": text}], "context": context}


async def test_each_tenant_sees_only_its_own_documents(service, issuer):
    async with service.client(issuer.token(tid="contoso")) as contoso:
        for text in FABRIKAM_QUESTIONS + CONTOSO_QUESTIONS:
            body = (await contoso.post("/chat", json=question(text))).json()
            assert not any("fabrikam" in s.lower() for s in sources(body)), body
            assert "Fabrikam" not in body["message"]["content"]
    async with service.client(issuer.token(tid="fabrikam")) as fabrikam:
        for text in CONTOSO_QUESTIONS + FABRIKAM_QUESTIONS:
            body = (await fabrikam.post("/chat", json=question(text))).json()
            assert not any("contoso" in s.lower() for s in sources(body)), body
        body = (await fabrikam.post("/chat", json=question(FABRIKAM_QUESTIONS[0]))).json()
        assert sources(body), "fabrikam must find its own thermostat documents"


@pytest.mark.parametrize(
    "attempt",
    [
        {"overrides": {"tenant": "fabrikam"}},
        {"overrides": {"include_category": "fabrikam"}},
        {"tenant": "fabrikam"},
        {"overrides": {"top": 50, "minimum_search_score": 0}},
    ],
)
async def test_request_fields_cannot_widen_the_tenant(service, issuer, attempt):
    async with service.client(issuer.token(tid="contoso"), **{"X-Chatfleet-Tenant": "fabrikam"}) as client:
        response = await client.post("/chat", json=question(FABRIKAM_QUESTIONS[0], **attempt))
    assert response.status_code in (200, 422), response.text
    if response.status_code == 200:
        assert not any("fabrikam" in s.lower() for s in sources(response.json()))


async def test_group_acl_documents_need_the_group_claim(service, issuer):
    ask = question("What is the confidential salary band for level 63 engineers?", overrides={"top": 10})
    async with service.client(issuer.token(tid="contoso", groups=["sales"])) as outsider:
        body = (await outsider.post("/chat", json=ask)).json()
        assert not any("salary-bands" in s for s in sources(body))
    async with service.client(issuer.token(tid="contoso", groups=["hr-group"])) as member:
        body = (await member.post("/chat", json=ask)).json()
        assert any("salary-bands" in s for s in sources(body)), body
    async with service.client(issuer.token(tid="fabrikam", groups=["hr-group"])) as other_tenant:
        body = (await other_tenant.post("/chat", json=ask)).json()
        assert not any("salary-bands" in s for s in sources(body))

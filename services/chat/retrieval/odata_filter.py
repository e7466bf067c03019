"""OData filter strings for Azure AI Search, built so that no caller-supplied value can change their shape.

Values come from a verified token, but a token's claims are still data: a tenant named
`x' or tenant ne 'x` must stay one string literal. OData escapes a quote inside a literal by doubling it.
"""

from chatfleet.chat.retrieval.base import Principal

GROUP_DELIMITER = ","


def odata_literal(value: str) -> str:
    """A quoted OData string literal; single quotes doubled (the only escape OData string literals have)."""
    if "\x00" in value:
        raise ValueError("NUL is not allowed in a filter value")
    return "'" + value.replace("'", "''") + "'"


def principal_filter(principal: Principal) -> str:
    """tenant eq T and (chunk has no ACL or the caller's oid or one of its groups is on it)."""
    if not principal.tenant:
        raise ValueError("a principal without a tenant cannot search")
    visible = ["(not acl_oids/any() and not acl_groups/any())"]
    if principal.oid:
        visible.append(f"acl_oids/any(o: o eq {odata_literal(principal.oid)})")
    groups = [g for g in principal.groups if g]
    if groups:
        if any(GROUP_DELIMITER in g for g in groups):
            # search.in would split such a value into two groups: compare each one exactly instead.
            visible.append(
                "acl_groups/any(g: " + " or ".join(f"g eq {odata_literal(g)}" for g in groups) + ")"
            )
        else:
            joined = odata_literal(GROUP_DELIMITER.join(groups))
            visible.append(f"acl_groups/any(g: search.in(g, {joined}, '{GROUP_DELIMITER}'))")
    return f"tenant eq {odata_literal(principal.tenant)} and ({' or '.join(visible)})"

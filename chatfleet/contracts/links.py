"""Which hosts answers may link to: one pattern for the CRD (CEL) and the chat service's setting, so the API
server refuses exactly what the service would refuse at start-up."""

from __future__ import annotations

# `docs.contoso.com`, or `*.contoso.com` for its subdomains: lower case, no scheme, port or path.
# RE2 (CEL) and Python `re` read it the same way.
LINK_HOST_PATTERN = r"^(\*\.)?[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?)*$"
LINK_HOST_MESSAGE = (
    "must be a host name (lower case, no scheme, port or path; `*.` allows the subdomains of a domain)"
)

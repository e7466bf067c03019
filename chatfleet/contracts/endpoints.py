"""Which URLs an upstream may have: https, and plain http only where traffic stays on the machine or
in the cluster. One regex per policy serves both enforcers: Python full-matches it, and the CRD's CEL rule
is generated from it (`cel_rule`), so the API server and the chat service accept exactly the same URLs.

Two policies, chosen deliberately:
- `UPSTREAM` (Azure OpenAI, Azure AI Search, Content Safety): https; http only for loopback (the local
  simulator) and in-cluster Service names `<svc>.<ns>.svc[.cluster.local]` (a simulator or a gateway in
  the cluster). Azure's own endpoints serve https only; an in-cluster http hop carries the router's Entra
  token or API key in clear on the pod network unless a mesh encrypts it, so prefer https there too.
- `IDENTITY` (issuer, JWKS): https; http only for loopback (local test issuers). The signing keys are the
  trust anchor of every tenant boundary; a plain-http fetch inside the cluster could be answered by
  anyone able to spoof the Service, so the in-cluster exception does not apply.
- `SIGN_IN` (the authority the chat page signs in at): https only, no query or fragment, since MSAL.js
  refuses any other authority even on loopback; the host is plain URL host characters because its origin
  goes into the page's Content-Security-Policy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# RE2 (CEL) and Python `re` read these the same way: ASCII classes only, no case folding, no `\s`.
_LOOPBACK_IPV4 = r"127(\.[0-9]{1,3}){3}"
_LOOPBACK_URL_HOST = rf"(localhost|{_LOOPBACK_IPV4}|\[::1\])"
_IN_CLUSTER_HOST = r"([a-z0-9-]+\.)+svc(\.cluster\.local)?"
_PORT_AND_REST = r"(:[0-9]{1,5})?([/?#][!-~]*)?"
_HTTPS = r"https://[-A-Za-z0-9._~%:@\[\]]+([/?#][!-~]*)?"
_HTTP_LOOPBACK = rf"http://{_LOOPBACK_URL_HOST}{_PORT_AND_REST}"
_HTTP_IN_CLUSTER = rf"http://{_IN_CLUSTER_HOST}{_PORT_AND_REST}"
_LOOPBACK_HOST = re.compile(rf"localhost|{_LOOPBACK_IPV4}|::1")


@dataclass(frozen=True)
class EndpointRule:
    """One policy: the regex a whole URL must match and the message both enforcers give."""

    pattern: str
    message: str

    def allows(self, url: str) -> bool:
        return re.fullmatch(self.pattern, url) is not None

    def cel_rule(self) -> str:
        """The CEL twin; `matches` searches, so the pattern is anchored at both ends."""
        return f"self.matches(r'^({self.pattern})$')"

    def require(self, url: str, what: str) -> str:
        """`url` when allowed; otherwise a ValueError naming the setting (`what`) and the URL."""
        if not self.allows(url):
            raise ValueError(f"{what} {self.message}: {url!r}")
        return url


UPSTREAM = EndpointRule(
    pattern=f"{_HTTPS}|{_HTTP_LOOPBACK}|{_HTTP_IN_CLUSTER}",
    message="must be an https:// URL "
    "(http:// only for localhost, 127.x.x.x, [::1], *.svc or *.svc.cluster.local)",
)
IDENTITY = EndpointRule(
    pattern=f"{_HTTPS}|{_HTTP_LOOPBACK}",
    message="must be an https:// URL (http:// only for localhost, 127.x.x.x or [::1])",
)


def is_loopback_host(host: str) -> bool:
    """A host name or address (no brackets) that never leaves the machine, by the rules' own spelling."""
    return _LOOPBACK_HOST.fullmatch(host) is not None
SIGN_IN = EndpointRule(
    pattern=r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[-A-Za-z0-9._~%!$&()*+,;=:@/]*)?",
    message="must be an https:// URL without query or fragment (MSAL.js signs in at https authorities only)",
)

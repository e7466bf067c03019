"""The one error type of authentication: an HTTP status, the RFC 6750 challenge and a safe message.

The message never contains token contents or claim values; it names what failed so a developer can fix
the client, and nothing an attacker could use to probe the keys.
"""

from __future__ import annotations

from chatfleet.chat.problems import FORBIDDEN, NOT_READY, UNAUTHORIZED, ProblemType


class AuthError(Exception):
    """401 (bad/missing token), 403 (tenant not served, or a required scope/role missing) or 503 (signing
    keys unavailable)."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 401,
        error: str | None = "invalid_token",
        scope: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.scope = scope

    @property
    def headers(self) -> dict[str, str]:
        """`WWW-Authenticate` for 401s and for 403 `insufficient_scope` (with the `scope` the resource
        needs); no error code when no token was sent at all (RFC 6750 3.1)."""
        if self.status != 401 and not (self.status == 403 and self.error):
            return {}
        challenge = 'Bearer realm="chatfleet"'
        if self.error:
            challenge += f', error="{self.error}"'
        if self.scope:
            challenge += f', scope="{self.scope}"'
        return {"WWW-Authenticate": challenge}

    @property
    def problem(self) -> ProblemType:
        """The problem type the api layer answers this failure with."""
        return {401: UNAUTHORIZED, 403: FORBIDDEN}.get(self.status, NOT_READY)

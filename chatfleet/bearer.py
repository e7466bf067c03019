"""Bearer tokens the gate's clients (`chatfleet loadtest`, `chatfleet eval run`) mint themselves, so a gate
never runs with a token that expired.

Two sources, both azure-identity credentials: `client-credentials` (an app registration's secret in
AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET, optional AZURE_AUTHORITY_HOST) and
`workload-identity` (the pod's federated token the workload identity webhook projects). The token is
minted before the run and kept fresh in a 0600 file the clients re-read (`TokenFile`): a thread
asks the credential again every `CHECK_INTERVAL_S`, and azure-identity answers from its cache until the
token nears expiry, then mints a new one. Tokens and secrets are never logged or put on argv.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from azure.core.credentials import TokenCredential
from azure.core.exceptions import ClientAuthenticationError

from chatfleet.contracts.loadtest import TokenSource

CHECK_INTERVAL_S = 30.0
log = logging.getLogger(__name__)


class TokenSourceError(RuntimeError):
    """The source cannot mint a token (missing settings, refused credentials); the message has no secret."""


_CLIENT_CREDENTIALS_ENV = ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET")


def credential(source: TokenSource) -> TokenCredential:
    """The azure-identity credential of a minting source, from the standard AZURE_* variables."""
    from azure.identity import ClientSecretCredential, WorkloadIdentityCredential

    if source == TokenSource.CLIENT_CREDENTIALS:
        missing = [name for name in _CLIENT_CREDENTIALS_ENV if not os.environ.get(name)]
        if missing:
            raise TokenSourceError(f"client-credentials needs {', '.join(missing)} in the environment")
        tenant, client, secret = (os.environ[name] for name in _CLIENT_CREDENTIALS_ENV)
        authority = os.environ.get("AZURE_AUTHORITY_HOST")
        # a named authority (another cloud, a test issuer) is trusted as given: no instance discovery
        # against the public cloud's metadata
        extra = {"authority": authority, "disable_instance_discovery": True} if authority else {}
        try:
            return ClientSecretCredential(tenant, client, secret, **extra)
        except ValueError as error:
            raise TokenSourceError(f"client-credentials: {error}") from None
    if source == TokenSource.WORKLOAD_IDENTITY:
        try:
            return WorkloadIdentityCredential()
        except ValueError as error:  # the webhook did not inject the AZURE_* variables
            raise TokenSourceError(
                f"workload-identity: {error} (is the pod labelled azure.workload.identity/use=true and its "
                "ServiceAccount annotated with the identity's client id?)"
            ) from None
    raise TokenSourceError(f"{source} tokens are not minted")


class MintedToken:
    """A token of `scope` kept fresh in `path` for the duration of a run (a context manager)."""

    def __init__(self, credential: TokenCredential, scope: str, path: Path) -> None:
        self._credential = credential
        self._scope = scope
        self.path = path
        self._token = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep_fresh, name="token-refresh", daemon=True)

    def __enter__(self) -> MintedToken:
        self.refresh()  # a source that cannot mint fails the run before any load is sent
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.path.unlink(missing_ok=True)

    def refresh(self) -> None:
        """Asks the credential (cached until near expiry) and rewrites the file when the token changed."""
        try:
            token = self._credential.get_token(self._scope).token
        except ClientAuthenticationError as error:
            raise TokenSourceError(f"cannot get a token for {self._scope}: {_first_line(error)}") from None
        if token == self._token:
            return
        scratch = self.path.with_suffix(".new")
        scratch.touch(mode=0o600)
        scratch.write_text(token, encoding="utf-8")
        scratch.replace(self.path)  # atomic: a user never reads half a token
        self._token = token

    def _keep_fresh(self) -> None:
        while not self._stop.wait(CHECK_INTERVAL_S):
            try:
                self.refresh()
            except TokenSourceError as error:  # the old token is valid a while longer; the next check retries
                log.warning("token refresh failed, retrying in %.0f s: %s", CHECK_INTERVAL_S, error)


def _first_line(error: Exception) -> str:
    """azure-identity's messages name the credential and the authority's error code, not the secret."""
    return str(error.message if isinstance(error, ClientAuthenticationError) else error).splitlines()[0]


@contextlib.contextmanager
def minted_token_file(source: TokenSource, scope: str) -> Iterator[Path | None]:
    """The file of a token minted for this run and kept fresh until it ends (None for static tokens)."""
    if source == TokenSource.STATIC:
        yield None
        return
    with (
        tempfile.TemporaryDirectory(prefix="chatfleet-token-") as scratch,
        MintedToken(credential(source), scope, Path(scratch) / "token") as minted,
    ):
        yield minted.path


class TokenFile:
    """A minted token's file, read again only when it was replaced (one stat per request)."""

    def __init__(self) -> None:
        self._seen: tuple[int, str] | None = None

    def read(self, path: Path) -> str | None:
        try:
            changed = path.stat().st_mtime_ns
            if self._seen is None or self._seen[0] != changed:
                self._seen = (changed, path.read_text(encoding="utf-8").strip())
        except OSError:
            return self._seen[1] if self._seen else None
        return self._seen[1] or None

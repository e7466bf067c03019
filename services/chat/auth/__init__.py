"""Who is calling: Entra ID bearer tokens validated against the issuer's JWKS, or the dev-only header mode."""

from chatfleet.chat.auth.authenticator import AuthConfig, Authenticator
from chatfleet.chat.auth.errors import AuthError
from chatfleet.chat.auth.jwks import JwksCache

__all__ = ["AuthConfig", "AuthError", "Authenticator", "JwksCache"]

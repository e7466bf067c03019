// The browser sign-in test's OpenID Connect provider: panva's oidc-provider (a certified OpenID Provider
// implementation), not a hand-made imitation. One public SPA client (authorization code + PKCE, refresh
// tokens), JWT access tokens for one API audience with a short lifetime, served over https (MSAL refuses
// http authorities) with the test's certificate. Its own login and consent forms are the dev interactions
// (any login name and password are accepted; the login name becomes `sub`).
//
// Usage: node provider.mjs '<json>' with {cert, key, clientId, redirectUri, audience, scope,
// accessTokenTtlS, tenant, eventsFile}. Prints {"issuer": "..."} on stdout once it listens; appends one JSON
// line per grant (type, issued access token's jti) to eventsFile so the test can tell a refresh from a login.

import { appendFileSync, readFileSync } from "node:fs";
import { createServer } from "node:https";
import { generateKeyPair, exportJWK } from "jose";
import Provider, { errors } from "oidc-provider";

const options = JSON.parse(process.argv[2]);
const server = createServer({ cert: readFileSync(options.cert), key: readFileSync(options.key) });
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const issuer = `https://127.0.0.1:${server.address().port}`;

const { privateKey } = await generateKeyPair("RS256", { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), use: "sig", alg: "RS256" };
const apiInfo = {
  scope: options.scope,
  audience: options.audience,
  accessTokenTTL: options.accessTokenTtlS,
  accessTokenFormat: "jwt",
  jwt: { sign: { alg: "RS256" } },
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: options.clientId,
    application_type: "web",
    token_endpoint_auth_method: "none",  // a public client: the SPA holds no secret, PKCE binds the code
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    redirect_uris: [options.redirectUri],
    post_logout_redirect_uris: [options.redirectUri],
  }],
  // The API scope is also a provider scope, so it is part of the refresh token's scope: MSAL asks for it again
  // on renewal, and oidc-provider refuses a refresh request for scopes the refresh token lacks.
  scopes: ["openid", "offline_access", "profile", options.scope],
  jwks: { keys: [signingKey] },
  cookies: { keys: [Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex")] },
  pkce: { required: () => true },
  // CORS for the token endpoint: only the registered SPA's origin (what the default allows, made explicit).
  clientBasedCORS: (ctx, origin, client) => client.redirectUris.some((uri) => new URL(uri).origin === origin),
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => options.audience,  // MSAL sends scopes, not RFC 8707 resource parameters
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => {
        if (resource !== options.audience) throw new errors.InvalidTarget();
        return apiInfo;
      },
    },
  },
  // Entra-shaped access tokens: the tenant in `tid`, the user in `oid` (what the chat service keys history by).
  extraTokenClaims: (ctx, token) => ({ tid: options.tenant, oid: token.accountId }),
  ttl: { AccessToken: options.accessTokenTtlS, IdToken: 3600, RefreshToken: 3600, Session: 3600, Grant: 3600 },
});
provider.on("grant.success", (ctx) => {
  const body = ctx.body || {};
  const event = {
    grant_type: ctx.oidc.params.grant_type,
    access_token: body.access_token || null,
    refresh_token_issued: Boolean(body.refresh_token),
  };
  appendFileSync(options.eventsFile, JSON.stringify(event) + "\n");
});
provider.on("grant.error", (ctx, error) => console.error("oidc-provider grant.error", error.message, error.error_description));
provider.on("server_error", (ctx, error) => console.error("oidc-provider server_error", error));

server.on("request", provider.callback());
console.log(JSON.stringify({ issuer }));

"use strict";
// Sign-in with MSAL.js (@azure/msal-browser, vendored as /static/msal-browser.min.js, which defines `msal`):
// the authorization-code flow with PKCE by full-page redirect, tokens in sessionStorage (gone with the tab).
// Before each API call the page awaits `signin.token()`: the cached access token while it has more than
// `renewal_offset_s` left, else a new one redeemed with the refresh token, without the user (no hidden
// iframe, so the CSP needs no frame-src); when that fails (refresh token expired or revoked, consent
// needed) the user is sent to the authority again. `/config`'s auth block says where and how: client id,
// authority, scopes and the protocol (`entra`, MSAL's default; `oidc` for any other OpenID Connect
// provider, whose host MSAL must be told is known since it cannot ask Entra's instance discovery).
// Loaded after msal-browser.min.js and before the page script, which calls `signin.start(auth)` once.
const signin = (() => {
  let app = null;
  let scopes = [];
  let oidc = false;
  // OpenID Connect Core §11: a provider grants offline_access (the refresh token that renewal needs) only
  // when the request says prompt=consent; Entra issues SPA refresh tokens without it.
  const interactive = () => (oidc ? { prompt: "consent" } : {});

  async function start(auth) {
    if (!auth.client_id || !auth.authority) throw new Error("sign-in is not configured (client id, authority)");
    oidc = auth.protocol === "oidc";
    scopes = auth.scopes;
    app = new msal.PublicClientApplication({
      auth: {
        clientId: auth.client_id,
        authority: auth.authority,
        knownAuthorities: oidc ? [new URL(auth.authority).host] : [],
        redirectUri: location.origin + "/",
        postLogoutRedirectUri: location.origin + "/",
      },
      cache: { cacheLocation: msal.BrowserCacheLocation.SessionStorage },
      system: {
        protocolMode: oidc ? msal.ProtocolMode.OIDC : msal.ProtocolMode.AAD,
        tokenRenewalOffsetSeconds: auth.renewal_offset_s,
      },
    });
    await app.initialize();
    const result = await app.handleRedirectPromise();  // back from the authority: redeems the code
    const account = result ? result.account : app.getActiveAccount() || app.getAllAccounts()[0] || null;
    if (account) app.setActiveAccount(account);
    return account;
  }

  const signIn = () => app.loginRedirect({ scopes, ...interactive() });

  async function token() {
    const account = app.getActiveAccount();
    if (!account) {
      await signIn();
      throw new Error("Signing in…");
    }
    try {
      const result = await app.acquireTokenSilent({
        scopes, account, cacheLookupPolicy: msal.CacheLookupPolicy.AccessTokenAndRefreshToken,
      });
      return result.accessToken;
    } catch (err) {
      if (!(err instanceof msal.InteractionRequiredAuthError)) throw err;
      await app.acquireTokenRedirect({ scopes, account, ...interactive() });
      throw new Error("Your sign-in expired; signing in again…");
    }
  }

  // RP-Initiated Logout: an OIDC provider returns to post_logout_redirect_uri only when it can tell the client,
  // from id_token_hint; Entra identifies the session by the account's logout_hint, which MSAL sends itself.
  function signOut() {
    const account = app.getActiveAccount();
    return app.logoutRedirect({ account, ...(oidc ? { idTokenHint: account && account.idToken } : {}) });
  }

  return { start, signIn, token, signOut };
})();

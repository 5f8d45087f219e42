// Stand-in for @actions/http-client in the bundle. @actions/core imports it only for
// getIDToken (OIDC), which Bisect Bot never calls; the real client drags in undici (~900 KB) and
// adds ~90 ms to every start of the Action. Anything that does reach it fails loudly.
const unavailable = () => {
  throw new Error("@actions/http-client is not bundled with Bisect Bot (OIDC is not used).");
};
export class HttpClient {
  constructor() {
    unavailable();
  }
}
export class BearerCredentialHandler {
  constructor() {
    unavailable();
  }
}

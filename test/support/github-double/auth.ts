/**
 * GitHub App authentication as GitHub checks it: an RS256 JWT signed with the app's private key
 * to mint installation tokens, then `token <t>` / `Bearer <t>` with a live token everywhere else.
 */
import { createPublicKey, randomBytes, verify, type KeyObject } from "node:crypto";
import type { DoubleState, TokenRecord } from "./state.js";

export type AuthResult = { ok: true; value: number } | { ok: false; message: string };

function base64urlJson(part: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
    return value && typeof value === "object" ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Checks an app JWT (signature, `iss`, `exp`); returns the app id or GitHub's 401 message. */
export function verifyAppJwt(authorization: string | undefined, publicKey: KeyObject, appId: number, now = Date.now()): AuthResult {
  const jwt = /^Bearer\s+(\S+)$/i.exec(authorization ?? "")?.[1];
  const parts = jwt?.split(".") ?? [];
  const [headerPart = "", payloadPart = "", signaturePart = ""] = parts;
  const header = base64urlJson(headerPart);
  const payload = base64urlJson(payloadPart);
  if (parts.length !== 3 || !header || !payload) return { ok: false, message: "A JSON web token could not be decoded" };
  if (header.alg !== "RS256") return { ok: false, message: `'alg' must be RS256, got ${String(header.alg)}` };
  const signed = verify("RSA-SHA256", Buffer.from(`${headerPart}.${payloadPart}`), publicKey, Buffer.from(signaturePart, "base64url"));
  if (!signed) return { ok: false, message: "A JSON web token could not be decoded" };
  if (String(payload.iss) !== String(appId)) return { ok: false, message: "Integration not found" };
  if (typeof payload.exp !== "number" || payload.exp * 1000 <= now) {
    return { ok: false, message: "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires" };
  }
  return { ok: true, value: appId };
}

/** Parses the PEM given at start (throws early on a bad key rather than 401-ing every request). */
export function parsePublicKey(pem: string): KeyObject {
  return createPublicKey(pem);
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** Mints an installation token in GitHub's `ghs_` format and remembers it until it expires. */
export function mintToken(state: DoubleState, installationId: number, now = Date.now()): { token: string; record: TokenRecord } {
  const bytes = randomBytes(36);
  const token = `ghs_${[...bytes].map((b) => ALPHABET[b % ALPHABET.length]).join("")}`;
  const record = { installationId, expiresAt: now + state.tokenTtlSeconds * 1000 };
  state.tokens.set(token, record);
  return { token, record };
}

/** The installation behind `Authorization: token <t>` or `Bearer <t>`, or GitHub's 401 message. */
export function installationFor(state: DoubleState, authorization: string | undefined, now = Date.now()): AuthResult {
  const token = /^(?:token|bearer)\s+(\S+)$/i.exec(authorization ?? "")?.[1];
  const record = token ? state.tokens.get(token) : undefined;
  if (!record || record.expiresAt <= now) return { ok: false, message: "Bad credentials" };
  return { ok: true, value: record.installationId };
}

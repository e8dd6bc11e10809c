// The embedder's side of the contract, without a component: the egress policy, the key
// policy, create-only storage and the settings conversion. `node --test` runs it.

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";

import { http } from "@bytecodealliance/preview2-shim";
import {
  checkpointStore,
  clientCredentials,
  credentialsFromEnv,
  keyProblem,
  objectStore,
  outgoingHandler,
  parseOrigin,
  plain,
  readSettings,
} from "./run.mjs";

const { Fields, OutgoingRequest } = http.types;
const TICKETS = "/api/v2/incremental/tickets/cursor.json?cursor=a%2B";
const bytes = (s) => new TextEncoder().encode(s);
const text = (b) => new TextDecoder().decode(b);

function guestRequest({ method = { tag: "get" }, scheme = { tag: "HTTPS" }, authority = "acme.zendesk.com", path = TICKETS, headers = [] } = {}) {
  const r = new OutgoingRequest(Fields.fromList(headers.map(([k, v]) => [k, bytes(v)])));
  r.setMethod(method);
  r.setScheme(scheme);
  r.setAuthority(authority);
  r.setPathWithQuery(path);
  return r;
}

// The handler with the shim's send replaced by a recorder.
function handler(base = "https://acme.zendesk.com") {
  const sent = [];
  const shim = { types: http.types, outgoingHandler: { handle: (req) => (sent.push(req), "future") } };
  return { h: outgoingHandler(shim, parseOrigin(base), "Bearer tok"), sent };
}

test("an allowed request goes out with our credentials and without the guest's", () => {
  const { h, sent } = handler();
  const out = h.handle(guestRequest({ headers: [["Authorization", "Basic guest"], ["cookie", "s=x"], ["proxy-authorization", "x"], ["accept", "application/json"]] }));
  assert.equal(out, "future");
  assert.equal(sent.length, 1);
  const req = sent[0];
  assert.deepEqual(req.headers().get("authorization").map(text), ["Bearer tok"]);
  assert.deepEqual(req.headers().get("cookie"), []);
  assert.deepEqual(req.headers().get("proxy-authorization"), []);
  assert.deepEqual(req.headers().get("accept").map(text), ["application/json"]);
  assert.equal(req.pathWithQuery(), TICKETS);
  assert.equal(req.authority(), "acme.zendesk.com");
  assert.deepEqual(req.method(), { tag: "get" });
});

test("other origins, methods and paths are denied and never sent", () => {
  const { h, sent } = handler();
  const denied = { tag: "err", val: { tag: "HTTP-request-denied" } };
  for (const r of [
    { authority: "evil.example" },
    { authority: "acme.zendesk.com.evil.example" },
    { authority: "acme.zendesk.com:8443" },
    { scheme: { tag: "HTTP" } },
    { scheme: null },
    { method: { tag: "post" } },
    { method: { tag: "other", val: "purge" } },
    { path: "/api/v2/users.json" },
    { path: "/api/v2/incremental/tickets/cursor.json/../../users" },
    { path: "/" },
  ]) {
    assert.deepEqual(h.handle(guestRequest(r)), denied, JSON.stringify(r));
  }
  assert.equal(sent.length, 0);
  // The default port is the same origin.
  assert.notDeepEqual(h.handle(guestRequest({ authority: "ACME.zendesk.com:443" })), denied);
});

test("plain http only to loopback, and the base URL is an origin only", () => {
  assert.equal(parseOrigin("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
  assert.equal(parseOrigin("http://localhost:8080/"), "http://localhost:8080");
  assert.equal(parseOrigin("https://acme.zendesk.com"), "https://acme.zendesk.com:443");
  assert.throws(() => parseOrigin("http://acme.zendesk.com"), /https/);
  assert.throws(() => parseOrigin("https://acme.zendesk.com/api"), /scheme and host only/);
  assert.throws(() => parseOrigin("https://u:p@acme.zendesk.com"), /scheme and host only/);
});

test("credentials: Basic {email}/token:{token} or Bearer", () => {
  assert.equal(
    credentialsFromEnv({ ZENDESK_EMAIL: "a@b.c", ZENDESK_API_TOKEN: "t" }),
    "Basic " + Buffer.from("a@b.c/token:t").toString("base64"),
  );
  assert.equal(credentialsFromEnv({ ZENDESK_BEARER_TOKEN: "b" }), "Bearer b");
  assert.throws(() => credentialsFromEnv({ ZENDESK_API_TOKEN: "t" }), /ZENDESK_EMAIL/);
  assert.throws(() => credentialsFromEnv({}), /ZENDESK_API_TOKEN/);
});

test("client_credentials: a token per lifetime, renewed on demand, retried on 5xx", () => {
  const asked = [];
  let answers = [{ status: 503, text: "" }];
  const post = (url, body) => {
    asked.push({ url, body });
    const next = answers.shift();
    if (next) return next;
    return { status: 200, text: JSON.stringify({ access_token: `t${asked.length}`, expires_in: 3600 }) };
  };
  const env = { ZENDESK_CLIENT_ID: "c", ZENDESK_CLIENT_SECRET: "s3cr3t" };
  const auth = clientCredentials(env, "https://acme.zendesk.com", [{ name: "audit_logs" }], post);
  assert.equal(auth(), "Bearer t2");
  assert.equal(auth(), "Bearer t2", "the token is kept while it lives");
  assert.equal(asked.length, 2);
  assert.equal(asked[0].url, "https://acme.zendesk.com/oauth/tokens");
  const body = new URLSearchParams(asked[0].body);
  assert.equal(body.get("grant_type"), "client_credentials");
  assert.equal(body.get("scope"), "auditlogs:read");
  answers = [{ status: 401, text: JSON.stringify({ error: "invalid_client", echo: "s3cr3t" }) }];
  const refused = clientCredentials(env, "https://acme.zendesk.com", [], post);
  assert.equal(refused(), null);
  assert.throws(() => clientCredentials({ ZENDESK_CLIENT_SECRET: "s" }, "https://a", []), /ZENDESK_CLIENT_ID/);
});

test("hostile keys are refused", () => {
  const ok = "zendesk/crm/2025/01/02/030405-ab-zendesk-x.json";
  assert.equal(keyProblem(ok, "zendesk/crm/", "zendesk/crm/state.json"), null);
  for (const bad of [
    "/etc/passwd", "zendesk/crm/../../etc/passwd", "zendesk/crm/./a", "zendesk/crm//a",
    "zendesk/crm/a\0b", "zendesk/crm/a\\b", "other/a.json", "zendesk/crm/state.json",
    "zendesk/crmx/a.json", "", `zendesk/crm/${"a".repeat(1024)}`,
  ]) {
    assert.notEqual(keyProblem(bad, "zendesk/crm/", "zendesk/crm/state.json"), null, JSON.stringify(bad));
  }
});

test("objects are create-only and checkpoints create then replace", () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "zc-embed-"));
  try {
    const store = objectStore(out, "zendesk/crm", "zendesk/crm/state.json");
    const key = "zendesk/crm/2025/01/02/a.json";
    assert.deepEqual(store.putObject(key, bytes("one"), "application/json"), { tag: "ok", val: "created" });
    assert.deepEqual(store.putObject(key, bytes("two"), "application/json"), { tag: "ok", val: "already-existed" });
    assert.equal(fs.readFileSync(path.join(out, key), "utf8"), "one");
    assert.equal(store.putObject("../x.json", bytes("x"), "").val.tag, "invalid-key");

    const cp = checkpointStore(path.join(out, "zendesk/crm/state.json"));
    assert.deepEqual(cp.load(), { tag: "ok", val: undefined });
    assert.deepEqual(cp.save(bytes("v1"), "create"), { tag: "ok", val: undefined });
    assert.equal(cp.save(bytes("v2"), "create").val.tag, "conflict");
    assert.deepEqual(cp.save(bytes("v3"), "replace"), { tag: "ok", val: undefined });
    assert.equal(text(cp.load().val), "v3");
    const leftovers = fs.readdirSync(path.join(out, "zendesk/crm")).filter((n) => n.endsWith(".tmp"));
    assert.deepEqual(leftovers, []);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test("settings: 64-bit fields become BigInt, and an inexact JSON number is refused", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "zc-settings-"));
  const file = path.join(dir, "s.json");
  try {
    fs.writeFileSync(file, JSON.stringify({
      baseUrl: "https://acme.zendesk.com",
      resources: [{ name: "audit_logs", pageSize: 10, lagSeconds: 120 }],
      passStart: 1750000000,
      retry: { jitterSeed: "18446744073709551615" },
    }));
    const { settings, stateKey } = readSettings(file);
    assert.equal(stateKey, "zendesk/crm/state.json");
    assert.equal(settings.passStart, 1750000000n);
    assert.equal(settings.resources[0].lagSeconds, 120n);
    assert.equal(settings.resources[0].overlapSeconds, undefined);
    assert.equal(settings.retry.jitterSeed, 18446744073709551615n);
    assert.equal(settings.startTime, undefined);
    assert.deepEqual(settings.rate, { windowMs: 60000n, accountRequests: 200 });
    assert.equal(settings.resources[0].requestsPerWindow, undefined);
    fs.writeFileSync(file, JSON.stringify({ baseUrl: "https://a.zendesk.com", resources: [{ name: "x" }], maxPageBytes: 2 ** 60 }));
    assert.throws(() => readSettings(file), /write it as a string/);
    fs.writeFileSync(file, JSON.stringify({ baseUrl: "https://a.zendesk.com", resources: [{ name: "x" }], maxPage: 1 }));
    assert.throws(() => readSettings(file), /unknown field/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(plain({ a: 1n, b: undefined, c: [2n ** 60n] }), { a: 1, b: null, c: ["1152921504606846976"] });
});

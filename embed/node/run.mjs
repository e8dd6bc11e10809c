#!/usr/bin/env node
// Runs the zendesk-crm collector component, unmodified, under Node.js: jco transpiles it to
// JavaScript, this file serves its imports (wit/collector.wit), and one pass runs.
//
//   node run.mjs --component zendesk_crm_guest.wasm --out DIR --settings settings.json
//
// Credentials come from the environment only: ZENDESK_EMAIL + ZENDESK_API_TOKEN (Basic
// `{email}/token:{token}`), ZENDESK_BEARER_TOKEN (Bearer), or AUTH_MODE=client_credentials with
// ZENDESK_CLIENT_ID + ZENDESK_CLIENT_SECRET[_FILE] (this runner obtains and renews the access
// token on demand). The component never sees them.
// stdout: one JSON line, the export's result: {"ok":[outcome, …]} or {"err":{"tag","val"}}.
// stderr: the component's log events and this runner's own messages.
// Exit code: 0 every resource succeeded, 3 a resource failed, 2 usage or setup error,
// 1 anything else (a trap, a component that cannot be loaded). See README.md.

import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { MessageChannel, Worker, receiveMessageOnPort } from "node:worker_threads";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DEFAULT_STATE_KEY = "zendesk/crm/state.json";
const MAX_KEY_BYTES = 1024;
// The API paths the collector reads (host/src/egress.rs): exact matches only.
const ALLOWED_PATHS = new Set([
  "/api/v2/incremental/tickets/cursor.json",
  "/api/v2/audit_logs.json",
  "/api/v2/access_logs",
]);
// Headers the guest may not set: we own the credentials.
const GUEST_HEADERS_DROPPED = new Set(["authorization", "proxy-authorization", "cookie"]);

export class UsageError extends Error {}

// Run when executed; `policy.test.mjs` imports the pieces below without running a pass.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    const usage = e instanceof UsageError;
    process.stderr.write(`run.mjs: ${usage ? e.message : (e?.stack ?? e)}\n`);
    process.exit(usage ? 2 : 1);
  });
}

async function main() {
  const { values: args } = parseArgs({
    options: {
      component: { type: "string" },
      out: { type: "string" },
      settings: { type: "string" },
    },
  });
  for (const name of ["component", "out", "settings"]) {
    if (!args[name]) {
      throw new UsageError(
        `--${name} is required\nusage: node run.mjs --component PATH --out DIR --settings SETTINGS.json`,
      );
    }
  }
  const { settings, stateKey } = readSettings(args.settings);
  const origin = parseOrigin(settings.baseUrl);
  const authorization =
    process.env.AUTH_MODE === "client_credentials"
      ? clientCredentials(process.env, settings.baseUrl.replace(/\/$/, ""), settings.resources)
      : credentialsFromEnv(process.env);
  const out = path.resolve(args.out);
  fs.mkdirSync(out, { recursive: true });

  const collector = await load(fs.readFileSync(args.component), {
    objectStore: objectStore(out, settings.objectPrefix, stateKey),
    checkpointStore: checkpointStore(path.join(out, ...stateKey.split("/"))),
    authorization,
    origin,
  });

  let result;
  try {
    result = { ok: collector.run(settings) };
  } catch (e) {
    // jco throws a `result`'s err case as a ComponentError carrying it in `payload`.
    if (e && typeof e === "object" && "payload" in e) result = { err: e.payload };
    else throw e;
  }
  const code = "err" in result ? 2 : result.ok.some((r) => r.error !== undefined) ? 3 : 0;
  // The shim's I/O worker keeps the event loop alive: exit once the line is written.
  process.stdout.write(JSON.stringify(plain(result)) + "\n", () => process.exit(code));
}

// ---- credentials and the egress policy --------------------------------------------------

export function credentialsFromEnv(env) {
  const token = env.ZENDESK_API_TOKEN;
  const bearer = env.ZENDESK_BEARER_TOKEN;
  if (token && bearer) throw new UsageError("set ZENDESK_API_TOKEN or ZENDESK_BEARER_TOKEN, not both");
  if (token) {
    if (!env.ZENDESK_EMAIL) throw new UsageError("ZENDESK_API_TOKEN needs ZENDESK_EMAIL");
    return "Basic " + Buffer.from(`${env.ZENDESK_EMAIL}/token:${token}`).toString("base64");
  }
  if (bearer) return `Bearer ${bearer}`;
  throw new UsageError("set ZENDESK_EMAIL and ZENDESK_API_TOKEN, or ZENDESK_BEARER_TOKEN");
}

// AUTH_MODE=client_credentials: a function giving the `Authorization` value to send now. The
// access token lives in memory only and is renewed on demand: before a request, once its
// `expires_in` (less a thirtieth of it, at most 60 s) has passed. The request is the runner's
// own `POST {baseUrl}/oauth/tokens`, sent synchronously (the component runs synchronously).
export function clientCredentials(env, baseUrl, resources = [], post = postFormSync) {
  const clientId = env.ZENDESK_CLIENT_ID;
  if (!clientId) throw new UsageError("AUTH_MODE=client_credentials needs ZENDESK_CLIENT_ID");
  if (env.ZENDESK_CLIENT_SECRET && env.ZENDESK_CLIENT_SECRET_FILE) {
    throw new UsageError("set ZENDESK_CLIENT_SECRET or ZENDESK_CLIENT_SECRET_FILE, not both");
  }
  const secret = (
    env.ZENDESK_CLIENT_SECRET ??
    (env.ZENDESK_CLIENT_SECRET_FILE ? fs.readFileSync(env.ZENDESK_CLIENT_SECRET_FILE, "utf8") : "")
  ).trim();
  if (!secret) throw new UsageError("AUTH_MODE=client_credentials needs ZENDESK_CLIENT_SECRET or ZENDESK_CLIENT_SECRET_FILE");
  const names = resources.map((r) => r.name);
  const scopes =
    env.ZENDESK_OAUTH_SCOPES ??
    (names.includes("access_logs")
      ? "read"
      : [...new Set(names.map((n) => ({ incremental_tickets: "tickets:read", audit_logs: "auditlogs:read" })[n] ?? "read"))].join(" ") || "read");
  const body = new URLSearchParams({
    grant_type: "client_credentials",
    client_id: clientId,
    client_secret: secret,
    scope: scopes,
  }).toString();
  let current = null;
  return () => {
    if (current && Date.now() < current.renewAt) return current.header;
    const asked = Date.now();
    let answer;
    for (let attempt = 0; ; attempt++) {
      answer = post(`${baseUrl}/oauth/tokens`, body);
      const retriable = answer.error !== undefined || answer.status === 429 || answer.status >= 500;
      if (!retriable || attempt >= 3) break;
      sleepSync(Math.min(1000 * 2 ** attempt, 30_000));
    }
    if (answer.status !== 200) {
      // Only the error code of the answer is shown: nothing it might echo.
      let code = answer.error ? "no answer" : `HTTP ${answer.status}`;
      try {
        const e = JSON.parse(answer.text).error;
        if (typeof e === "string" && /^[A-Za-z0-9_]{1,64}$/.test(e)) code = e;
      } catch {}
      emitLog("error", "no OAuth access token", [["cause", code]]);
      current = null;
      // The guest sees the refusal as this request's error.
      return null;
    }
    const token = JSON.parse(answer.text);
    const lifetimeMs = typeof token.expires_in === "number" ? token.expires_in * 1000 : undefined;
    current = {
      header: `Bearer ${token.access_token}`,
      renewAt: lifetimeMs === undefined ? Infinity : asked + lifetimeMs - Math.min(60_000, lifetimeMs / 30),
    };
    emitLog("info", "obtained an OAuth access token", [["expires_in", String(token.expires_in ?? "never")]]);
    return current.header;
  };
}

function sleepSync(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

// A form POST from a worker thread, waited for synchronously: {status, text} or {error}.
function postFormSync(url, body) {
  const done = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(
    `const { workerData: w } = require("node:worker_threads");
     (async () => {
       let result;
       try {
         const r = await fetch(w.url, {
           method: "POST",
           headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
           body: w.body,
           signal: AbortSignal.timeout(60000),
         });
         result = { status: r.status, text: await r.text() };
       } catch (e) {
         result = { error: e && e.name ? e.name : "error" };
       }
       w.port.postMessage(result);
       Atomics.store(w.done, 0, 1);
       Atomics.notify(w.done, 0);
     })();`,
    { eval: true, workerData: { url, body, done, port: port2 }, transferList: [port2] },
  );
  Atomics.wait(done, 0, 0, 120_000);
  const message = receiveMessageOnPort(port1);
  worker.terminate();
  return message ? message.message : { error: "timeout" };
}

// The one origin requests may go to: https, or plain http to loopback (tests), no path.
export function parseOrigin(baseUrl) {
  let url;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new UsageError(`baseUrl ${JSON.stringify(baseUrl)} is not a URL`);
  }
  const loopback = ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname) || /^127\./.test(url.hostname);
  if (!(url.protocol === "https:" || (url.protocol === "http:" && loopback))) {
    throw new UsageError(`baseUrl ${JSON.stringify(baseUrl)} must use https (plain http only to loopback)`);
  }
  if (!["", "/"].includes(url.pathname) || url.search || url.hash || url.username || url.password) {
    throw new UsageError(`baseUrl ${JSON.stringify(baseUrl)} must be scheme and host only`);
  }
  return originOf(url);
}

function originOf(url) {
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  return `${url.protocol}//${url.hostname.toLowerCase()}:${port}`;
}

// Why the guest's request may not go, or null when it may.
function refusal(request, origin) {
  const method = request.method();
  if (method.tag !== "get") return `method ${method.val ?? method.tag} is not allowed (only GET)`;
  const scheme = request.scheme();
  const authority = request.authority();
  const protocol = { HTTP: "http:", HTTPS: "https:" }[scheme?.tag];
  let url;
  try {
    url = protocol && authority ? new URL(`${protocol}//${authority}`) : null;
  } catch {
    url = null;
  }
  if (!url || url.username || url.password || originOf(url) !== origin) {
    return `origin ${scheme?.val ?? scheme?.tag ?? "?"}://${authority ?? "?"} is not the configured Zendesk origin`;
  }
  const pathWithQuery = request.pathWithQuery() ?? "";
  const pathOnly = pathWithQuery.split("?")[0];
  if (!ALLOWED_PATHS.has(pathOnly)) return `path ${pathOnly} is not one the collector uses`;
  return null;
}

// wasi:http/outgoing-handler around the shim's: vets the request and sends a copy carrying our
// credentials. The guest's request and its headers are immutable once made, so the copy is a
// new outgoing-request with new fields; its body is never written (the guest only sends GETs).
export function outgoingHandler(shimHttp, origin, authorization) {
  const { Fields, OutgoingRequest } = shimHttp.types;
  return {
    handle(request, options) {
      const why = refusal(request, origin);
      if (why) {
        emitLog("warn", "refused a request from the component; nothing was sent", [["refusal", why]]);
        return { tag: "err", val: { tag: "HTTP-request-denied" } };
      }
      const headers = request
        .headers()
        .entries()
        .filter(([name]) => !GUEST_HEADERS_DROPPED.has(name.toLowerCase()));
      const value = typeof authorization === "function" ? authorization() : authorization;
      if (value === null) return { tag: "err", val: { tag: "internal-error", val: "refused: OAuth: no access token (see the log)" } };
      headers.push(["authorization", new TextEncoder().encode(value)]);
      const vetted = new OutgoingRequest(Fields.fromList(headers));
      vetted.setMethod({ tag: "get" });
      vetted.setScheme(request.scheme());
      vetted.setAuthority(request.authority());
      vetted.setPathWithQuery(request.pathWithQuery());
      return shimHttp.outgoingHandler.handle(vetted, options);
    },
  };
}

// ---- storage ------------------------------------------------------------------------------

// Why `key` may not be written as a page object, or null (host/src/storage/keys.rs).
export function keyProblem(key, prefix, stateKey) {
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) return `longer than ${MAX_KEY_BYTES} bytes`;
  if (key === "") return "empty";
  if (key.startsWith("/")) return `${JSON.stringify(key)} is absolute`;
  if (/[\\\u0000-\u001f\u007f]/.test(key)) return `${JSON.stringify(key)} contains a backslash or control character`;
  if (key.split("/").some((c) => c === "" || c === "." || c === "..")) {
    return `${JSON.stringify(key)} has an empty, \`.\` or \`..\` component`;
  }
  if (!key.startsWith(prefix)) return `${JSON.stringify(key)} is outside the prefix ${JSON.stringify(prefix)}`;
  if (key === stateKey || key.startsWith(`${stateKey}.`)) return `${JSON.stringify(key)} is the checkpoint's key`;
  return null;
}

// S3_PREFIX normalised to end in exactly one `/`; empty stays empty (the guest's rule).
function normalizePrefix(prefix) {
  const trimmed = prefix.replace(/\/+$/, "");
  return trimmed === "" ? "" : `${trimmed}/`;
}

let tempCounter = 0;
// A sibling no other writer picks: dot-prefixed, with the pid and a counter.
function tempPath(file) {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${tempCounter++}.tmp`);
}

function writeSynced(file, bytes) {
  const fd = fs.openSync(file, "wx");
  try {
    fs.writeSync(fd, bytes);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function syncDir(dir) {
  const fd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

// Writes `bytes` at `file` unless it exists: temp file, fsync, hard link (fails if the name
// is taken, so never a partial or replaced file). True when created.
function createOnly(file, bytes) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = tempPath(file);
  try {
    writeSynced(tmp, bytes);
    fs.linkSync(tmp, file);
  } catch (e) {
    if (e.code === "EEXIST") return false;
    throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  syncDir(path.dirname(file));
  return true;
}

function ioErrorCase(e) {
  const tag = ["EACCES", "EPERM", "EROFS"].includes(e.code)
    ? "denied"
    : ["EIO", "ENOSPC", "EDQUOT", "ENOENT", "ENOTDIR", "EBUSY"].includes(e.code)
      ? "unavailable"
      : "other";
  return { tag, val: String(e.message ?? e) };
}

export function objectStore(out, objectPrefix, stateKey) {
  const prefix = normalizePrefix(objectPrefix);
  return {
    putObject(key, body, _contentType) {
      const problem = keyProblem(key, prefix, stateKey);
      if (problem) return { tag: "err", val: { tag: "invalid-key", val: problem } };
      try {
        const created = createOnly(path.join(out, ...key.split("/")), body);
        return { tag: "ok", val: created ? "created" : "already-existed" };
      } catch (e) {
        return { tag: "err", val: ioErrorCase(e) };
      }
    },
  };
}

export function checkpointStore(statePath) {
  return {
    load() {
      try {
        return { tag: "ok", val: new Uint8Array(fs.readFileSync(statePath)) };
      } catch (e) {
        if (e.code === "ENOENT") return { tag: "ok", val: undefined };
        return { tag: "err", val: ioErrorCase(e) };
      }
    },
    save(bytes, mode) {
      try {
        if (mode === "create") {
          if (!createOnly(statePath, bytes)) {
            return { tag: "err", val: { tag: "conflict", val: `${statePath} already exists` } };
          }
        } else {
          fs.mkdirSync(path.dirname(statePath), { recursive: true });
          const tmp = tempPath(statePath);
          try {
            writeSynced(tmp, bytes);
            fs.renameSync(tmp, statePath);
          } catch (e) {
            fs.rmSync(tmp, { force: true });
            throw e;
          }
          syncDir(path.dirname(statePath));
        }
        return { tag: "ok", val: undefined };
      } catch (e) {
        return { tag: "err", val: ioErrorCase(e) };
      }
    },
  };
}

// ---- log ----------------------------------------------------------------------------------

function emitLog(level, message, fields) {
  const kv = fields.map(([k, v]) => ` ${k}=${/[\s"=]/.test(v) || v === "" ? JSON.stringify(v) : v}`).join("");
  process.stderr.write(`${level.toUpperCase().padEnd(5)} ${message}${kv}\n`);
}

// ---- settings: JSON file -> the WIT `settings` record (u64/s64 as BigInt) -----------------

// A 64-bit integer: a JSON number (exact only up to 2^53, so larger ones are refused) or a
// decimal string.
function int64(value, what, { signed = false, optional = false } = {}) {
  if (value === undefined || value === null) {
    if (optional) return undefined;
    throw new UsageError(`settings: ${what} is required`);
  }
  let n;
  if (typeof value === "bigint") n = value;
  else if (typeof value === "number" && Number.isSafeInteger(value)) n = BigInt(value);
  else if (typeof value === "string" && /^-?[0-9]+$/.test(value)) n = BigInt(value);
  else if (typeof value === "number") {
    throw new UsageError(`settings: ${what} ${value} is not exact in JSON; write it as a string`);
  } else throw new UsageError(`settings: ${what} must be an integer or a decimal string`);
  const [min, max] = signed ? [-(2n ** 63n), 2n ** 63n - 1n] : [0n, 2n ** 64n - 1n];
  if (n < min || n > max) throw new UsageError(`settings: ${what} is out of range`);
  return n;
}

function int32(value, what, { optional = false } = {}) {
  if (value === undefined || value === null) {
    if (optional) return undefined;
    throw new UsageError(`settings: ${what} is required`);
  }
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
    throw new UsageError(`settings: ${what} must be an integer in 0..=4294967295`);
  }
  return value;
}

function onlyKnown(object, known, what) {
  if (typeof object !== "object" || object === null || Array.isArray(object)) {
    throw new UsageError(`settings: ${what} must be an object`);
  }
  const unknown = Object.keys(object).filter((k) => !known.includes(k));
  if (unknown.length) throw new UsageError(`settings: unknown field(s) in ${what}: ${unknown.join(", ")}`);
  return object;
}

export function readSettings(file) {
  let raw;
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new UsageError(`settings file ${file}: ${e.message}`);
  }
  const s = onlyKnown(raw, [
    "baseUrl", "resources", "maxPages", "startTime", "lookbackSeconds", "passStart",
    "objectPrefix", "outputFormat", "retry", "maxPageBytes", "rate", "stateKey",
  ], "settings");
  if (typeof s.baseUrl !== "string") throw new UsageError("settings: baseUrl is required");
  if (!Array.isArray(s.resources) || s.resources.length === 0) {
    throw new UsageError("settings: resources must be a non-empty list");
  }
  const retry = onlyKnown(s.retry ?? {}, [
    "retries", "timeoutMs", "initialBackoffMs", "maxBackoffMs", "jitterSeed",
  ], "retry");
  const rate = onlyKnown(s.rate ?? {}, ["windowMs", "accountRequests"], "rate");
  const stateKey = s.stateKey ?? DEFAULT_STATE_KEY;
  if (typeof stateKey !== "string" || keyProblem(stateKey, "", "") !== null) {
    throw new UsageError(`settings: stateKey ${JSON.stringify(stateKey)} is not a plain relative key`);
  }
  const outputFormat = s.outputFormat ?? "json";
  if (!["json", "ndjson"].includes(outputFormat)) throw new UsageError("settings: outputFormat is json or ndjson");
  const passStart = int64(s.passStart ?? Math.floor(Date.now() / 1000), "passStart", { signed: true });
  const settings = {
    baseUrl: s.baseUrl,
    resources: s.resources.map((r, i) => {
      onlyKnown(r, ["name", "pageSize", "lagSeconds", "overlapSeconds", "requestsPerWindow"], `resources[${i}]`);
      if (typeof r.name !== "string") throw new UsageError(`settings: resources[${i}].name is required`);
      return {
        name: r.name,
        pageSize: int32(r.pageSize, `resources[${i}].pageSize`, { optional: true }),
        lagSeconds: int64(r.lagSeconds, `resources[${i}].lagSeconds`, { optional: true }),
        overlapSeconds: int64(r.overlapSeconds, `resources[${i}].overlapSeconds`, { optional: true }),
        requestsPerWindow: int32(r.requestsPerWindow, `resources[${i}].requestsPerWindow`, { optional: true }),
      };
    }),
    maxPages: int32(s.maxPages ?? 20, "maxPages"),
    startTime: int64(s.startTime, "startTime", { signed: true, optional: true }),
    lookbackSeconds: int64(s.lookbackSeconds ?? 3600, "lookbackSeconds"),
    passStart,
    objectPrefix: s.objectPrefix ?? "zendesk/crm/",
    outputFormat,
    retry: {
      retries: int32(retry.retries ?? 3, "retry.retries"),
      timeoutMs: int64(retry.timeoutMs ?? 60_000, "retry.timeoutMs"),
      initialBackoffMs: int64(retry.initialBackoffMs ?? 1_000, "retry.initialBackoffMs"),
      maxBackoffMs: int64(retry.maxBackoffMs ?? 300_000, "retry.maxBackoffMs"),
      // The host's default: deterministic per pass start, so a replay waits the same.
      jitterSeed: int64(retry.jitterSeed ?? BigInt.asUintN(64, passStart) ^ 0x5a3de5c011ec7042n, "retry.jitterSeed"),
    },
    maxPageBytes: int64(s.maxPageBytes ?? 268_435_456, "maxPageBytes"),
    // Our host's defaults: Zendesk's minute, and the lowest plan's account limit.
    rate: {
      windowMs: int64(rate.windowMs ?? 60_000, "rate.windowMs"),
      accountRequests: int32(rate.accountRequests ?? 200, "rate.accountRequests"),
    },
  };
  return { settings, stateKey };
}

// jco's values as plain JSON: bigint -> number (a string past 2^53), undefined -> null.
export function plain(value) {
  if (typeof value === "bigint") {
    return value >= -(2n ** 53n) && value <= 2n ** 53n ? Number(value) : value.toString();
  }
  if (value === undefined) return null;
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

// ---- the component: transpile (cached), wire the imports, instantiate ----------------------

// Transpiles once per component and jco version into .build/<hash>/, then instantiates it.
async function load(componentBytes, host) {
  const jcoVersion = JSON.parse(
    fs.readFileSync(path.join(HERE, "node_modules/@bytecodealliance/jco/package.json"), "utf8"),
  ).version;
  const hash = createHash("sha256").update(`jco ${jcoVersion}\0`).update(componentBytes).digest("hex");
  const dir = path.join(HERE, ".build", hash.slice(0, 32));
  if (!fs.existsSync(path.join(dir, "collector.js"))) {
    const started = performance.now();
    const { transpile } = await import("@bytecodealliance/jco");
    const { files } = await transpile(componentBytes, {
      name: "collector",
      instantiation: "async", // we pass the imports ourselves, below
      noTypescript: true,
      quiet: true,
    });
    const tmp = `${dir}.${process.pid}.tmp`;
    for (const [name, bytes] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(tmp, name)), { recursive: true });
      fs.writeFileSync(path.join(tmp, name), bytes);
    }
    try {
      fs.renameSync(tmp, dir);
    } catch (e) {
      // Another run finished the same transpile first: use its copy.
      fs.rmSync(tmp, { recursive: true, force: true });
      if (!fs.existsSync(path.join(dir, "collector.js"))) throw e;
    }
    const ms = Math.round(performance.now() - started);
    emitLog("info", "transpiled the component", [["ms", String(ms)], ["dir", dir]]);
  }
  const { instantiate } = await import(pathToFileURL(path.join(dir, "collector.js")).href);
  const shim = await import("@bytecodealliance/preview2-shim");
  const { cli, clocks, io } = shim;
  // No signals here, so a wait is a plain sleep; the component's calls are synchronous, so it
  // blocks the thread (the pass has nothing else to do meanwhile). `ms` is a u64: a BigInt.
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  const waitMs = (ms) => { Atomics.wait(sleeper, 0, 0, Number(ms)); };
  // Not the process's: the component gets no environment variables, arguments or cwd.
  const environment = { getEnvironment: () => [], getArguments: () => [], initialCwd: () => undefined };
  const root = await instantiate(
    (name) => WebAssembly.compile(fs.readFileSync(path.join(dir, name))),
    {
      "wasi:cli/environment": environment,
      "wasi:cli/exit": cli.exit,
      "wasi:cli/stdin": cli.stdin,
      // stdout is ours (the one JSON line): the component's stdout goes to stderr.
      "wasi:cli/stdout": { getStdout: cli.stderr.getStderr },
      "wasi:cli/stderr": cli.stderr,
      "wasi:cli/terminal-input": cli.terminalInput,
      "wasi:cli/terminal-output": cli.terminalOutput,
      "wasi:cli/terminal-stdin": cli.terminalStdin,
      "wasi:cli/terminal-stdout": cli.terminalStdout,
      "wasi:cli/terminal-stderr": cli.terminalStderr,
      "wasi:clocks/monotonic-clock": clocks.monotonicClock,
      "wasi:http/types": shim.http.types,
      "wasi:http/outgoing-handler": outgoingHandler(shim.http, host.origin, host.authorization),
      "wasi:io/error": io.error,
      "wasi:io/poll": io.poll,
      "wasi:io/streams": io.streams,
      "zendesk:crm/object-store": host.objectStore,
      "zendesk:crm/checkpoint-store": host.checkpointStore,
      "zendesk:crm/pass-control": { stopRequested: () => undefined, timeLeftMs: () => undefined, waitMs },
      "zendesk:crm/log": { emit: emitLog },
    },
  );
  return root["zendesk:crm/collector@0.1.0"] ?? root.collector;
}

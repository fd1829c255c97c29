// The error-message mapping, with no server and no mocks: pure functions in, messages out.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ApiClient,
  ApiError,
  describeErrorBody,
  errorCodes,
  errorFromNetwork,
  errorFromStatus,
  MESSAGES,
  normalizeServerUrl,
  toApiError,
  validateConfig,
} from "../src/api";
import { SseHttpError } from "../src/sse";

const ctx = { serverUrl: "http://localhost:8000", orgId: "acme" };

test("no token, no org id, bad server URL: caught before any request", () => {
  assert.throws(
    () => validateConfig({ serverUrl: "http://localhost:8000", orgId: "acme", token: "" }),
    (e: unknown) => e instanceof ApiError && e.message === MESSAGES.noToken && e.action === "setToken" && e.kind === "config",
  );
  assert.equal(MESSAGES.noToken, "Set your API token: run 'AEP: Set API Token'.");
  assert.throws(
    () => validateConfig({ serverUrl: "http://localhost:8000", orgId: "  ", token: "t" }),
    (e: unknown) => e instanceof ApiError && /Set aep\.orgId in Settings/.test(e.message) && e.action === "openOrgIdSetting",
  );
  assert.throws(
    () => validateConfig({ serverUrl: "localhost:8000x", orgId: "o", token: "t" }),
    (e: unknown) => e instanceof ApiError && /aep\.serverUrl/.test(e.message) && e.action === "openServerUrlSetting",
  );
  assert.throws(
    () => validateConfig({ serverUrl: "ftp://example.com", orgId: "o", token: "t" }),
    (e: unknown) => e instanceof ApiError && /http:\/\/ or https:\/\//.test(e.message),
  );
  // The constructor checks the same way.
  assert.throws(() => new ApiClient({ serverUrl: "http://x", orgId: "o", token: "" }), ApiError);
});

test("server URLs are normalized", () => {
  assert.equal(normalizeServerUrl("http://localhost:8000"), "http://localhost:8000");
  assert.equal(normalizeServerUrl(" http://localhost:8000/ "), "http://localhost:8000");
  assert.equal(normalizeServerUrl("https://aep.example.com/base//"), "https://aep.example.com/base");
  assert.equal(validateConfig({ serverUrl: "http://h:1/", orgId: " o ", token: " t " }).orgId, "o");
});

test("401: the token was rejected", () => {
  const e = errorFromStatus(401, '{"detail": "Invalid token."}', ctx);
  assert.equal(e.message, "Your API token was rejected; run 'AEP: Set API Token'.");
  assert.equal(e.status, 401);
  assert.equal(e.action, "setToken");
  assert.equal(e.detail, "Invalid token.");
});

test("403: not a member of the org, named", () => {
  const e = errorFromStatus(403, '{"detail": "You do not have permission to perform this action."}', ctx);
  assert.equal(e.message, "You are not a member of org acme; check aep.orgId.");
  assert.equal(e.action, "openOrgIdSetting");
});

test("404: a plan that does not exist (or is another org's), or a wrong server", () => {
  const plan = errorFromStatus(404, '{"detail": "Not found."}', { ...ctx, planId: "p-1" });
  assert.match(plan.message, /Plan p-1 was not found in org acme/);
  const server = errorFromStatus(404, "<html>Not Found</html>", ctx);
  assert.match(server.message, /Not found on http:\/\/localhost:8000: is aep\.serverUrl the AEP server\?/);
});

test("409: the plan is archived", () => {
  const e = errorFromStatus(409, '{"detail": "Plan is archived."}', { ...ctx, planId: "p" });
  assert.match(e.message, /^This plan is archived and cannot change/);
  assert.match(e.message, /Plan is archived\./);
  assert.equal(errorFromStatus(409, "", ctx).message, "This plan is archived and cannot change.");
});

test("400: the server's detail or its field errors", () => {
  assert.equal(
    errorFromStatus(400, '{"detail": "X-Org-Id header required"}', ctx).message,
    "The server refused the request: X-Org-Id header required",
  );
  assert.equal(errorFromStatus(400, '{"detail": "X-Org-Id header required"}', ctx).action, "openOrgIdSetting");
  const fields = errorFromStatus(
    400,
    '{"title": ["This field is required."], "text": ["Ensure this field has no more than 1000 characters."]}',
    ctx,
  );
  assert.equal(
    fields.message,
    "The server refused the request: title: This field is required.; text: Ensure this field has no more than 1000 characters.",
  );
  assert.equal(
    errorFromStatus(400, '{"non_field_errors": ["Bad combination."]}', ctx).message,
    "The server refused the request: Bad combination.",
  );
  assert.equal(errorFromStatus(400, "<html>", ctx).message, "The server refused the request (HTTP 400).");
});

test("5xx and other statuses", () => {
  assert.match(errorFromStatus(500, "<h1>Server Error</h1>", ctx).message, /failed \(HTTP 500\); see the server log/);
  assert.match(errorFromStatus(502, "", ctx).message, /HTTP 502/);
  assert.equal(errorFromStatus(418, '{"detail": "teapot"}', ctx).message, "The server answered HTTP 418: teapot");
});

test("describeErrorBody handles nested DRF errors and odd shapes", () => {
  assert.equal(describeErrorBody({ participants: { "3": ["Too long."] } }), "participants: 3: Too long.");
  assert.equal(describeErrorBody(["a", "b"]), "a b");
  assert.equal(describeErrorBody({}), undefined);
  assert.equal(describeErrorBody(null), undefined);
  assert.equal(describeErrorBody("  "), undefined);
});

test("unreachable server: refused, DNS, reset, wrapped by fetch or not", () => {
  const expected = /^Cannot reach the AEP server at http:\/\/localhost:8000 \((ECONNREFUSED|ENOTFOUND|EAI_AGAIN)\); check aep\.serverUrl or start it with make run\.$/;
  const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:8000"), { code: "ECONNREFUSED" });
  const fetchRefused = new TypeError("fetch failed", { cause: refused });
  const dns = new TypeError("fetch failed", {
    cause: Object.assign(new Error("getaddrinfo ENOTFOUND aep.invalid"), { code: "ENOTFOUND" }),
  });
  const again = Object.assign(new Error("getaddrinfo EAI_AGAIN"), { code: "EAI_AGAIN" });
  const happyEyeballs = new TypeError("fetch failed", {
    cause: Object.assign(new AggregateError([refused, refused]), { code: "ECONNREFUSED" }),
  });
  const aggregateOnly = new TypeError("fetch failed", { cause: new AggregateError([refused]) });
  for (const error of [refused, fetchRefused, dns, again, happyEyeballs, aggregateOnly]) {
    const e = errorFromNetwork(error, ctx);
    assert.match(e.message, expected, String(error));
    assert.equal(e.kind, "network");
    assert.equal(e.action, "openServerUrlSetting");
  }
  assert.deepEqual(errorCodes(happyEyeballs), ["ECONNREFUSED", "ECONNREFUSED", "ECONNREFUSED"]);
  // A fetch failure without a code still says the server cannot be reached.
  assert.match(errorFromNetwork(new TypeError("fetch failed"), ctx).message, /^Cannot reach the AEP server at http:\/\/localhost:8000; check aep\.serverUrl or start it with make run\.$/);
});

test("timeouts and TLS problems", () => {
  const timeout = new DOMException("The operation was aborted due to timeout", "TimeoutError");
  const e = errorFromNetwork(timeout, ctx, 15000);
  assert.equal(e.kind, "timeout");
  assert.match(e.message, /did not answer within 15 s/);
  const tls = new TypeError("fetch failed", {
    cause: Object.assign(new Error("self-signed certificate"), { code: "DEPTH_ZERO_SELF_SIGNED_CERT" }),
  });
  assert.match(errorFromNetwork(tls, ctx).message, /securely \(DEPTH_ZERO_SELF_SIGNED_CERT\)/);
});

test("stream errors map like API errors", () => {
  assert.equal(toApiError(new SseHttpError(401, '{"detail":"Invalid token."}'), ctx).message, MESSAGES.badToken);
  assert.match(toApiError(new SseHttpError(403, ""), ctx).message, /not a member of org acme/);
  assert.match(toApiError(new SseHttpError(404, ""), { ...ctx, planId: "p" }).message, /Plan p was not found/);
  assert.match(toApiError(new SseHttpError(200, "<html>"), ctx).message, /did not answer with an event stream/);
  const refused = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
  assert.match(toApiError(refused, ctx).message, /^Cannot reach the AEP server/);
  const already = new ApiError("x", "http", 409);
  assert.equal(toApiError(already, ctx), already);
});

// EXTRA test, not a substitute for api.integration.test.ts: the API client against a throwaway
// Node http server that returns canned JSON. It checks what the client sends (method, path,
// headers, body) and how it reads answers; the real contract is checked against Django.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { ApiClient, ApiError, MESSAGES, normalizeStep } from "../src/api";

const PLAN_ID = "0b6f2f7e-2d8c-4b8e-9a53-2f1f0c1d9e01";
const ARCHIVED_ID = "9d1e4c3b-0000-4000-8000-000000000009";
const STEP_1 = {
  id: "s1",
  text: "first",
  owner: "alice",
  ts: "2024-05-01T10:00:00Z",
  done: false,
  done_by: null,
  done_at: null,
  version: 3,
  updated_at: "2024-05-01T10:30:00Z",
};
const plan = {
  id: PLAN_ID,
  org_id: "org-a-uuid",
  title: "Canned plan",
  description: "",
  version: 2,
  steps: [STEP_1],
  progress: { done: 0, total: 1 },
  participants: ["alice"],
  archived: false,
  created_at: "2024-05-01T09:00:00Z",
  updated_at: "2024-05-01T10:00:00Z",
  last_event_id: `plan-${PLAN_ID}:7`,
};
const STEP_PATH = `/api/plan/${PLAN_ID}/steps/`;

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

let server: http.Server;
let baseUrl: string;
let closedUrl: string;
const seen: Seen[] = [];

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(body));
}

before(async () => {
  server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      if (req.headers["x-org-id"] === "slow") {
        return; // never answers
      }
      if (req.headers.authorization !== "Token good-token") {
        return json(res, 401, { detail: "Invalid token." });
      }
      if (req.headers["x-org-id"] !== "org-a") {
        return json(res, 403, { detail: "You do not have permission to perform this action." });
      }
      const url = new URL(req.url ?? "/", "http://x");
      if (req.method === "GET" && url.pathname === "/api/plan/list") {
        return json(res, 200, { plans: [plan], count: 1 });
      }
      if (req.method === "GET" && url.pathname === `/api/plan/${PLAN_ID}`) {
        return json(res, 200, plan);
      }
      if (req.method === "POST" && url.pathname === "/api/plan/start") {
        const input = JSON.parse(body);
        if (!input.title) {
          return json(res, 400, { title: ["This field is required."] });
        }
        return json(res, 200, { status: "started", plan_id: PLAN_ID });
      }
      if (req.method === "POST" && url.pathname === "/api/plan/step") {
        const input = JSON.parse(body);
        if (input.plan_id === ARCHIVED_ID) {
          return json(res, 409, { detail: "Plan is archived." });
        }
        if (input.text === "one too many") {
          return json(res, 409, { detail: "A plan holds at most 2000 steps; this one is full." });
        }
        return json(res, 200, {
          status: "step_added",
          step: { id: "s2", text: input.text, owner: input.owner ?? "alice", ts: "2024-05-01T10:01:00Z" },
        });
      }
      if (req.method === "PATCH" && url.pathname === `/api/plan/${PLAN_ID}`) {
        const input = JSON.parse(body);
        if (input.version !== undefined && input.version !== plan.version) {
          return json(res, 409, {
            detail: "Someone else changed this plan since you loaded it: nothing was saved. Here is the current plan.",
            plan,
          });
        }
        return json(res, 200, { status: "plan_updated", plan: { ...plan, ...input, version: plan.version + 1 } });
      }
      if (url.pathname.startsWith(STEP_PATH)) {
        const [stepId, action] = url.pathname.slice(STEP_PATH.length).split("/");
        if (stepId !== "s1") {
          return json(res, 404, { detail: "Step not found in this plan." });
        }
        if (req.method === "PATCH" && !action) {
          const input = JSON.parse(body);
          if (input.version !== undefined && input.version !== STEP_1.version) {
            return json(res, 409, {
              detail: "Someone else changed this step since you loaded it: nothing was saved. Here is the current step.",
              step: STEP_1,
            });
          }
          if (input.text === "") {
            return json(res, 400, { text: ["This field may not be blank."] });
          }
          const done = input.done ?? STEP_1.done;
          return json(res, 200, {
            status: "step_updated",
            step: { ...STEP_1, ...input, done, done_by: done ? "Alice" : null, version: STEP_1.version + 1 },
          });
        }
        if (req.method === "DELETE" && !action) {
          return json(res, 200, { status: "step_deleted", step_id: stepId });
        }
        if (req.method === "POST" && action === "move") {
          const input = JSON.parse(body);
          if (input.after === stepId) {
            return json(res, 400, { after: ["A step cannot be put after itself."] });
          }
          return json(res, 200, { status: "step_moved", step: STEP_1, after: input.after });
        }
        if (req.method === "POST" && action === "restore") {
          return json(res, 200, { status: "step_restored", step: { ...STEP_1, version: 5 }, after: null });
        }
      }
      if (req.method === "POST" && url.pathname === `/api/plan/${PLAN_ID}/archive`) {
        return json(res, 200, { status: "archived", plan_id: PLAN_ID, memory_node_id: "node-1" });
      }
      if (url.pathname === "/html") {
        res.writeHead(200, { "Content-Type": "text/html" });
        return res.end("<html></html>");
      }
      return json(res, 404, { detail: "Not found." });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  closedUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;
  await new Promise((resolve) => probe.close(resolve));
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function client(overrides: { token?: string; orgId?: string; serverUrl?: string } = {}, timeoutMs?: number) {
  return new ApiClient(
    { serverUrl: overrides.serverUrl ?? `${baseUrl}/`, token: overrides.token ?? "good-token", orgId: overrides.orgId ?? "org-a" },
    { timeoutMs },
  );
}

test("canned server: list sends the token and org headers and reads plans", async () => {
  seen.length = 0;
  const list = await client().listPlans({ archived: false, limit: 200 });
  assert.equal(list.count, 1);
  assert.equal(list.plans[0].title, "Canned plan");
  assert.equal(seen[0].method, "GET");
  assert.equal(seen[0].url, "/api/plan/list?archived=false&limit=200");
  assert.equal(seen[0].headers.authorization, "Token good-token");
  assert.equal(seen[0].headers["x-org-id"], "org-a");
  assert.equal(seen[0].headers.accept, "application/json");
});

test("canned server: start, get, step, archive send the contract's bodies", async () => {
  seen.length = 0;
  const c = client();
  assert.equal(await c.startPlan({ title: "New" }), PLAN_ID);
  assert.deepEqual(JSON.parse(seen[0].body), { title: "New" });
  assert.equal(seen[0].headers["content-type"], "application/json");

  const got = await c.getPlan(PLAN_ID);
  assert.deepEqual(got.steps, [STEP_1]);
  assert.deepEqual(got.progress, { done: 0, total: 1 });
  assert.equal(got.version, 2);
  assert.equal(got.last_event_id, `plan-${PLAN_ID}:7`);
  const step = await c.addStep({ planId: PLAN_ID, text: "second" });
  assert.deepEqual(step, normalizeStep({ id: "s2", text: "second", owner: "alice", ts: "2024-05-01T10:01:00Z" }));
  assert.deepEqual(JSON.parse(seen[2].body), { plan_id: PLAN_ID, text: "second" });

  const archived = await c.archivePlan(PLAN_ID);
  assert.deepEqual(archived, { planId: PLAN_ID, memoryNodeId: "node-1" });
  assert.equal(seen[3].url, `/api/plan/${PLAN_ID}/archive`);
  assert.deepEqual(JSON.parse(seen[3].body), {});
});

test("canned server: 401, 403, 400, 404, 409 become ApiErrors with user messages", async () => {
  await assert.rejects(client({ token: "bad" }).listPlans(), (e: unknown) => e instanceof ApiError && e.status === 401 && e.message === MESSAGES.badToken);
  await assert.rejects(
    client({ orgId: "org-b" }).listPlans(),
    (e: unknown) => e instanceof ApiError && e.status === 403 && e.message === "You are not a member of org org-b; check aep.orgId.",
  );
  await assert.rejects(
    client().startPlan({ title: "" }),
    (e: unknown) => e instanceof ApiError && e.status === 400 && e.message === "The server refused the request: title: This field is required.",
  );
  await assert.rejects(
    client().getPlan("11111111-1111-4111-8111-111111111111"),
    (e: unknown) => e instanceof ApiError && e.status === 404 && /was not found in org org-a/.test(e.message),
  );
  await assert.rejects(
    client().addStep({ planId: ARCHIVED_ID, text: "late" }),
    (e: unknown) => e instanceof ApiError && e.status === 409 && /archived/.test(e.message),
  );
});

test("canned server: server down, wrong URL and a hanging server", async () => {
  await assert.rejects(
    client({ serverUrl: closedUrl }).listPlans(),
    (e: unknown) =>
      e instanceof ApiError &&
      e.kind === "network" &&
      e.message === `Cannot reach the AEP server at ${closedUrl} (ECONNREFUSED); check aep.serverUrl or start it with make run.`,
  );
  await assert.rejects(
    client({ serverUrl: `${baseUrl}/html` }).getPlan(PLAN_ID),
    (e: unknown) => e instanceof ApiError && e.status === 404 && /was not found/.test(e.message),
  );
  // A server that answers HTML with 200 is not the AEP API.
  const htmlClient = new ApiClient({ serverUrl: baseUrl, token: "good-token", orgId: "org-a" }, {
    fetch: (async () => new Response("<html></html>", { status: 200 })) as typeof fetch,
  });
  await assert.rejects(htmlClient.listPlans(), (e: unknown) => e instanceof ApiError && e.kind === "protocol");
  await assert.rejects(
    client({ orgId: "slow" }, 150).listPlans(),
    (e: unknown) => e instanceof ApiError && e.kind === "timeout" && /did not answer within 150 ms; is it running\?/.test(e.message),
  );
});

test("canned server: updateStep sends only the fields given, to PATCH /api/plan/{id}/steps/{step}", async () => {
  seen.length = 0;
  const c = client();
  const ticked = await c.updateStep({ planId: PLAN_ID, stepId: "s1", done: true });
  assert.equal(seen[0].method, "PATCH");
  assert.equal(seen[0].url, `/api/plan/${PLAN_ID}/steps/s1`);
  assert.deepEqual(JSON.parse(seen[0].body), { done: true });
  assert.equal(seen[0].headers["content-type"], "application/json");
  assert.deepEqual([ticked.done, ticked.done_by, ticked.version], [true, "Alice", 4]);

  const edited = await c.updateStep({ planId: PLAN_ID, stepId: "s1", text: "first, reworded", owner: "bob", version: 3 });
  assert.deepEqual(JSON.parse(seen[1].body), { text: "first, reworded", owner: "bob", version: 3 });
  assert.equal(edited.text, "first, reworded");
});

test("canned server: a stale version is a 409 that says someone else changed it, with the current version", async () => {
  const c = client();
  await assert.rejects(
    c.updateStep({ planId: PLAN_ID, stepId: "s1", text: "my words", version: 1 }),
    (e: unknown) =>
      e instanceof ApiError &&
      e.status === 409 &&
      e.stale &&
      !e.archived &&
      e.message === "Someone else changed this step since you loaded it (it is now version 3): nothing was saved." &&
      e.conflict?.step?.version === 3 &&
      e.conflict.step.text === "first" &&
      /Here is the current step/.test(e.detail ?? ""),
  );
  await assert.rejects(
    c.updatePlan({ planId: PLAN_ID, title: "Mine", version: 1 }),
    (e: unknown) =>
      e instanceof ApiError &&
      e.stale &&
      /Someone else changed this plan .*version 2/.test(e.message) &&
      e.conflict?.plan?.title === "Canned plan",
  );
});

test("canned server: move, delete, restore and rename send the contract's requests", async () => {
  seen.length = 0;
  const c = client();
  assert.deepEqual(await c.moveStep({ planId: PLAN_ID, stepId: "s1", after: null }), {
    step: normalizeStep(STEP_1),
    after: null,
  });
  assert.deepEqual([seen[0].method, seen[0].url, JSON.parse(seen[0].body)], [
    "POST",
    `/api/plan/${PLAN_ID}/steps/s1/move`,
    { after: null },
  ]);
  assert.equal((await c.moveStep({ planId: PLAN_ID, stepId: "s1", after: "s9" })).after, "s9");
  assert.deepEqual(JSON.parse(seen[1].body), { after: "s9" });

  assert.equal(await c.deleteStep({ planId: PLAN_ID, stepId: "s1" }), "s1");
  assert.deepEqual([seen[2].method, seen[2].url, seen[2].body], ["DELETE", `/api/plan/${PLAN_ID}/steps/s1`, ""]);
  assert.equal(seen[2].headers["content-type"], undefined, "no body, no content type");

  const restored = await c.restoreStep({ planId: PLAN_ID, stepId: "s1" });
  assert.deepEqual([seen[3].method, seen[3].url], ["POST", `/api/plan/${PLAN_ID}/steps/s1/restore`]);
  assert.deepEqual([restored.step.version, restored.after], [5, null]);

  const renamed = await c.updatePlan({ planId: PLAN_ID, title: "Renamed", version: 2 });
  assert.deepEqual([seen[4].method, seen[4].url, JSON.parse(seen[4].body)], [
    "PATCH",
    `/api/plan/${PLAN_ID}`,
    { title: "Renamed", version: 2 },
  ]);
  assert.deepEqual([renamed.title, renamed.version], ["Renamed", 3]);
});

test("canned server: errors on a step surface the server's detail", async () => {
  const c = client();
  await assert.rejects(
    c.updateStep({ planId: PLAN_ID, stepId: "gone", done: true }),
    (e: unknown) =>
      e instanceof ApiError &&
      e.status === 404 &&
      e.detail === "Step not found in this plan." &&
      e.message.startsWith("Step not found in this plan."),
  );
  await assert.rejects(
    c.updateStep({ planId: PLAN_ID, stepId: "s1", text: "" }),
    (e: unknown) => e instanceof ApiError && e.status === 400 && e.message === "The server refused the request: text: This field may not be blank.",
  );
  await assert.rejects(
    c.moveStep({ planId: PLAN_ID, stepId: "s1", after: "s1" }),
    (e: unknown) => e instanceof ApiError && e.status === 400 && /after: A step cannot be put after itself/.test(e.message),
  );
  await assert.rejects(
    c.addStep({ planId: PLAN_ID, text: "one too many" }),
    (e: unknown) =>
      e instanceof ApiError &&
      e.status === 409 &&
      !e.archived &&
      !e.stale &&
      e.message === "The server refused the change: A plan holds at most 2000 steps; this one is full.",
  );
  await assert.rejects(
    c.addStep({ planId: ARCHIVED_ID, text: "late" }),
    (e: unknown) => e instanceof ApiError && e.archived && !e.stale,
  );
  await assert.rejects(c.deleteStep({ planId: PLAN_ID, stepId: " " }), (e: unknown) => e instanceof ApiError && e.kind === "config");
});

// The API client and the stream client against a REAL AEP server (Django + daphne).
//
//   AEP_TEST_SERVER_URL   e.g. http://127.0.0.1:8000 (unset: every test here is skipped)
//   AEP_TEST_TOKEN        an API token (python manage.py create_api_token USERNAME --org ORG)
//   AEP_TEST_ORG          an org id (a slug such as acme) the token's user is a member of
//   AEP_TEST_OTHER_ORG    an org that exists but the token's user is NOT a member of
//   AEP_TEST_REQUIRE_SERVER=1  optional (CI): fail instead of skipping when the URL is unset
//
// Run with `npm run test:integration` (also part of `npm test`, skipped when the URL is unset).
import { describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { ApiClient, ApiError, MESSAGES, toApiError, type Plan, type Step } from "../src/api";
import { interpretStreamEvent, PlanState, type PlanChange, type StreamMessage } from "../src/planState";
import { SseClient, type SseEvent } from "../src/sse";
import { waitFor } from "./helpers";

const SERVER_URL = process.env.AEP_TEST_SERVER_URL ?? "";
const TOKEN = process.env.AEP_TEST_TOKEN ?? "";
const ORG = process.env.AEP_TEST_ORG ?? "";
const OTHER_ORG = process.env.AEP_TEST_OTHER_ORG ?? "";
const SKIP_REASON =
  "AEP_TEST_SERVER_URL not set: start the Django server and set AEP_TEST_SERVER_URL, AEP_TEST_TOKEN, " +
  "AEP_TEST_ORG and AEP_TEST_OTHER_ORG to run the integration tests";

/**
 * Skips when no server is configured (unless AEP_TEST_REQUIRE_SERVER=1, for CI: then a missing
 * server is a failure, not a silent pass); fails loudly when the URL is set but not the rest.
 */
function requireServer(t: TestContext): boolean {
  if (!SERVER_URL) {
    assert.ok(process.env.AEP_TEST_REQUIRE_SERVER !== "1", `AEP_TEST_REQUIRE_SERVER=1 but ${SKIP_REASON}`);
    t.skip(SKIP_REASON);
    return false;
  }
  assert.ok(TOKEN, "AEP_TEST_SERVER_URL is set but AEP_TEST_TOKEN is not");
  assert.ok(ORG, "AEP_TEST_SERVER_URL is set but AEP_TEST_ORG is not");
  return true;
}

function client(overrides: { token?: string; orgId?: string } = {}): ApiClient {
  return new ApiClient({ serverUrl: SERVER_URL, token: overrides.token ?? TOKEN, orgId: overrides.orgId ?? ORG });
}

/** Open the plan's stream and collect what it delivers (interpreted as the panel does). */
function openStream(c: ApiClient, planId: string, lastEventId?: string) {
  const raw: SseEvent[] = [];
  const messages: StreamMessage[] = [];
  const errors: Array<{ error: unknown; willRetry: boolean }> = [];
  const stream = new SseClient({
    connect: c.streamConnect(planId),
    lastEventId,
    onEvent: (e) => {
      raw.push(e);
      messages.push(interpretStreamEvent(e));
    },
    onError: (error, info) => errors.push({ error, willRetry: info.willRetry }),
    initialDelayMs: 200,
  });
  stream.start();
  return {
    stream,
    raw,
    messages,
    errors,
    steps: () => messages.flatMap((m) => (m.kind === "step" ? [m.step] : [])),
  };
}

const stamp = `${new Date().toISOString()} ${randomUUID().slice(0, 8)}`;

describe("API client against a real AEP server", () => {
  let planId = "";
  let firstStep: Step | undefined;

  test("lists active plans", async (t) => {
    if (!requireServer(t)) return;
    const list = await client().listPlans({ archived: false });
    assert.ok(Array.isArray(list.plans));
    assert.equal(typeof list.count, "number");
    assert.ok(list.count >= list.plans.length);
    for (const plan of list.plans) {
      assert.equal(plan.archived, false);
    }
  });

  test("starts a plan and reads it back", async (t) => {
    if (!requireServer(t)) return;
    const c = client();
    planId = await c.startPlan({ title: `VS Code integration ${stamp}`, description: "from the extension tests", participants: ["ext-test"] });
    assert.match(planId, /^[0-9a-f-]{36}$/i);
    const plan = await c.getPlan(planId);
    assert.equal(plan.id, planId);
    assert.equal(plan.title, `VS Code integration ${stamp}`);
    assert.equal(plan.description, "from the extension tests");
    assert.deepEqual(plan.participants, ["ext-test"]);
    assert.deepEqual(plan.steps, []);
    assert.equal(plan.archived, false);
    assert.ok(plan.org_id);
    assert.match(plan.created_at, /^\d{4}-\d\d-\d\dT.*(Z|\+00:00)$/);
    const list = await c.listPlans({ archived: false, limit: 200 });
    assert.ok(list.plans.some((p) => p.id === planId), "the new plan is in the active list");
  });

  test("adds steps; they keep their order and have ids", async (t) => {
    if (!requireServer(t)) return;
    assert.ok(planId, "needs the plan from the previous test");
    const c = client();
    firstStep = await c.addStep({ planId, text: "first step <img src=x onerror=alert(1)>", owner: "ext-test" });
    assert.ok(firstStep.id);
    assert.equal(firstStep.text, "first step <img src=x onerror=alert(1)>");
    assert.equal(firstStep.owner, "ext-test");
    assert.match(firstStep.ts, /^\d{4}-\d\d-\d\dT.*(Z|\+00:00)$/);
    const defaulted = await c.addStep({ planId, text: "second step" });
    assert.ok(defaulted.owner, "owner defaults to the user's name");
    const plan = await c.getPlan(planId);
    assert.deepEqual(
      plan.steps.map((s) => s.id),
      [firstStep.id, defaulted.id],
    );
  });

  test("validation errors come back as 400 with the field named", async (t) => {
    if (!requireServer(t)) return;
    const c = client();
    await assert.rejects(c.addStep({ planId, text: "" }), (e: unknown) => e instanceof ApiError && e.status === 400 && /text/.test(e.message));
    await assert.rejects(
      c.addStep({ planId, text: "x".repeat(1001) }),
      (e: unknown) => e instanceof ApiError && e.status === 400 && /text/.test(e.message),
    );
    await assert.rejects(
      c.startPlan({ title: "t".repeat(256) }),
      (e: unknown) => e instanceof ApiError && e.status === 400 && /title/.test(e.message),
    );
  });

  test("an unknown plan is 404", async (t) => {
    if (!requireServer(t)) return;
    const missing = randomUUID();
    await assert.rejects(
      client().getPlan(missing),
      (e: unknown) => e instanceof ApiError && e.status === 404 && e.message.includes(`Plan ${missing} was not found`),
    );
  });

  test("the stream: connected first, then a step with the API's step id, every event with an id", async (t) => {
    if (!requireServer(t)) return;
    const c = client();
    const s = openStream(c, planId);
    try {
      await waitFor(() => s.messages.some((m) => m.kind === "connected"), 10_000, "the connected event");
      const firstMessage = s.raw.find((e) => e.type === "message");
      assert.equal(interpretStreamEvent(firstMessage!).kind, "connected", "the first message event is connected");
      const step = await c.addStep({ planId, text: `live ${stamp}` });
      await waitFor(() => s.steps().some((x) => x.id === step.id), 10_000, "the step on the stream");
      const live = s.steps().find((x) => x.id === step.id)!;
      assert.deepEqual(live, step);
      for (const e of s.raw) {
        assert.ok(e.lastEventId, `event ${e.type} has an id`);
      }
      assert.deepEqual(s.errors, []);
    } finally {
      await s.stream.stop();
    }
  });

  test("presence: the stream lists the token's user after connected (no id of its own); GET /presence agrees; gone once closed", async (t) => {
    if (!requireServer(t)) return;
    const c = client();
    // A step without an owner is signed with the user's name: the name presence shows.
    const me = (await c.addStep({ planId, text: `who am I ${stamp}` })).owner;
    const s = openStream(c, planId);
    type Presence = Extract<StreamMessage, { kind: "presence" }>;
    const presences = () => s.messages.filter((m): m is Presence => m.kind === "presence");
    try {
      await waitFor(() => presences().some((p) => p.viewers.some((v) => v.name === me)), 10_000, `a presence event listing ${me}`);
      const kinds = s.messages.filter((m) => m.kind !== "ignore").map((m) => m.kind);
      assert.equal(kinds[0], "connected", "presence follows connected");
      const latest = presences().at(-1)!;
      assert.equal(latest.planId, planId);
      assert.ok(latest.count >= latest.viewers.length && latest.count >= 1);
      const mine = latest.viewers.filter((v) => v.name === me);
      assert.equal(mine.length, 1, "one entry per user");
      assert.ok(mine[0].username, "with the username");
      assert.match(mine[0].since, /^\d{4}-\d\d-\d\dT/);
      // The presence frame carries no id of its own: the stream position stays the connected event's.
      const connectedAt = s.raw.find((e) => interpretStreamEvent(e).kind === "connected")!.lastEventId;
      assert.equal(s.stream.lastEventId, connectedAt, "no stored event came, so the position did not move");
      const now = await c.getPresence(planId);
      assert.ok(now.viewers.some((v) => v.username === mine[0].username && v.name === me), JSON.stringify(now));
      assert.ok(now.count >= 1);
    } finally {
      await s.stream.stop();
    }
    // Closed: the user is no longer viewing (no other stream of theirs is open).
    const deadline = Date.now() + 10_000;
    let last = await c.getPresence(planId);
    while (last.viewers.some((v) => v.name === me) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      last = await c.getPresence(planId);
    }
    assert.ok(!last.viewers.some((v) => v.name === me), `still listed after the stream closed: ${JSON.stringify(last)}`);
  });

  test("reconnecting with Last-Event-ID replays what was missed", async (t) => {
    if (!requireServer(t)) return;
    const c = client();
    const first = openStream(c, planId);
    let lastId = "";
    try {
      await waitFor(() => first.messages.some((m) => m.kind === "connected"), 10_000, "the connected event");
      const marker = await c.addStep({ planId, text: `before the drop ${stamp}` });
      await waitFor(() => first.steps().some((x) => x.id === marker.id), 10_000, "the marker step");
      lastId = first.stream.lastEventId;
      assert.ok(lastId);
    } finally {
      await first.stream.stop();
    }
    const missed = await c.addStep({ planId, text: `while disconnected ${stamp}` });
    const second = openStream(c, planId, lastId);
    try {
      await waitFor(() => second.steps().some((x) => x.id === missed.id), 10_000, "the missed step, replayed");
      assert.equal(second.steps().filter((x) => x.id === missed.id).length, 1);
    } finally {
      await second.stream.stop();
    }
  });

  test("archives (safe to retry), then a step is refused with 409", async (t) => {
    if (!requireServer(t)) return;
    const c = client();
    const s = openStream(c, planId);
    try {
      await waitFor(() => s.messages.some((m) => m.kind === "connected"), 10_000, "the connected event");
      const archived = await c.archivePlan(planId);
      assert.equal(archived.planId, planId);
      assert.ok(archived.memoryNodeId);
      await waitFor(() => s.messages.some((m) => m.kind === "archived"), 10_000, "the archived event");
      const again = await c.archivePlan(planId);
      assert.equal(again.memoryNodeId, archived.memoryNodeId, "archiving twice returns the same memory node");
    } finally {
      await s.stream.stop();
    }
    await assert.rejects(
      c.addStep({ planId, text: "too late" }),
      (e: unknown) => e instanceof ApiError && e.status === 409 && /archived/.test(e.message),
    );
    const plan = await c.getPlan(planId);
    assert.equal(plan.archived, true);
    const active = await c.listPlans({ archived: false, limit: 200 });
    assert.ok(!active.plans.some((p) => p.id === planId));
    const archivedList = await c.listPlans({ archived: true, limit: 200 });
    assert.ok(archivedList.plans.some((p) => p.id === planId));
  });

  test("a bad token is 401, on the API and on the stream", async (t) => {
    if (!requireServer(t)) return;
    const bad = client({ token: "not-a-real-token-" + randomUUID() });
    await assert.rejects(bad.listPlans(), (e: unknown) => e instanceof ApiError && e.status === 401 && e.message === MESSAGES.badToken);
    const s = openStream(bad, planId || randomUUID());
    try {
      await waitFor(() => s.errors.length > 0, 10_000, "the stream's refusal");
      assert.equal(s.errors[0].willRetry, false, "no reconnect loop after 401");
      assert.equal(toApiError(s.errors[0].error, bad.errorContext(planId)).status, 401);
    } finally {
      await s.stream.stop();
    }
  });

  test("an org the user is not a member of is 403", async (t) => {
    if (!requireServer(t)) return;
    if (!OTHER_ORG) {
      t.skip("AEP_TEST_OTHER_ORG not set: the 403 test needs an org the token's user is not a member of");
      return;
    }
    const outsider = client({ orgId: OTHER_ORG });
    await assert.rejects(
      outsider.listPlans(),
      (e: unknown) => e instanceof ApiError && e.status === 403 && e.message === `You are not a member of org ${OTHER_ORG}; check aep.orgId.`,
    );
    await assert.rejects(outsider.startPlan({ title: "nope" }), (e: unknown) => e instanceof ApiError && e.status === 403);
  });

  test("a server that is down is reported as unreachable", async (t) => {
    if (!requireServer(t)) return;
    const down = new ApiClient({ serverUrl: "http://127.0.0.1:9", token: TOKEN, orgId: ORG });
    await assert.rejects(
      down.listPlans(),
      (e: unknown) => e instanceof ApiError && e.kind === "network" && /^Cannot reach the AEP server at http:\/\/127\.0\.0\.1:9/.test(e.message),
    );
  });
});

/** The part of a plan the stream's events describe (times and position aside). */
function described(plan: Plan) {
  return {
    id: plan.id,
    title: plan.title,
    description: plan.description,
    version: plan.version,
    steps: plan.steps,
    progress: plan.progress,
    participants: plan.participants,
    archived: plan.archived,
  };
}

describe("working a plan against a real AEP server (DESIGN 10)", () => {
  test("tick, edit, move, delete, restore, rename: the plan as fetched plus its events equals a fresh GET", async (t) => {
    if (!requireServer(t)) return;
    const c = client();
    const planId = await c.startPlan({ title: `Working ${stamp}`, participants: ["ext-test"] });
    const a = await c.addStep({ planId, text: "a" });
    const b = await c.addStep({ planId, text: "b" });
    const d = await c.addStep({ planId, text: "d" });
    assert.deepEqual([a.done, a.done_by, a.done_at, a.version], [false, null, null, 1]);

    const fetched = await c.getPlan(planId);
    assert.match(fetched.last_event_id, new RegExp(`^plan-${planId}:\\d+$`));
    assert.deepEqual(fetched.progress, { done: 0, total: 3 });
    assert.equal(fetched.version, 1);
    const state = new PlanState(fetched);
    const s = openStream(c, planId, fetched.last_event_id);
    try {
      await waitFor(() => s.messages.some((m) => m.kind === "connected"), 10_000, "the connected event");

      const ticked = await c.updateStep({ planId, stepId: b.id, done: true });
      assert.deepEqual([ticked.done, ticked.version], [true, 2]);
      assert.ok(ticked.done_by, "done_by names who ticked it");
      assert.match(ticked.done_at ?? "", /^\d{4}-\d\d-\d\dT/);
      const edited = await c.updateStep({ planId, stepId: a.id, text: "a, reworded", version: 1 });
      assert.deepEqual([edited.text, edited.version], ["a, reworded", 2]);
      // A stale version: 409 with the current step, nothing written.
      await assert.rejects(
        c.updateStep({ planId, stepId: a.id, text: "lost?", version: 1 }),
        (e: unknown) =>
          e instanceof ApiError &&
          e.status === 409 &&
          e.stale &&
          e.conflict?.step?.version === 2 &&
          e.conflict.step.text === "a, reworded" &&
          /Someone else changed this step .*version 2/.test(e.message),
      );
      const moved = await c.moveStep({ planId, stepId: d.id, after: null });
      assert.equal(moved.after, null);
      assert.equal(moved.step.version, 1, "a move leaves the version as it is");
      await c.moveStep({ planId, stepId: a.id, after: b.id });
      assert.equal(await c.deleteStep({ planId, stepId: b.id }), b.id);
      const restored = await c.restoreStep({ planId, stepId: b.id });
      assert.equal(restored.step.id, b.id);
      const e = await c.addStep({ planId, text: "e" });
      await c.deleteStep({ planId, stepId: d.id });
      const renamed = await c.updatePlan({ planId, title: `Renamed ${stamp}`, version: 1 });
      assert.deepEqual([renamed.title, renamed.version], [`Renamed ${stamp}`, 2]);
      await assert.rejects(
        c.updatePlan({ planId, title: "stale", version: 1 }),
        (err: unknown) => err instanceof ApiError && err.stale && err.conflict?.plan?.version === 2,
      );

      // Nine writes went through (the refused ones wrote nothing): wait for their nine events.
      const changes = () =>
        s.messages.filter(
          (m): m is PlanChange => m.kind !== "connected" && m.kind !== "ignore" && m.kind !== "reset" && m.kind !== "presence",
        );
      await waitFor(() => changes().length >= 9, 10_000, "the nine events");
      assert.deepEqual(
        changes().map((m) => m.kind),
        ["step_updated", "step_updated", "step_moved", "step_moved", "step_deleted", "step_restored", "step", "step_deleted", "plan_updated"],
      );
      for (const message of changes()) {
        state.apply(message);
      }
      const fresh = await c.getPlan(planId);
      assert.deepEqual(described(state.plan), described(fresh));
      // [a b d] → d first → a after b → b deleted and restored where it was → e added → d deleted.
      assert.deepEqual(
        fresh.steps.map((x) => [x.id, x.text]),
        [
          [b.id, "b"],
          [a.id, "a, reworded"],
          [e.id, "e"],
        ],
      );
      assert.deepEqual(fresh.progress, { done: 1, total: 3 });
      assert.deepEqual(s.errors, []);
    } finally {
      await s.stream.stop();
    }
  });

  test("a step not in the plan is 404, a move after itself 400, an archived plan 409: in the server's words", async (t) => {
    if (!requireServer(t)) return;
    const c = client();
    const planId = await c.startPlan({ title: `Refusals ${stamp}` });
    const a = await c.addStep({ planId, text: "a" });
    await assert.rejects(
      c.updateStep({ planId, stepId: randomUUID(), done: true }),
      (e: unknown) => e instanceof ApiError && e.status === 404 && /step not found/i.test(e.detail ?? "") && e.message.startsWith(e.detail ?? "?"),
    );
    await assert.rejects(
      c.moveStep({ planId, stepId: a.id, after: a.id }),
      (e: unknown) => e instanceof ApiError && e.status === 400 && /after/.test(e.message),
    );
    await assert.rejects(
      c.updateStep({ planId, stepId: a.id, text: "" }),
      (e: unknown) => e instanceof ApiError && e.status === 400 && /text/.test(e.message),
    );
    await c.archivePlan(planId);
    for (const write of [
      () => c.updateStep({ planId, stepId: a.id, done: true }),
      () => c.moveStep({ planId, stepId: a.id, after: null }),
      () => c.deleteStep({ planId, stepId: a.id }),
      () => c.updatePlan({ planId, title: "late" }),
    ]) {
      await assert.rejects(write(), (e: unknown) => e instanceof ApiError && e.status === 409 && e.archived && /archived/.test(e.message));
    }
  });
});

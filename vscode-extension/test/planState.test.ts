import { test } from "node:test";
import assert from "node:assert/strict";
import type { Plan } from "../src/api";
import { interpretStreamEvent, PlanState } from "../src/planState";

function plan(steps: Array<{ id: string; text?: string }>, archived = false): Plan {
  return {
    id: "p1",
    org_id: "o",
    title: "T",
    description: "",
    steps: steps.map((s) => ({ id: s.id, text: s.text ?? s.id, owner: "o", ts: "" })),
    participants: [],
    archived,
    created_at: "",
    updated_at: "",
  };
}

const ev = (data: unknown, type = "message") => ({
  type,
  data: typeof data === "string" ? data : JSON.stringify(data),
  lastEventId: "plan-p1:1",
});

test("stream events: connected, step, archived; named events and junk are ignored", () => {
  assert.deepEqual(interpretStreamEvent(ev({ type: "connected", plan_id: "p1" })), { kind: "connected", planId: "p1" });
  assert.deepEqual(
    interpretStreamEvent(ev({ type: "step", plan_id: "p1", id: 7, text: "t", owner: "o", ts: "2024-01-01T00:00:00Z" })),
    { kind: "step", planId: "p1", step: { id: "7", text: "t", owner: "o", ts: "2024-01-01T00:00:00Z" } },
  );
  assert.deepEqual(interpretStreamEvent(ev({ type: "archived", plan_id: "p1", memory_node_id: "n" })), {
    kind: "archived",
    planId: "p1",
    memoryNodeId: "n",
  });
  assert.equal(interpretStreamEvent(ev('<li id="step-1">t</li>', "step_html")).kind, "ignore");
  assert.equal(interpretStreamEvent(ev({ type: "step", id: "1", text: "t" }, "step")).kind, "ignore");
  assert.equal(interpretStreamEvent(ev("", "keep-alive")).kind, "ignore");
  assert.equal(interpretStreamEvent(ev("", "stream-open")).kind, "ignore");
  assert.equal(interpretStreamEvent(ev("not json")).kind, "ignore");
  assert.equal(interpretStreamEvent(ev("[1,2]")).kind, "ignore");
  assert.equal(interpretStreamEvent(ev({ type: "step", text: "no id" })).kind, "ignore");
  assert.equal(interpretStreamEvent(ev({ type: "other" })).kind, "ignore");
});

test("our reset message (history trimmed) asks for a refetch", () => {
  assert.deepEqual(interpretStreamEvent(ev({ type: "reset", plan_id: "p1" })), { kind: "reset" });
});

test("a step carries the participants the server decided; the state takes them once", () => {
  const message = interpretStreamEvent(
    ev({ type: "step", plan_id: "p1", id: "s", text: "t", owner: "dora", ts: "", participants: ["alice", "dora"] }),
  );
  assert.equal(message.kind, "step");
  assert.deepEqual(message.kind === "step" && message.participants, ["alice", "dora"]);
  const state = new PlanState(plan([]));
  assert.equal(state.setParticipants(["alice", "dora"]), true);
  assert.equal(state.setParticipants(["alice", "dora"]), false);
  assert.deepEqual(state.plan.participants, ["alice", "dora"]);
});

test("events this server never sends are ignored (django-eventstream's stream-reset, stream-error)", () => {
  assert.equal(interpretStreamEvent(ev({ channels: ["plan-p1"] }, "stream-reset")).kind, "ignore");
  assert.equal(interpretStreamEvent(ev({ condition: "forbidden", text: "x" }, "stream-error")).kind, "ignore");
});

test("a step seen in the GET and on the stream is kept once", () => {
  const state = new PlanState(plan([{ id: "a" }, { id: "b" }]));
  assert.equal(state.addStep({ id: "b", text: "b", owner: "o", ts: "" }), false);
  assert.equal(state.addStep({ id: "c", text: "c", owner: "o", ts: "" }), true);
  assert.equal(state.addStep({ id: "c", text: "c", owner: "o", ts: "" }), false);
  assert.deepEqual(
    state.plan.steps.map((s) => s.id),
    ["a", "b", "c"],
  );
});

test("a refreshed copy keeps the server's order and the streamed steps it does not have yet", () => {
  const state = new PlanState(plan([{ id: "a" }]));
  state.addStep({ id: "c", text: "c", owner: "o", ts: "" }); // streamed before the GET answered
  state.replace(plan([{ id: "a" }, { id: "b" }, { id: "b" }]));
  assert.deepEqual(
    state.plan.steps.map((s) => s.id),
    ["a", "b", "c"],
  );
  assert.equal(state.addStep({ id: "b", text: "b", owner: "o", ts: "" }), false);
  state.replace(plan([{ id: "a" }, { id: "b" }, { id: "c" }, { id: "d" }]));
  assert.deepEqual(
    state.plan.steps.map((s) => s.id),
    ["a", "b", "c", "d"],
  );
});

test("archived sticks once known", () => {
  const state = new PlanState(plan([]));
  assert.equal(state.markArchived(), true);
  assert.equal(state.markArchived(), false);
  state.replace(plan([], false)); // a stale read cannot un-archive
  assert.equal(state.plan.archived, true);
});

test("adding a step does not guess who joins: only the server's list changes the participants", () => {
  const state = new PlanState({ ...plan([]), participants: ["alice"] });
  state.addStep({ id: "a", text: "a", owner: "Erin", ts: "" });
  assert.deepEqual(state.plan.participants, ["alice"]);
  assert.equal(state.setParticipants(["alice", "Erin"]), true);
  assert.deepEqual(state.plan.participants, ["alice", "Erin"]);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { normalizePlan, type Plan, type Step } from "../src/api";
import type { PlanEvent } from "../src/events.generated";
import {
  interpretStreamEvent,
  PlanState,
  positionAfter,
  PresenceState,
  type PlanChange,
  type PresenceSnapshot,
  type StreamMessage,
} from "../src/planState";

function step(id: string, overrides: Partial<Step> = {}): Step {
  return {
    id,
    text: id,
    owner: "o",
    ts: "2024-05-01T10:00:00Z",
    done: false,
    done_by: null,
    done_at: null,
    version: 1,
    updated_at: "2024-05-01T10:00:00Z",
    ...overrides,
  };
}

function plan(steps: Array<{ id: string; text?: string } | Step>, archived = false): Plan {
  const full = steps.map((s) => ("version" in s ? s : step(s.id, s.text === undefined ? {} : { text: s.text })));
  return {
    id: "p1",
    org_id: "o",
    title: "T",
    description: "",
    version: 1,
    steps: full,
    progress: { done: full.filter((s) => s.done).length, total: full.length },
    participants: [],
    archived,
    created_at: "",
    updated_at: "",
    last_event_id: "plan-p1:0",
  };
}

let eventNumber = 0;
const ev = (data: unknown, type = "message") => ({
  type,
  data: typeof data === "string" ? data : JSON.stringify(data),
  lastEventId: `plan-p1:${++eventNumber}`,
});

/** What the panel does with one server event (typed by the generated contract). */
function applyEvent(state: PlanState, data: PlanEvent): boolean {
  const message = interpretStreamEvent(ev(data));
  assert.notEqual(message.kind, "ignore", `the panel understands ${data.type}`);
  assert.notEqual(message.kind, "presence", "presence is not a change of the plan");
  return state.apply(message as PlanChange);
}

const ids = (state: PlanState) => state.plan.steps.map((s) => s.id);

test("stream events: connected, step, archived; named events and junk are ignored", () => {
  assert.deepEqual(interpretStreamEvent(ev({ type: "connected", plan_id: "p1" })), { kind: "connected", planId: "p1" });
  assert.deepEqual(
    interpretStreamEvent(ev({ type: "step", plan_id: "p1", id: 7, text: "t", owner: "o", ts: "2024-01-01T00:00:00Z" })),
    {
      kind: "step",
      planId: "p1",
      step: step("7", { text: "t", ts: "2024-01-01T00:00:00Z", updated_at: "2024-01-01T00:00:00Z" }),
    },
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

test("the events of working a plan are read with every field of the contract", () => {
  const s = step("s1", { done: true, done_by: "Dana", done_at: "2024-05-01T11:00:00Z", version: 3 });
  assert.deepEqual(interpretStreamEvent(ev({ type: "step_updated", plan_id: "p1", step: s })), {
    kind: "step_updated",
    planId: "p1",
    step: s,
  });
  assert.deepEqual(interpretStreamEvent(ev({ type: "step_moved", plan_id: "p1", step_id: "s1", after: null })), {
    kind: "step_moved",
    planId: "p1",
    stepId: "s1",
    after: null,
  });
  assert.deepEqual(interpretStreamEvent(ev({ type: "step_moved", plan_id: "p1", step_id: "s1", after: "s2" })), {
    kind: "step_moved",
    planId: "p1",
    stepId: "s1",
    after: "s2",
  });
  assert.deepEqual(interpretStreamEvent(ev({ type: "step_deleted", plan_id: "p1", step_id: "s1" })), {
    kind: "step_deleted",
    planId: "p1",
    stepId: "s1",
  });
  assert.deepEqual(interpretStreamEvent(ev({ type: "step_restored", plan_id: "p1", step: s, after: "s0" })), {
    kind: "step_restored",
    planId: "p1",
    step: s,
    after: "s0",
  });
  assert.deepEqual(
    interpretStreamEvent(ev({ type: "plan_updated", plan_id: "p1", title: "New", description: "d", version: 4 })),
    { kind: "plan_updated", planId: "p1", title: "New", description: "d", version: 4 },
  );
  // Malformed ones (no step, no step id) are left alone rather than half-applied.
  for (const bad of [
    { type: "step_updated", plan_id: "p1" },
    { type: "step_updated", plan_id: "p1", step: { text: "no id" } },
    { type: "step_moved", plan_id: "p1", after: null },
    { type: "step_deleted", plan_id: "p1", step_id: "" },
    { type: "step_restored", plan_id: "p1", step: null, after: null },
  ]) {
    assert.equal(interpretStreamEvent(ev(bad)).kind, "ignore", JSON.stringify(bad));
  }
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

test("a new step goes last; the panel's own step, then its event, is kept once", () => {
  const state = new PlanState(plan([{ id: "a" }, { id: "b" }]));
  assert.equal(state.addStep(step("c")), true);
  assert.equal(state.addStep(step("c")), false);
  assert.equal(applyEvent(state, { type: "step", plan_id: "p1", ...step("c"), participants: [] }), false);
  assert.deepEqual(ids(state), ["a", "b", "c"]);
  assert.deepEqual(state.plan.progress, { done: 0, total: 3 });
});

test("the panel's own step is put where the server put it when another step came first", () => {
  const state = new PlanState(plan([{ id: "a" }]));
  state.addStep(step("mine")); // the API answered before the stream brought the other step
  applyEvent(state, { type: "step", plan_id: "p1", ...step("theirs"), participants: [] });
  applyEvent(state, { type: "step", plan_id: "p1", ...step("mine"), participants: [] });
  assert.deepEqual(ids(state), ["a", "theirs", "mine"]);
});

test("step_updated replaces the step in place; an older version never replaces a newer one", () => {
  const state = new PlanState(plan([{ id: "a" }, { id: "b" }, { id: "c" }]));
  const ticked = step("b", { done: true, done_by: "Dana", done_at: "2024-05-01T11:00:00Z", version: 2 });
  assert.equal(applyEvent(state, { type: "step_updated", plan_id: "p1", step: ticked }), true);
  assert.deepEqual(ids(state), ["a", "b", "c"]);
  assert.deepEqual(state.step("b"), ticked);
  assert.deepEqual(state.plan.progress, { done: 1, total: 3 });
  // The panel's own edit (version 3) shown from the API's answer; the tick's event arrives late.
  assert.equal(state.updateStep(step("b", { text: "B!", done: true, done_by: "Dana", version: 3 })), true);
  assert.equal(applyEvent(state, { type: "step_updated", plan_id: "p1", step: ticked }), false);
  assert.equal(state.step("b")?.text, "B!");
  // The same thing twice changes nothing; an unknown step is not invented.
  assert.equal(state.updateStep(step("b", { text: "B!", done: true, done_by: "Dana", version: 3 })), false);
  assert.equal(applyEvent(state, { type: "step_updated", plan_id: "p1", step: step("zzz", { version: 9 }) }), false);
  assert.deepEqual(ids(state), ["a", "b", "c"]);
});

test("step_moved takes the step out and puts it right after `after` (null: first)", () => {
  const state = new PlanState(plan([{ id: "a" }, { id: "b" }, { id: "c" }, { id: "d" }]));
  assert.equal(applyEvent(state, { type: "step_moved", plan_id: "p1", step_id: "c", after: null }), true);
  assert.deepEqual(ids(state), ["c", "a", "b", "d"]);
  assert.equal(applyEvent(state, { type: "step_moved", plan_id: "p1", step_id: "c", after: "d" }), true);
  assert.deepEqual(ids(state), ["a", "b", "d", "c"]);
  assert.equal(applyEvent(state, { type: "step_moved", plan_id: "p1", step_id: "a", after: "b" }), true);
  assert.deepEqual(ids(state), ["b", "a", "d", "c"]);
  // Already there: nothing changes. A step not shown: nothing. An `after` not shown: last.
  assert.equal(applyEvent(state, { type: "step_moved", plan_id: "p1", step_id: "a", after: "b" }), false);
  assert.equal(applyEvent(state, { type: "step_moved", plan_id: "p1", step_id: "nope", after: null }), false);
  assert.equal(applyEvent(state, { type: "step_moved", plan_id: "p1", step_id: "b", after: "gone" }), true);
  assert.deepEqual(ids(state), ["a", "d", "c", "b"]);
});

test("step_deleted takes the step out; step_restored puts it right after `after`", () => {
  const state = new PlanState(plan([{ id: "a" }, step("b", { done: true, done_by: "x" }), { id: "c" }]));
  assert.deepEqual(state.plan.progress, { done: 1, total: 3 });
  assert.equal(applyEvent(state, { type: "step_deleted", plan_id: "p1", step_id: "b" }), true);
  assert.deepEqual(ids(state), ["a", "c"]);
  assert.deepEqual(state.plan.progress, { done: 0, total: 2 });
  assert.equal(applyEvent(state, { type: "step_deleted", plan_id: "p1", step_id: "b" }), false);
  const back = step("b", { done: true, done_by: "x", version: 3 });
  assert.equal(applyEvent(state, { type: "step_restored", plan_id: "p1", step: back, after: "a" }), true);
  assert.deepEqual(ids(state), ["a", "b", "c"]);
  assert.deepEqual(state.step("b"), back);
  assert.deepEqual(state.plan.progress, { done: 1, total: 3 });
  applyEvent(state, { type: "step_deleted", plan_id: "p1", step_id: "a" });
  applyEvent(state, { type: "step_restored", plan_id: "p1", step: step("a", { version: 3 }), after: null });
  assert.deepEqual(ids(state), ["a", "b", "c"]);
});

test("plan_updated sets title, description and version; an older version is ignored", () => {
  const state = new PlanState(plan([]));
  assert.equal(applyEvent(state, { type: "plan_updated", plan_id: "p1", title: "New", description: "D", version: 3 }), true);
  assert.deepEqual([state.plan.title, state.plan.description, state.plan.version], ["New", "D", 3]);
  assert.equal(applyEvent(state, { type: "plan_updated", plan_id: "p1", title: "Old", description: "", version: 2 }), false);
  assert.equal(state.plan.title, "New");
  assert.equal(state.updatePlan({ title: "New", description: "D", version: 3 }), false);
});

test("a mix of every event, applied to the plan as fetched, gives what a fresh GET returns", () => {
  // The GET: three steps, at position plan-p1:10.
  const fetched = normalizePlan({
    id: "p1",
    org_id: "acme",
    title: "Release",
    description: "",
    version: 1,
    steps: [step("a"), step("b"), step("c")],
    progress: { done: 0, total: 3 },
    participants: ["dana"],
    archived: false,
    created_at: "2024-05-01T09:00:00Z",
    updated_at: "2024-05-01T10:00:00Z",
    last_event_id: "plan-p1:10",
  });
  const state = new PlanState(fetched);
  const events: PlanEvent[] = [
    { type: "step", plan_id: "p1", ...step("d", { owner: "erin" }), participants: ["dana", "erin"] },
    {
      type: "step_updated",
      plan_id: "p1",
      step: step("b", { done: true, done_by: "Erin", done_at: "2024-05-01T11:00:00Z", version: 2 }),
    },
    { type: "step_moved", plan_id: "p1", step_id: "d", after: null },
    { type: "step_deleted", plan_id: "p1", step_id: "a" },
    { type: "step_restored", plan_id: "p1", step: step("a", { version: 3 }), after: "b" },
    { type: "step_moved", plan_id: "p1", step_id: "c", after: "d" },
    { type: "step_updated", plan_id: "p1", step: step("c", { text: "C, reworded", version: 2 }) },
    { type: "plan_updated", plan_id: "p1", title: "Release 2.0", description: "Ship it", version: 2 },
    { type: "step_deleted", plan_id: "p1", step_id: "a" },
  ];
  for (const event of events) {
    applyEvent(state, event);
  }
  // What GET /api/plan/p1 returns after those writes (its times and position aside).
  const fresh = normalizePlan({
    ...fetched,
    title: "Release 2.0",
    description: "Ship it",
    version: 2,
    steps: [
      step("d", { owner: "erin" }),
      step("c", { text: "C, reworded", version: 2 }),
      step("b", { done: true, done_by: "Erin", done_at: "2024-05-01T11:00:00Z", version: 2 }),
    ],
    progress: { done: 1, total: 3 },
    participants: ["dana", "erin"],
  });
  const described = (p: Plan) => {
    const { last_event_id: _position, updated_at: _updated, ...rest } = p;
    return rest;
  };
  assert.deepEqual(described(state.plan), described(fresh));
});

test("random writers: the fetched plan plus the events in order equals the server's list, own writes echoed early", () => {
  // A list model of the server (DESIGN 10): each write changes its list and emits the contract's event.
  let seed = 20261202;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)];
  for (let round = 0; round < 30; round++) {
    let live: Step[] = [step("s0"), step("s1"), step("s2")];
    const deleted = new Map<string, Step>();
    let next = 3;
    let title = "T";
    let planVersion = 1;
    const state = new PlanState(plan(live.map((s) => ({ ...s }))));
    const queue: PlanEvent[] = [];
    for (let n = 0; n < 60; n++) {
      const roll = random();
      const own = random() < 0.4; // the panel's own write: the API's answer is shown before its event
      if (roll < 0.2 || live.length === 0) {
        const s = step(`s${next++}`);
        live.push(s);
        queue.push({ type: "step", plan_id: "p1", ...s, participants: [] });
        if (own) state.addStep(s);
      } else if (roll < 0.45) {
        const old = pick(live);
        const s = { ...old, done: !old.done, done_by: old.done ? null : "x", text: `${old.id} v${old.version + 1}`, version: old.version + 1 };
        live = live.map((x) => (x.id === s.id ? s : x));
        queue.push({ type: "step_updated", plan_id: "p1", step: s });
        if (own) state.updateStep(s);
      } else if (roll < 0.7) {
        const s = pick(live);
        const rest = live.filter((x) => x.id !== s.id);
        const at = Math.floor(random() * (rest.length + 1));
        live = [...rest.slice(0, at), s, ...rest.slice(at)];
        queue.push({ type: "step_moved", plan_id: "p1", step_id: s.id, after: at === 0 ? null : rest[at - 1].id });
      } else if (roll < 0.85) {
        const s = pick(live);
        live = live.filter((x) => x.id !== s.id);
        deleted.set(s.id, s);
        queue.push({ type: "step_deleted", plan_id: "p1", step_id: s.id });
      } else if (roll < 0.95 && deleted.size) {
        const old = pick([...deleted.values()]);
        deleted.delete(old.id);
        const s = { ...old, version: old.version + 2 };
        const at = Math.floor(random() * (live.length + 1));
        live = [...live.slice(0, at), s, ...live.slice(at)];
        queue.push({ type: "step_restored", plan_id: "p1", step: s, after: at === 0 ? null : live[at - 1].id });
      } else {
        title = `T${++planVersion}`;
        queue.push({ type: "plan_updated", plan_id: "p1", title, description: "", version: planVersion });
        if (own) state.updatePlan({ title, description: "", version: planVersion });
      }
      // The stream delivers in order, sometimes later than the answers.
      while (queue.length && random() < 0.5) {
        applyEvent(state, queue.shift()!);
      }
    }
    while (queue.length) {
      applyEvent(state, queue.shift()!);
    }
    assert.deepEqual(state.plan.steps, live, `round ${round}`);
    assert.equal(state.plan.title, title);
    assert.equal(state.plan.version, planVersion);
    assert.deepEqual(state.plan.progress, { done: live.filter((s) => s.done).length, total: live.length });
  }
});

test("Move up / Move down: where the step goes and its new position", () => {
  const state = new PlanState(plan([{ id: "a" }, { id: "b" }, { id: "c" }]));
  assert.equal(state.moveTarget("a", "up"), undefined);
  assert.equal(state.moveTarget("c", "down"), undefined);
  assert.equal(state.moveTarget("nope", "down"), undefined);
  assert.deepEqual(state.moveTarget("b", "up"), { after: null, position: 1 });
  assert.deepEqual(state.moveTarget("c", "up"), { after: "a", position: 2 });
  assert.deepEqual(state.moveTarget("a", "down"), { after: "b", position: 2 });
  assert.deepEqual(state.moveTarget("b", "down"), { after: "c", position: 3 });
  assert.equal(state.position("c"), 3);
  assert.equal(state.position("nope"), 0);
});

test("a refreshed copy (GET after a reset) is the truth: its order, its steps", () => {
  const state = new PlanState(plan([{ id: "a" }, { id: "b" }]));
  state.addStep(step("c"));
  state.replace(plan([{ id: "b" }, { id: "a" }, { id: "a" }]));
  assert.deepEqual(ids(state), ["b", "a"]);
  assert.deepEqual(state.plan.progress, { done: 0, total: 2 });
});

test("archived sticks once known", () => {
  const state = new PlanState(plan([]));
  assert.equal(state.markArchived(), true);
  assert.equal(state.markArchived(), false);
  state.replace(plan([], false)); // a stale read cannot un-archive
  assert.equal(state.plan.archived, true);
  const other = new PlanState(plan([]));
  assert.equal(applyEvent(other, { type: "archived", plan_id: "p1", memory_node_id: "n" }), true);
  assert.equal(other.plan.archived, true);
});

test("adding a step does not guess who joins: only the server's list changes the participants", () => {
  const state = new PlanState({ ...plan([]), participants: ["alice"] });
  state.addStep(step("a", { owner: "Erin" }));
  assert.deepEqual(state.plan.participants, ["alice"]);
  assert.equal(state.setParticipants(["alice", "Erin"]), true);
  assert.deepEqual(state.plan.participants, ["alice", "Erin"]);
});

// Presence (DESIGN 11) ---------------------------------------------------------------------------

const dana = { username: "dana", name: "Dana Dev", since: "2024-05-01T10:00:00Z" };
const erin = { username: "erin", name: "Erin Ops", since: "2024-05-01T10:01:00Z" };

/** A presence frame as the server sends it: no `id:`, so it carries the last id it inherited. */
const presenceEv = (data: unknown, inherited = "plan-p1:3") => ({
  type: "message",
  data: JSON.stringify(data),
  lastEventId: inherited,
});

test("a presence event is read with its viewers, first arrived first, and the count of all of them", () => {
  const event: PlanEvent = { type: "presence", plan_id: "p1", viewers: [dana, erin], count: 5 };
  assert.deepEqual(interpretStreamEvent(presenceEv(event)), {
    kind: "presence",
    planId: "p1",
    viewers: [dana, erin],
    count: 5,
  });
  // A count below the list (never sent) is the list's length; junk entries are left out; a viewer
  // without a name shows their username.
  assert.deepEqual(
    interpretStreamEvent(
      presenceEv({ type: "presence", plan_id: "p1", viewers: [null, 7, { username: "zoe", since: "t" }], count: 0 }),
    ),
    { kind: "presence", planId: "p1", viewers: [{ username: "zoe", name: "zoe", since: "t" }], count: 1 },
  );
  assert.equal(interpretStreamEvent(presenceEv({ type: "presence", plan_id: "p1", count: 2 })).kind, "ignore");
  // The page's fragment of it is a named event: not for the panel.
  assert.equal(interpretStreamEvent({ type: "presence_html", data: "<div id=viewers>", lastEventId: "" }).kind, "ignore");
});

test("a presence event does not move the stream's position; stored events do, a reset does not", () => {
  const presence = presenceEv({ type: "presence", plan_id: "p1", viewers: [dana], count: 1 }, "plan-p1:3");
  const message = interpretStreamEvent(presence);
  assert.equal(positionAfter("plan-p1:7", presence, message), "plan-p1:7");
  assert.equal(positionAfter("", presence, message), "");
  const stepEvent = ev({ type: "step", plan_id: "p1", id: "s9", text: "t", owner: "o", ts: "" });
  assert.equal(positionAfter("plan-p1:7", stepEvent, interpretStreamEvent(stepEvent)), stepEvent.lastEventId);
  const reset = ev({ type: "reset", plan_id: "p1" });
  assert.equal(positionAfter("plan-p1:7", reset, interpretStreamEvent(reset)), "plan-p1:7");
});

test("who is here: each presence event replaces the list; not known while the stream is not open", () => {
  const presence = new PresenceState();
  assert.deepEqual(presence.snapshot, { viewers: null, count: 0 }, "not known before the first event");
  const read = (viewers: typeof dana[], count = viewers.length) => {
    const m: StreamMessage = interpretStreamEvent(presenceEv({ type: "presence", plan_id: "p1", viewers, count }));
    assert.equal(m.kind, "presence");
    return m as Extract<StreamMessage, { kind: "presence" }>;
  };
  assert.equal(presence.set(read([dana])), true);
  assert.deepEqual(presence.snapshot, { viewers: [dana], count: 1 });
  assert.equal(presence.set(read([dana, erin])), true);
  assert.deepEqual(presence.snapshot, { viewers: [dana, erin], count: 2 });
  assert.equal(presence.set(read([dana, erin])), false, "the same list again changes nothing");
  assert.equal(presence.set(read([dana, erin], 3)), true, "a new count alone is a change");
  assert.equal(presence.set(read([dana])), true, "Erin left");
  assert.deepEqual(presence.snapshot, { viewers: [dana], count: 1 });

  // The stream dropped: the list is not kept (Dana may have left meanwhile).
  assert.equal(presence.clear(), true);
  assert.deepEqual(presence.snapshot, { viewers: null, count: 0 });
  assert.equal(presence.clear(), false);
  // The reconnected stream's first presence event is the list again, whatever was there before.
  assert.equal(presence.set(read([erin])), true);
  assert.deepEqual(presence.snapshot, { viewers: [erin], count: 1 });

  // The snapshot is a copy: changing it does not change the state.
  const copy: PresenceSnapshot = presence.snapshot;
  copy.viewers?.push(dana);
  assert.deepEqual(presence.snapshot, { viewers: [erin], count: 1 });
});

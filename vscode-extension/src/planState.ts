/**
 * The host's copy of the plan shown in the panel, kept current from the API and the stream.
 *
 * The plan is read once (GET, which also gives the stream position it was read at); the stream is
 * then opened from that position, and every event after it is applied here exactly as the server's
 * contract says (plans/events.py, tests/plans/test_events.py `apply_event`): a new step goes last,
 * `step_updated` replaces the step in place, `step_moved` and `step_restored` put the step right
 * after `after` (null: first), `step_deleted` takes it out, `plan_updated` sets title, description
 * and version. Applied in id order to the plan as fetched, they give what a fresh GET returns.
 *
 * The panel's own writes can arrive twice (the API's answer, then the event): a step's data is
 * only replaced by a version at least as new, and a step event for a step already shown moves it
 * to the end, where the server put it.
 *
 * Who is viewing (`presence`, DESIGN 11) is kept apart (PresenceState): it is not part of the plan,
 * has no stream id, and is unknown while the stream is not open. No `vscode` import.
 */
import { normalizeStep, progressOf, type Plan, type Step } from "./api";
import type { PlanEvent, PlanPresenceEvent } from "./events.generated";
import type { SseEvent } from "./sse";

export type StreamMessage =
  | { kind: "connected"; planId?: string }
  /** `participants`: the plan's list after this step, as the server decided it. */
  | { kind: "step"; planId?: string; step: Step; participants?: string[] }
  | { kind: "step_updated"; planId?: string; step: Step }
  | { kind: "step_moved"; planId?: string; stepId: string; after: string | null }
  | { kind: "step_deleted"; planId?: string; stepId: string }
  | { kind: "step_restored"; planId?: string; step: Step; after: string | null }
  | { kind: "plan_updated"; planId?: string; title: string; description: string; version?: number }
  | { kind: "archived"; planId?: string; memoryNodeId?: string }
  /**
   * Who has the plan's stream open now (DESIGN 11), first arrived first; `count` is all of them (the
   * list may be cut short). It has no id: it never moves the stream's position.
   */
  | { kind: "presence"; planId?: string; viewers: Viewer[]; count: number }
  /** The server could not replay what was missed (`{"type":"reset"}`): refetch the plan. */
  | { kind: "reset" }
  | { kind: "ignore" };

/** One user viewing the plan, as a `presence` event lists them. */
export type Viewer = PlanPresenceEvent["viewers"][number];

/** The messages that change the plan (what `PlanState.apply` takes). */
export type PlanChange = Extract<
  StreamMessage,
  { kind: "step" | "step_updated" | "step_moved" | "step_deleted" | "step_restored" | "plan_updated" | "archived" }
>;

/**
 * The server's declared event types (events.generated.ts) this panel acts on: all of them. A record
 * over the generated union, so that a type the server adds fails to compile until it is handled.
 */
const KNOWN_TYPES: Record<PlanEvent["type"], true> = {
  connected: true,
  reset: true,
  presence: true,
  step: true,
  step_updated: true,
  step_moved: true,
  step_deleted: true,
  step_restored: true,
  plan_updated: true,
  archived: true,
};
const KNOWN: ReadonlySet<string> = new Set(Object.keys(KNOWN_TYPES));

function idOf(value: unknown): string | undefined {
  return value === undefined || value === null || value === "" ? undefined : String(value);
}

function stepOf(value: unknown): Step | undefined {
  if (!value || typeof value !== "object" || idOf((value as Record<string, unknown>).id) === undefined) {
    return undefined;
  }
  return normalizeStep(value);
}

function afterOf(value: unknown): string | null {
  return idOf(value) ?? null;
}

function viewersOf(value: unknown): Viewer[] | undefined {
  if (!Array.isArray(value)) {
    return undefined;
  }
  const viewers: Viewer[] = [];
  for (const item of value) {
    if (!item || typeof item !== "object") {
      continue;
    }
    const v = item as Record<string, unknown>;
    const username = v.username === undefined || v.username === null ? "" : String(v.username);
    const name = v.name === undefined || v.name === null || v.name === "" ? username : String(v.name);
    if (username === "" && name === "") {
      continue;
    }
    viewers.push({ username, name, since: v.since === undefined || v.since === null ? "" : String(v.since) });
  }
  return viewers;
}

/**
 * What a stream event means for the panel. The server sends its JSON events as default ("message")
 * events; named events carry HTML fragments for the htmx pages and are ignored here.
 */
export function interpretStreamEvent(event: SseEvent): StreamMessage {
  if (event.type !== "message") {
    return { kind: "ignore" };
  }
  let data: Partial<Record<string, unknown>> & { type?: unknown };
  try {
    const parsed: unknown = JSON.parse(event.data);
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
      return { kind: "ignore" };
    }
    data = parsed as Record<string, unknown>;
  } catch {
    return { kind: "ignore" };
  }
  if (typeof data.type !== "string" || !KNOWN.has(data.type as PlanEvent["type"])) {
    return { kind: "ignore" };
  }
  const planId = data.plan_id === undefined ? undefined : String(data.plan_id);
  const ignore: StreamMessage = { kind: "ignore" };
  switch (data.type as PlanEvent["type"]) {
    case "connected":
      return { kind: "connected", planId };
    case "reset":
      return { kind: "reset" };
    case "presence": {
      const viewers = viewersOf(data.viewers);
      if (!viewers) {
        return ignore;
      }
      // `count` is everyone; the list holds at most the server's limit of them.
      const count =
        typeof data.count === "number" && Number.isInteger(data.count) && data.count >= viewers.length
          ? data.count
          : viewers.length;
      return { kind: "presence", planId, viewers, count };
    }
    case "step": {
      if (data.id === undefined || data.id === null) {
        return ignore;
      }
      const participants = Array.isArray(data.participants) ? data.participants.map((p) => String(p)) : undefined;
      return { kind: "step", planId, step: normalizeStep(data), ...(participants ? { participants } : {}) };
    }
    case "step_updated": {
      const step = stepOf(data.step);
      return step ? { kind: "step_updated", planId, step } : ignore;
    }
    case "step_moved": {
      const stepId = idOf(data.step_id);
      return stepId ? { kind: "step_moved", planId, stepId, after: afterOf(data.after) } : ignore;
    }
    case "step_deleted": {
      const stepId = idOf(data.step_id);
      return stepId ? { kind: "step_deleted", planId, stepId } : ignore;
    }
    case "step_restored": {
      const step = stepOf(data.step);
      return step ? { kind: "step_restored", planId, step, after: afterOf(data.after) } : ignore;
    }
    case "plan_updated":
      return {
        kind: "plan_updated",
        planId,
        title: String(data.title ?? ""),
        description: String(data.description ?? ""),
        ...(typeof data.version === "number" ? { version: data.version } : {}),
      };
    case "archived":
      return {
        kind: "archived",
        planId,
        memoryNodeId: data.memory_node_id === undefined ? undefined : String(data.memory_node_id),
      };
  }
  return ignore;
}

/**
 * The stream position after this event: the event's id, except for a `reset` (the plan is read
 * again, with its own position) and a `presence` event, which has no id and is never replayed.
 */
export function positionAfter(position: string, event: SseEvent, message: StreamMessage): string {
  if (!event.lastEventId || message.kind === "reset" || message.kind === "presence") {
    return position;
  }
  return event.lastEventId;
}

/** What the panel knows of who is viewing: `viewers` null while it does not know (not live). */
export interface PresenceSnapshot {
  viewers: Viewer[] | null;
  count: number;
}

/**
 * Who is viewing the plan, from the stream's `presence` events. Each event replaces the list (a
 * reconnect's first one replaces what was there before). While the stream is not open the list is
 * unknown (`clear`), not kept: the panel would otherwise show people who may have left.
 */
export class PresenceState {
  private viewers: Viewer[] | null = null;
  private count = 0;

  get snapshot(): PresenceSnapshot {
    return { viewers: this.viewers ? this.viewers.map((v) => ({ ...v })) : null, count: this.count };
  }

  /** Apply a `presence` event. Returns true when what is shown changed. */
  set(message: { viewers: Viewer[]; count: number }): boolean {
    const now = this.viewers;
    const same =
      now !== null &&
      this.count === message.count &&
      now.length === message.viewers.length &&
      now.every((v, i) => {
        const w = message.viewers[i];
        return v.username === w.username && v.name === w.name && v.since === w.since;
      });
    if (same) {
      return false;
    }
    this.viewers = message.viewers.map((v) => ({ ...v }));
    this.count = message.count;
    return true;
  }

  /** The stream is not open: who is viewing is not known. Returns true when a list was shown. */
  clear(): boolean {
    if (this.viewers === null) {
      return false;
    }
    this.viewers = null;
    this.count = 0;
    return true;
  }
}

/** Where a Move up / Move down puts a step: right after `after` (null: first), at `position` (1-based). */
export interface MoveTarget {
  after: string | null;
  position: number;
}

export class PlanState {
  private current: Plan;

  constructor(plan: Plan) {
    this.current = { ...plan, steps: [] };
    this.replace(plan);
  }

  get plan(): Plan {
    return this.current;
  }

  get id(): string {
    return this.current.id;
  }

  /** The step with this id, if the plan has it. */
  step(stepId: string): Step | undefined {
    return this.current.steps.find((s) => s.id === stepId);
  }

  /** 1-based position of the step, or 0 when it is not there. */
  position(stepId: string): number {
    return this.current.steps.findIndex((s) => s.id === stepId) + 1;
  }

  /**
   * A step the API just returned for the panel's own "add step". Returns true when it was new. The
   * participants are not guessed here: the step's stream event carries the server's list
   * (`setParticipants`), so the rule of who joins lives only on the server.
   */
  addStep(step: Step): boolean {
    if (step.id !== "" && this.step(step.id)) {
      return false;
    }
    this.setSteps([...this.current.steps, step]);
    return true;
  }

  /**
   * A step as the API returned it for the panel's own edit or tick (or as a 409 says it is now):
   * replaces the step in place unless what is shown is newer. Returns true when something changed.
   */
  updateStep(step: Step): boolean {
    const index = this.current.steps.findIndex((s) => s.id === step.id);
    if (index < 0 || this.current.steps[index].version > step.version || sameStep(this.current.steps[index], step)) {
      return false;
    }
    const steps = [...this.current.steps];
    steps[index] = step;
    this.setSteps(steps);
    return true;
  }

  /** The plan's title, description and version as the API or an event gives them (an older version is ignored). */
  updatePlan(fields: { title: string; description: string; version?: number }): boolean {
    const version = fields.version ?? this.current.version;
    if (version < this.current.version) {
      return false;
    }
    const p = this.current;
    if (p.title === fields.title && p.description === fields.description && p.version === version) {
      return false;
    }
    this.current = { ...p, title: fields.title, description: fields.description, version };
    return true;
  }

  /** Apply one event of the plan's stream. Returns true when what the panel shows changed. */
  apply(message: PlanChange): boolean {
    switch (message.kind) {
      case "step": {
        const joined = message.participants ? this.setParticipants(message.participants) : false;
        return this.appendFromEvent(message.step) || joined;
      }
      case "step_updated": {
        if (!this.step(message.step.id)) {
          return false; // not shown (cannot happen on a stream read from the plan's position)
        }
        return this.updateStep(message.step);
      }
      case "step_moved": {
        const step = this.step(message.stepId);
        return step ? this.place(step, message.after) : false;
      }
      case "step_deleted": {
        if (!this.step(message.stepId)) {
          return false;
        }
        this.setSteps(this.current.steps.filter((s) => s.id !== message.stepId));
        return true;
      }
      case "step_restored": {
        const shown = this.step(message.step.id);
        const step = shown && shown.version > message.step.version ? shown : message.step;
        return this.place(step, message.after);
      }
      case "plan_updated":
        return this.updatePlan(message);
      case "archived":
        return this.markArchived();
    }
  }

  /** Where Move up / Move down would put the step, or undefined when it is already first / last. */
  moveTarget(stepId: string, direction: "up" | "down"): MoveTarget | undefined {
    const steps = this.current.steps;
    const index = steps.findIndex((s) => s.id === stepId);
    if (index < 0) {
      return undefined;
    }
    if (direction === "up") {
      if (index === 0) {
        return undefined;
      }
      return { after: index >= 2 ? steps[index - 2].id : null, position: index };
    }
    if (index >= steps.length - 1) {
      return undefined;
    }
    return { after: steps[index + 1].id, position: index + 2 };
  }

  /** A fresh copy from the server (GET): it is the truth as of its position. Archived sticks. */
  replace(plan: Plan): void {
    const steps: Step[] = [];
    const ids = new Set<string>();
    for (const step of plan.steps) {
      if (step.id !== "" && ids.has(step.id)) {
        continue;
      }
      ids.add(step.id);
      steps.push(step);
    }
    this.current = {
      ...plan,
      steps,
      progress: progressOf(steps),
      archived: plan.archived || this.current.archived,
    };
  }

  /** The participants a step event carries. Returns true when they differ from what is shown. */
  setParticipants(participants: string[]): boolean {
    const now = this.current.participants;
    if (now.length === participants.length && now.every((name, i) => name === participants[i])) {
      return false;
    }
    this.current = { ...this.current, participants: [...participants] };
    return true;
  }

  markArchived(): boolean {
    if (this.current.archived) {
      return false;
    }
    this.current = { ...this.current, archived: true };
    return true;
  }

  /** A step event: the step goes last (where the server put it when it was added). */
  private appendFromEvent(step: Step): boolean {
    const shown = this.step(step.id);
    const steps = this.current.steps;
    if (shown && steps[steps.length - 1] === shown && shown.version >= step.version) {
      return false; // the panel's own step, already shown last
    }
    const keep = shown && shown.version > step.version ? shown : step;
    this.setSteps([...steps.filter((s) => s.id !== step.id), keep]);
    return true;
  }

  /** Take the step out and put it right after `after` (null: first; a step not shown: last). */
  private place(step: Step, after: string | null): boolean {
    const before = this.current.steps;
    const rest = before.filter((s) => s.id !== step.id);
    let index = 0;
    if (after !== null) {
      const at = rest.findIndex((s) => s.id === after);
      index = at < 0 ? rest.length : at + 1;
    }
    const steps = [...rest.slice(0, index), step, ...rest.slice(index)];
    if (steps.length === before.length && steps.every((s, i) => s === before[i])) {
      return false;
    }
    this.setSteps(steps);
    return true;
  }

  private setSteps(steps: Step[]): void {
    this.current = { ...this.current, steps, progress: progressOf(steps) };
  }
}

function sameStep(a: Step, b: Step): boolean {
  return (
    a.id === b.id &&
    a.text === b.text &&
    a.owner === b.owner &&
    a.ts === b.ts &&
    a.done === b.done &&
    a.done_by === b.done_by &&
    a.done_at === b.done_at &&
    a.version === b.version &&
    a.updated_at === b.updated_at
  );
}

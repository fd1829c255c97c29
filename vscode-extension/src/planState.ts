/**
 * The host's copy of the plan shown in the panel, kept current from the API and the stream.
 * A step can arrive twice (in a GET and on the stream, or replayed after a reconnect): steps are
 * keyed by their id. No `vscode` import.
 */
import { normalizeStep, type Plan, type Step } from "./api";
import type { SseEvent } from "./sse";

export type StreamMessage =
  | { kind: "connected"; planId?: string }
  | { kind: "step"; planId?: string; step: Step }
  | { kind: "archived"; planId?: string; memoryNodeId?: string }
  /** The server could not replay what was missed (`{"type":"reset"}`, or django-eventstream's
   * "stream-reset"): refetch the plan. */
  | { kind: "reset" }
  /** django-eventstream "stream-error" (e.g. permission revoked mid-stream). */
  | { kind: "error"; message: string }
  | { kind: "ignore" };

/**
 * What a stream event means for the panel. Named events other than "message" are meant for the
 * htmx pages (HTML fragments) or are keep-alives, and are ignored, except django-eventstream's own
 * stream-reset and stream-error.
 */
export function interpretStreamEvent(event: SseEvent): StreamMessage {
  if (event.type === "stream-reset") {
    return { kind: "reset" };
  }
  if (event.type === "stream-error") {
    let message = "The server closed the event stream.";
    try {
      const data = JSON.parse(event.data) as { text?: unknown; condition?: unknown };
      if (typeof data.text === "string" && data.text) {
        message = `The server closed the event stream: ${data.text}`;
      }
    } catch {
      // keep the generic message
    }
    return { kind: "error", message };
  }
  if (event.type !== "message") {
    return { kind: "ignore" };
  }
  let data: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(event.data);
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
      return { kind: "ignore" };
    }
    data = parsed as Record<string, unknown>;
  } catch {
    return { kind: "ignore" };
  }
  const planId = data.plan_id === undefined ? undefined : String(data.plan_id);
  switch (data.type) {
    case "connected":
      return { kind: "connected", planId };
    case "reset":
      return { kind: "reset" };
    case "step":
      if (data.id === undefined || data.id === null) {
        return { kind: "ignore" };
      }
      return { kind: "step", planId, step: normalizeStep(data) };
    case "archived":
      return {
        kind: "archived",
        planId,
        memoryNodeId: data.memory_node_id === undefined ? undefined : String(data.memory_node_id),
      };
    default:
      return { kind: "ignore" };
  }
}

/** The server's cap on a plan's participants (DESIGN 4: at most 50 names). */
export const MAX_PARTICIPANTS = 50;

export class PlanState {
  private current: Plan;
  private readonly stepIds = new Set<string>();

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

  /**
   * Adds a step unless one with the same id is already there. Returns true when it was new. As on
   * the server, the step's owner joins the participants (up to MAX_PARTICIPANTS): the step event
   * does not carry them, and the panel should not show a stale list until the next read.
   */
  addStep(step: Step): boolean {
    if (step.id !== "" && this.stepIds.has(step.id)) {
      return false;
    }
    if (step.id !== "") {
      this.stepIds.add(step.id);
    }
    const participants = this.current.participants;
    const joins = step.owner !== "" && !participants.includes(step.owner) && participants.length < MAX_PARTICIPANTS;
    this.current = {
      ...this.current,
      steps: [...this.current.steps, step],
      participants: joins ? [...participants, step.owner] : participants,
    };
    return true;
  }

  /**
   * A fresh copy from the server. Its steps come first in the server's order; steps we saw on the
   * stream that the copy does not have yet (it was read before they were written) are kept after.
   */
  replace(plan: Plan): void {
    const fresh = new Set(plan.steps.map((s) => s.id));
    const extra = this.current.steps.filter((s) => s.id !== "" && !fresh.has(s.id));
    const steps: Step[] = [];
    const ids = new Set<string>();
    for (const step of [...plan.steps, ...extra]) {
      if (step.id !== "" && ids.has(step.id)) {
        continue;
      }
      if (step.id !== "") {
        ids.add(step.id);
      }
      steps.push(step);
    }
    this.stepIds.clear();
    ids.forEach((id) => this.stepIds.add(id));
    this.current = { ...plan, steps, archived: plan.archived || this.current.archived };
  }

  markArchived(): boolean {
    if (this.current.archived) {
      return false;
    }
    this.current = { ...this.current, archived: true };
    return true;
  }
}

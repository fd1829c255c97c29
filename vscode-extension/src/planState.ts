/**
 * The host's copy of the plan shown in the panel, kept current from the API and the stream.
 * A step can arrive twice (in a GET and on the stream, or replayed after a reconnect): steps are
 * keyed by their id. No `vscode` import.
 */
import { normalizeStep, type Plan, type Step } from "./api";
import type { PlanEvent } from "./events.generated";
import type { SseEvent } from "./sse";

export type StreamMessage =
  | { kind: "connected"; planId?: string }
  /** `participants`: the plan's list after this step, as the server decided it. */
  | { kind: "step"; planId?: string; step: Step; participants?: string[] }
  | { kind: "archived"; planId?: string; memoryNodeId?: string }
  /** The server could not replay what was missed (`{"type":"reset"}`): refetch the plan. */
  | { kind: "reset" }
  | { kind: "ignore" };

/** The server's declared event types (events.generated.ts) this panel acts on. */
const KNOWN: ReadonlySet<PlanEvent["type"]> = new Set(["connected", "reset", "step", "archived"]);

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
  switch (data.type as PlanEvent["type"]) {
    case "connected":
      return { kind: "connected", planId };
    case "reset":
      return { kind: "reset" };
    case "step": {
      if (data.id === undefined || data.id === null) {
        return { kind: "ignore" };
      }
      const participants = Array.isArray(data.participants) ? data.participants.map((p) => String(p)) : undefined;
      return { kind: "step", planId, step: normalizeStep(data), ...(participants ? { participants } : {}) };
    }
    case "archived":
      return {
        kind: "archived",
        planId,
        memoryNodeId: data.memory_node_id === undefined ? undefined : String(data.memory_node_id),
      };
  }
}

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
   * Adds a step unless one with the same id is already there. Returns true when it was new. The
   * participants are not guessed here: the step's stream event carries the server's list
   * (`setParticipants`), so the rule of who joins lives only on the server.
   */
  addStep(step: Step): boolean {
    if (step.id !== "" && this.stepIds.has(step.id)) {
      return false;
    }
    if (step.id !== "") {
      this.stepIds.add(step.id);
    }
    this.current = { ...this.current, steps: [...this.current.steps, step] };
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
}

/**
 * Client for the AEP Live Plan JSON API (DESIGN.md section 4), and the one place where failures are
 * turned into messages a user can act on. No `vscode` import: unit-tested with Node.
 */
import { createHttpConnect, type ConnectFn } from "./sse";
import type { PlanPresenceEvent } from "./events.generated";

/** STEP of DESIGN 10. */
export interface Step {
  id: string;
  text: string;
  owner: string;
  ts: string;
  done: boolean;
  done_by: string | null;
  done_at: string | null;
  /** Starts at 1 and grows with every change of the step (a move leaves it as it is). */
  version: number;
  updated_at: string;
}

export interface Progress {
  done: number;
  total: number;
}

export interface Plan {
  id: string;
  org_id: string;
  title: string;
  description: string;
  version: number;
  steps: Step[];
  progress: Progress;
  participants: string[];
  archived: boolean;
  created_at: string;
  updated_at: string;
  /** GET /api/plan/{id} only: the stream position its steps were read at ("" when unknown). */
  last_event_id: string;
  /** GET /api/plan/{id} only: false for a viewer, who may read but not change the plan. */
  can_write?: boolean;
}

/** Where a moved or restored step now is: right after `after` (null: first). */
export interface PlacedStep {
  step: Step;
  after: string | null;
}

export interface PlanList {
  plans: Plan[];
  count: number;
}

export interface ApiConfig {
  serverUrl: string;
  token: string;
  orgId: string;
}

export interface ApiClientOptions {
  /** Defaults to the global fetch (Node 18+). */
  fetch?: typeof fetch;
  /** Per request; default 15 s. */
  timeoutMs?: number;
}

/** What the user can do about an error; the extension turns it into a button. */
export type ApiErrorAction = "setToken" | "openServerUrlSetting" | "openOrgIdSetting";

export type ApiErrorKind =
  | "config" // missing/invalid settings or token; nothing was sent
  | "network" // could not reach the server
  | "timeout"
  | "http" // the server answered with an error status
  | "protocol"; // the server answered something that is not the AEP API

/** What a 409 was about. */
export interface ConflictInfo {
  /** The plan is archived: it takes no more writes. */
  archived?: boolean;
  /** A stale `version`: nothing was written; this is the step as it is now. */
  step?: Step;
  /** A stale `version` on the plan: the plan as it is now. */
  plan?: Plan;
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly kind: ApiErrorKind,
    readonly status?: number,
    readonly action?: ApiErrorAction,
    /** The server's own words (detail or field errors), when it gave any. */
    readonly detail?: string,
    /** For a 409: archived, or stale with the current state. */
    readonly conflict?: ConflictInfo,
  ) {
    super(message);
    this.name = "ApiError";
  }

  /** The plan is archived (a 409 that says so). */
  get archived(): boolean {
    return this.conflict?.archived === true;
  }

  /** Someone else changed the step or plan first (a 409 carrying its current state). */
  get stale(): boolean {
    return this.conflict?.step !== undefined || this.conflict?.plan !== undefined;
  }
}

export const MESSAGES = {
  noToken: "Set your API token: run 'AEP: Set API Token'.",
  noOrg: "Set aep.orgId in Settings (your organisation's id, a slug such as acme).",
  badToken: "Your API token was rejected; run 'AEP: Set API Token'.",
} as const;

/** Context used to word messages: which server, which org, which plan. */
export interface ErrorContext {
  serverUrl: string;
  orgId?: string;
  planId?: string;
  /** The request was about this step of the plan. */
  stepId?: string;
}

/** "http://host:8000/" and "http://host:8000" are the same server; throws ApiError when not a URL. */
export function normalizeServerUrl(raw: string): string {
  const trimmed = (raw ?? "").trim();
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    throw new ApiError(
      `aep.serverUrl "${trimmed}" is not a valid URL; use something like http://localhost:8000.`,
      "config",
      undefined,
      "openServerUrlSetting",
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ApiError(
      `aep.serverUrl must start with http:// or https:// (got "${trimmed}").`,
      "config",
      undefined,
      "openServerUrlSetting",
    );
  }
  return url.toString().replace(/\/+$/, "");
}

/** Checks the settings and token before anything is sent. Returns the normalized config. */
export function validateConfig(config: Partial<ApiConfig>): ApiConfig {
  const token = (config.token ?? "").trim();
  if (token === "") {
    throw new ApiError(MESSAGES.noToken, "config", undefined, "setToken");
  }
  const orgId = (config.orgId ?? "").trim();
  if (orgId === "") {
    throw new ApiError(MESSAGES.noOrg, "config", undefined, "openOrgIdSetting");
  }
  return { serverUrl: normalizeServerUrl(config.serverUrl ?? ""), token, orgId };
}

/**
 * The server's explanation from an error body: `{"detail": "..."}` or DRF field errors
 * `{"title": ["This field is required."]}` (also nested, and `non_field_errors`).
 */
export function describeErrorBody(body: unknown): string | undefined {
  if (body === null || body === undefined) {
    return undefined;
  }
  if (typeof body === "string") {
    return body.trim() === "" ? undefined : body.trim();
  }
  if (Array.isArray(body)) {
    const parts = body.map((item) => describeErrorBody(item)).filter((p): p is string => !!p);
    return parts.length ? parts.join(" ") : undefined;
  }
  if (typeof body === "object") {
    const record = body as Record<string, unknown>;
    if (typeof record.detail === "string") {
      return record.detail;
    }
    const parts: string[] = [];
    for (const [field, value] of Object.entries(record)) {
      const text = describeErrorBody(value);
      if (!text) {
        continue;
      }
      parts.push(field === "non_field_errors" || field === "detail" ? text : `${field}: ${text}`);
    }
    return parts.length ? parts.join("; ") : undefined;
  }
  return String(body);
}

function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The user-facing error for an HTTP error status. `bodyText` is the raw response body. */
export function errorFromStatus(status: number, bodyText: string, ctx: ErrorContext): ApiError {
  const body = parseBody(bodyText);
  // Only trust a detail that came as JSON: an HTML error page is no explanation.
  const detail = body === undefined ? undefined : describeErrorBody(body);
  const org = ctx.orgId ? `org ${ctx.orgId}` : "this org";
  switch (status) {
    case 400:
      return new ApiError(
        detail ? `The server refused the request: ${detail}` : "The server refused the request (HTTP 400).",
        "http",
        status,
        detail && /x-org-id/i.test(detail) ? "openOrgIdSetting" : undefined,
        detail,
      );
    case 401:
      return new ApiError(MESSAGES.badToken, "http", status, "setToken", detail);
    case 403:
      return new ApiError(
        `You are not a member of ${org}; check aep.orgId.`,
        "http",
        status,
        "openOrgIdSetting",
        detail,
      );
    case 404:
      if (ctx.stepId && detail && !/^plan not found/i.test(detail)) {
        return new ApiError(
          `${detail} Someone else may have deleted it; the panel shows the plan as it is now.`,
          "http",
          status,
          undefined,
          detail,
        );
      }
      if (ctx.planId) {
        return new ApiError(
          `Plan ${ctx.planId} was not found in ${org} (deleted, or it belongs to another org).`,
          "http",
          status,
          undefined,
          detail,
        );
      }
      return new ApiError(
        `Not found on ${ctx.serverUrl}: is aep.serverUrl the AEP server?`,
        "http",
        status,
        "openServerUrlSetting",
        detail,
      );
    case 409:
      return conflictError(body, detail);
    default:
      if (status >= 500) {
        return new ApiError(
          `The AEP server at ${ctx.serverUrl} failed (HTTP ${status}); see the server log and try again.`,
          "http",
          status,
          undefined,
          detail,
        );
      }
      return new ApiError(
        detail ? `The server answered HTTP ${status}: ${detail}` : `The server answered HTTP ${status}.`,
        "http",
        status,
        undefined,
        detail,
      );
  }
}

/**
 * A 409: a stale version (the body carries the current step or plan: nothing was written), an
 * archived plan, or another refusal (a full plan) in the server's words.
 */
function conflictError(body: unknown, detail: string | undefined): ApiError {
  const record = body && typeof body === "object" && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
  if (record.step && typeof record.step === "object") {
    const step = normalizeStep(record.step);
    return new ApiError(
      `Someone else changed this step since you loaded it (it is now version ${step.version}): nothing was saved.`,
      "http",
      409,
      undefined,
      detail,
      { step },
    );
  }
  if (record.plan && typeof record.plan === "object") {
    const plan = normalizePlan(record.plan);
    return new ApiError(
      `Someone else changed this plan since you loaded it (it is now version ${plan.version}): nothing was saved.`,
      "http",
      409,
      undefined,
      detail,
      { plan },
    );
  }
  if (!detail || /archived/i.test(detail)) {
    return new ApiError(
      detail ? `This plan is archived and cannot change: ${detail}` : "This plan is archived and cannot change.",
      "http",
      409,
      undefined,
      detail,
      { archived: true },
    );
  }
  return new ApiError(`The server refused the change: ${detail}`, "http", 409, undefined, detail, {});
}

const UNREACHABLE_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EAI_NONAME",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EADDRNOTAVAIL",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "CERT_HAS_EXPIRED",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "EPROTO",
]);

/** Error codes found on an error, its `cause` chain and AggregateError members (fetch wraps them). */
export function errorCodes(error: unknown, depth = 0): string[] {
  if (!error || typeof error !== "object" || depth > 5) {
    return [];
  }
  const e = error as { code?: unknown; cause?: unknown; errors?: unknown };
  const codes: string[] = [];
  if (typeof e.code === "string") {
    codes.push(e.code);
  }
  codes.push(...errorCodes(e.cause, depth + 1));
  if (Array.isArray(e.errors)) {
    for (const inner of e.errors) {
      codes.push(...errorCodes(inner, depth + 1));
    }
  }
  return codes;
}

/** The user-facing error for a request that got no HTTP answer at all. */
export function errorFromNetwork(error: unknown, ctx: ErrorContext, timeoutMs?: number): ApiError {
  if (error instanceof ApiError) {
    return error;
  }
  const name = (error as { name?: string } | null)?.name;
  if (name === "TimeoutError") {
    return new ApiError(
      `The AEP server at ${ctx.serverUrl} did not answer${timeoutMs ? ` within ${formatDuration(timeoutMs)}` : ""}; is it running?`,
      "timeout",
      undefined,
      "openServerUrlSetting",
    );
  }
  const codes = errorCodes(error);
  const tls = codes.find((c) => /CERT|TLS|EPROTO/.test(c));
  if (tls) {
    return new ApiError(
      `Cannot reach the AEP server at ${ctx.serverUrl} securely (${tls}); check aep.serverUrl.`,
      "network",
      undefined,
      "openServerUrlSetting",
    );
  }
  const known = codes.find((c) => UNREACHABLE_CODES.has(c));
  const isFetchFailure = error instanceof TypeError && /fetch failed/i.test(error.message);
  if (known || isFetchFailure) {
    return new ApiError(
      `Cannot reach the AEP server at ${ctx.serverUrl}${known ? ` (${known})` : ""}; check aep.serverUrl or start it with make run.`,
      "network",
      undefined,
      "openServerUrlSetting",
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ApiError(`Request to ${ctx.serverUrl} failed: ${message}`, "network");
}

function formatDuration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`;
}

/** Map anything thrown by the client or the stream into an ApiError. */
export function toApiError(error: unknown, ctx: ErrorContext): ApiError {
  if (error instanceof ApiError) {
    return error;
  }
  const maybeHttp = error as { name?: string; status?: unknown; bodyText?: unknown } | null;
  if (maybeHttp && maybeHttp.name === "SseHttpError" && typeof maybeHttp.status === "number") {
    if (maybeHttp.status === 200) {
      return new ApiError(
        `${ctx.serverUrl} did not answer with an event stream: is aep.serverUrl the AEP server?`,
        "protocol",
        200,
        "openServerUrlSetting",
      );
    }
    return errorFromStatus(maybeHttp.status, String(maybeHttp.bodyText ?? ""), ctx);
  }
  return errorFromNetwork(error, ctx);
}

export class ApiClient {
  readonly config: ApiConfig;
  private readonly fetchFn: typeof fetch;
  private readonly timeoutMs: number;

  constructor(config: Partial<ApiConfig>, options: ApiClientOptions = {}) {
    this.config = validateConfig(config);
    this.fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.timeoutMs = options.timeoutMs ?? 15_000;
  }

  /** Headers every request carries; the stream adds Accept and Last-Event-ID. */
  headers(): Record<string, string> {
    return {
      Authorization: `Token ${this.config.token}`,
      "X-Org-Id": this.config.orgId,
    };
  }

  url(path: string): string {
    return `${this.config.serverUrl}${path}`;
  }

  streamUrl(planId: string): string {
    return this.url(`/api/plan/${encodeURIComponent(planId)}/stream`);
  }

  /** A connect function for SseClient on this plan's stream, with the same credentials. */
  streamConnect(planId: string): ConnectFn {
    return createHttpConnect(this.streamUrl(planId), this.headers());
  }

  /** Context for wording errors about this plan. */
  errorContext(planId?: string, stepId?: string): ErrorContext {
    return { serverUrl: this.config.serverUrl, orgId: this.config.orgId, planId, ...(stepId ? { stepId } : {}) };
  }

  async listPlans(options: { archived?: boolean; limit?: number; offset?: number } = {}): Promise<PlanList> {
    const query = new URLSearchParams();
    if (options.archived !== undefined) {
      query.set("archived", options.archived ? "true" : "false");
    }
    if (options.limit !== undefined) {
      query.set("limit", String(options.limit));
    }
    if (options.offset !== undefined) {
      query.set("offset", String(options.offset));
    }
    const qs = query.toString();
    const body = await this.request<PlanList>("GET", `/api/plan/list${qs ? `?${qs}` : ""}`);
    if (!body || !Array.isArray(body.plans)) {
      throw this.protocolError();
    }
    return { plans: body.plans.map(normalizePlan), count: typeof body.count === "number" ? body.count : body.plans.length };
  }

  async getPlan(planId: string): Promise<Plan> {
    this.checkPlanId(planId);
    const body = await this.request<Plan>("GET", `/api/plan/${encodeURIComponent(planId)}`, undefined, planId);
    if (!body || typeof body !== "object" || typeof body.id !== "string") {
      throw this.protocolError();
    }
    return normalizePlan(body);
  }

  /** Who has the plan's stream open now (DESIGN 11): one entry per user, first arrived first. */
  async getPresence(planId: string): Promise<{ viewers: PlanPresenceEvent["viewers"]; count: number }> {
    this.checkPlanId(planId);
    const path = `/api/plan/${encodeURIComponent(planId)}/presence`;
    const body = await this.request<{ viewers: PlanPresenceEvent["viewers"]; count: number }>("GET", path, undefined, planId);
    if (!body || !Array.isArray(body.viewers) || typeof body.count !== "number") {
      throw this.protocolError();
    }
    return { viewers: body.viewers, count: body.count };
  }

  async startPlan(input: { title: string; description?: string; participants?: string[] }): Promise<string> {
    const body = await this.request<{ status: string; plan_id: string }>("POST", "/api/plan/start", input);
    if (!body || typeof body.plan_id !== "string") {
      throw this.protocolError();
    }
    return body.plan_id;
  }

  async addStep(input: { planId: string; text: string; owner?: string }): Promise<Step> {
    this.checkPlanId(input.planId);
    const payload: Record<string, string> = { plan_id: input.planId, text: input.text };
    if (input.owner !== undefined && input.owner !== "") {
      payload.owner = input.owner;
    }
    const body = await this.request<{ status: string; step: Step }>("POST", "/api/plan/step", payload, input.planId);
    if (!body || !body.step || typeof body.step !== "object") {
      throw this.protocolError();
    }
    return normalizeStep(body.step);
  }

  async archivePlan(planId: string, contextId?: string): Promise<{ planId: string; memoryNodeId: string }> {
    this.checkPlanId(planId);
    const payload = contextId ? { context_id: contextId } : {};
    const body = await this.request<{ status: string; plan_id: string; memory_node_id: string }>(
      "POST",
      `/api/plan/${encodeURIComponent(planId)}/archive`,
      payload,
      planId,
    );
    if (!body || body.memory_node_id === undefined) {
      throw this.protocolError();
    }
    return { planId: String(body.plan_id ?? planId), memoryNodeId: String(body.memory_node_id) };
  }

  /**
   * Change a step's text, owner or done state: only the fields given. With `version`, a step that
   * someone else changed since is refused (ApiError with `stale`, `conflict.step` the current step).
   */
  async updateStep(input: {
    planId: string;
    stepId: string;
    text?: string;
    owner?: string;
    done?: boolean;
    version?: number;
  }): Promise<Step> {
    this.checkPlanId(input.planId);
    this.checkStepId(input.stepId);
    const payload: Record<string, unknown> = {};
    for (const key of ["text", "owner", "done", "version"] as const) {
      if (input[key] !== undefined) {
        payload[key] = input[key];
      }
    }
    const body = await this.request<{ status: string; step: Step }>(
      "PATCH",
      this.stepPath(input.planId, input.stepId),
      payload,
      input.planId,
      input.stepId,
    );
    if (!body || !body.step || typeof body.step !== "object") {
      throw this.protocolError();
    }
    return normalizeStep(body.step);
  }

  /** Put a step right after `after` (null: first). */
  async moveStep(input: { planId: string; stepId: string; after: string | null }): Promise<PlacedStep> {
    this.checkPlanId(input.planId);
    this.checkStepId(input.stepId);
    const body = await this.request<{ status: string; step: Step; after: unknown }>(
      "POST",
      `${this.stepPath(input.planId, input.stepId)}/move`,
      { after: input.after },
      input.planId,
      input.stepId,
    );
    return this.placed(body);
  }

  /** Delete a step (`restoreStep` brings it back where it was). Returns the deleted step's id. */
  async deleteStep(input: { planId: string; stepId: string }): Promise<string> {
    this.checkPlanId(input.planId);
    this.checkStepId(input.stepId);
    const body = await this.request<{ status: string; step_id: string }>(
      "DELETE",
      this.stepPath(input.planId, input.stepId),
      undefined,
      input.planId,
      input.stepId,
    );
    if (!body || body.step_id === undefined) {
      throw this.protocolError();
    }
    return String(body.step_id);
  }

  /** Undo a delete: the step is back where it was. */
  async restoreStep(input: { planId: string; stepId: string }): Promise<PlacedStep> {
    this.checkPlanId(input.planId);
    this.checkStepId(input.stepId);
    const body = await this.request<{ status: string; step: Step; after: unknown }>(
      "POST",
      `${this.stepPath(input.planId, input.stepId)}/restore`,
      undefined,
      input.planId,
      input.stepId,
    );
    return this.placed(body);
  }

  /** Change the plan's title or description; with `version`, the same stale rule as a step. */
  async updatePlan(input: { planId: string; title?: string; description?: string; version?: number }): Promise<Plan> {
    this.checkPlanId(input.planId);
    const payload: Record<string, unknown> = {};
    for (const key of ["title", "description", "version"] as const) {
      if (input[key] !== undefined) {
        payload[key] = input[key];
      }
    }
    const body = await this.request<{ status: string; plan: Plan }>(
      "PATCH",
      `/api/plan/${encodeURIComponent(input.planId)}`,
      payload,
      input.planId,
    );
    if (!body || !body.plan || typeof body.plan !== "object") {
      throw this.protocolError();
    }
    return normalizePlan(body.plan);
  }

  private stepPath(planId: string, stepId: string): string {
    return `/api/plan/${encodeURIComponent(planId)}/steps/${encodeURIComponent(stepId)}`;
  }

  private placed(body: { step?: unknown; after?: unknown } | undefined): PlacedStep {
    if (!body || !body.step || typeof body.step !== "object") {
      throw this.protocolError();
    }
    return { step: normalizeStep(body.step), after: body.after === null || body.after === undefined ? null : String(body.after) };
  }

  private checkPlanId(planId: string): void {
    if (typeof planId !== "string" || planId.trim() === "") {
      throw new ApiError("No plan id given.", "config");
    }
  }

  private checkStepId(stepId: string): void {
    if (typeof stepId !== "string" || stepId.trim() === "") {
      throw new ApiError("No step id given.", "config");
    }
  }

  private protocolError(): ApiError {
    return new ApiError(
      `${this.config.serverUrl} answered something that is not the AEP API; is aep.serverUrl right?`,
      "protocol",
      undefined,
      "openServerUrlSetting",
    );
  }

  private async request<T>(
    method: "GET" | "POST" | "PATCH" | "DELETE",
    path: string,
    body?: unknown,
    planId?: string,
    stepId?: string,
  ): Promise<T> {
    const ctx = this.errorContext(planId, stepId);
    const headers: Record<string, string> = { ...this.headers(), Accept: "application/json" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
    }
    let response: Response;
    try {
      response = await this.fetchFn(this.url(path), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: "manual",
      });
    } catch (error) {
      throw errorFromNetwork(error, ctx, this.timeoutMs);
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw errorFromNetwork(error, ctx, this.timeoutMs);
    }
    if (response.status >= 300 && response.status < 400) {
      // A redirect to a login page or another host: not something to follow with a token attached.
      throw new ApiError(
        `${ctx.serverUrl} redirected ${path} (HTTP ${response.status}); check aep.serverUrl (http vs https, path).`,
        "protocol",
        response.status,
        "openServerUrlSetting",
      );
    }
    if (!response.ok) {
      throw errorFromStatus(response.status, text, ctx);
    }
    const parsed = parseBody(text);
    if (parsed === undefined) {
      throw this.protocolError();
    }
    return parsed as T;
  }
}

function nullableString(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}

function positiveInt(value: unknown, fallback: number): number {
  const n = typeof value === "number" ? value : Number(value);
  return Number.isInteger(n) && n >= 1 ? n : fallback;
}

export function normalizeStep(input: unknown): Step {
  const raw = (input && typeof input === "object" ? input : {}) as Record<string, unknown>;
  return {
    id: String(raw.id ?? ""),
    text: String(raw.text ?? ""),
    owner: String(raw.owner ?? ""),
    ts: String(raw.ts ?? ""),
    done: raw.done === true,
    done_by: nullableString(raw.done_by),
    done_at: nullableString(raw.done_at),
    version: positiveInt(raw.version, 1),
    updated_at: String(raw.updated_at ?? raw.ts ?? ""),
  };
}

/** "n of m done", from the steps themselves. */
export function progressOf(steps: readonly Step[]): Progress {
  return { done: steps.filter((s) => s.done).length, total: steps.length };
}

function participantName(raw: unknown): string {
  if (raw && typeof raw === "object") {
    const r = raw as Record<string, unknown>;
    const name = r.name ?? r.username ?? r.display_name;
    return name === undefined ? JSON.stringify(raw) : String(name);
  }
  return String(raw ?? "");
}

export function normalizePlan(input: unknown): Plan {
  const raw = (input && typeof input === "object" ? input : {}) as Record<string, unknown>;
  const steps = Array.isArray(raw.steps) ? raw.steps.map(normalizeStep) : [];
  const progress = raw.progress as Partial<Progress> | undefined;
  return {
    id: String(raw.id ?? ""),
    org_id: String(raw.org_id ?? ""),
    title: String(raw.title ?? ""),
    description: String(raw.description ?? ""),
    version: positiveInt(raw.version, 1),
    steps,
    // A list item carries the plan's progress; a plan read in full also has its steps to count.
    progress:
      progress && typeof progress.done === "number" && typeof progress.total === "number"
        ? { done: progress.done, total: progress.total }
        : progressOf(steps),
    participants: Array.isArray(raw.participants) ? raw.participants.map(participantName) : [],
    archived: Boolean(raw.archived),
    created_at: String(raw.created_at ?? ""),
    updated_at: String(raw.updated_at ?? ""),
    last_event_id: String(raw.last_event_id ?? ""),
  };
}

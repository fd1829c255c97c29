/**
 * Client for the AEP Live Plan JSON API (DESIGN.md section 4), and the one place where failures are
 * turned into messages a user can act on. No `vscode` import: unit-tested with Node.
 */
import { createHttpConnect, type ConnectFn } from "./sse";

export interface Step {
  id: string;
  text: string;
  owner: string;
  ts: string;
}

export interface Plan {
  id: string;
  org_id: string;
  title: string;
  description: string;
  steps: Step[];
  participants: string[];
  archived: boolean;
  created_at: string;
  updated_at: string;
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

export class ApiError extends Error {
  constructor(
    message: string,
    readonly kind: ApiErrorKind,
    readonly status?: number,
    readonly action?: ApiErrorAction,
    /** The server's own words (detail or field errors), when it gave any. */
    readonly detail?: string,
  ) {
    super(message);
    this.name = "ApiError";
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
      return new ApiError(
        detail
          ? `This plan is archived and cannot change: ${detail}`
          : "This plan is archived and cannot change.",
        "http",
        status,
        undefined,
        detail,
      );
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
  errorContext(planId?: string): ErrorContext {
    return { serverUrl: this.config.serverUrl, orgId: this.config.orgId, planId };
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

  private checkPlanId(planId: string): void {
    if (typeof planId !== "string" || planId.trim() === "") {
      throw new ApiError("No plan id given.", "config");
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

  private async request<T>(method: "GET" | "POST", path: string, body?: unknown, planId?: string): Promise<T> {
    const ctx = this.errorContext(planId);
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

export function normalizeStep(input: unknown): Step {
  const raw = (input && typeof input === "object" ? input : {}) as Record<string, unknown>;
  return {
    id: String(raw.id ?? ""),
    text: String(raw.text ?? ""),
    owner: String(raw.owner ?? ""),
    ts: String(raw.ts ?? ""),
  };
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
  return {
    id: String(raw.id ?? ""),
    org_id: String(raw.org_id ?? ""),
    title: String(raw.title ?? ""),
    description: String(raw.description ?? ""),
    steps: Array.isArray(raw.steps) ? raw.steps.map(normalizeStep) : [],
    participants: Array.isArray(raw.participants) ? raw.participants.map(participantName) : [],
    archived: Boolean(raw.archived),
    created_at: String(raw.created_at ?? ""),
    updated_at: String(raw.updated_at ?? ""),
  };
}

/**
 * Server-Sent Events for the extension host: an incremental parser that follows the WHATWG
 * "event stream interpretation" rules, and a client that keeps one stream open across drops
 * (reconnecting with Last-Event-ID and exponential backoff with jitter).
 *
 * No `vscode` import here: everything is testable with plain Node.
 */
import * as http from "node:http";
import * as https from "node:https";

export interface SseEvent {
  /** The event type; "message" when the stream gave no `event:` field. */
  type: string;
  /** The data lines joined by "\n". */
  data: string;
  /** The last event id in effect when this event was dispatched ("" when none). */
  lastEventId: string;
}

export interface SseParserOptions {
  /**
   * `info.hasId`: the event had an `id:` field of its own. One without (e.g. the server's `presence`
   * notices) only inherits the last id: it is not a stored event and is never replayed.
   */
  onEvent: (event: SseEvent, info: { hasId: boolean }) => void;
  /** Called with the new reconnection time when the stream sends a valid `retry:` field. */
  onRetry?: (ms: number) => void;
  /** The last event id carried over from a previous connection. */
  lastEventId?: string;
}

/**
 * Incremental parser: feed it decoded text in chunks of any size, split anywhere (mid-line,
 * between "\r" and "\n", inside a field name). Decoding bytes to text is the caller's job; use one
 * `TextDecoder` per connection with `{stream: true}` so multi-byte characters survive splits.
 */
export class SseParser {
  private buffer = "";
  /** A chunk ended with "\r": a "\n" at the start of the next chunk belongs to the same line end. */
  private pendingCR = false;
  private atStreamStart = true;
  private dataBuffer = "";
  private eventTypeBuffer = "";
  /** The event being read has an `id:` field. */
  private idField = false;
  private lastEventIdBuffer: string;
  private lastEventIdValue: string;

  constructor(private readonly options: SseParserOptions) {
    this.lastEventIdBuffer = options.lastEventId ?? "";
    this.lastEventIdValue = this.lastEventIdBuffer;
  }

  /** The id of the last dispatched event (what a reconnect sends as Last-Event-ID). */
  get lastEventId(): string {
    return this.lastEventIdValue;
  }

  feed(chunk: string): void {
    if (chunk.length === 0) {
      return;
    }
    if (this.atStreamStart) {
      this.atStreamStart = false;
      if (chunk.charCodeAt(0) === 0xfeff) {
        chunk = chunk.slice(1);
      }
    }
    let start = 0;
    if (this.pendingCR) {
      this.pendingCR = false;
      if (chunk.charCodeAt(0) === 0x0a) {
        start = 1;
      }
    }
    let text = this.buffer + chunk.slice(start);
    this.buffer = "";
    let lineStart = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 0x0a && c !== 0x0d) {
        continue;
      }
      this.processLine(text.slice(lineStart, i));
      if (c === 0x0d) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 0x0a) {
            i++;
          }
        } else {
          this.pendingCR = true;
        }
      }
      lineStart = i + 1;
    }
    this.buffer = text.slice(lineStart);
    text = "";
  }

  /**
   * The stream ended. Per the spec an event that was not terminated by a blank line is discarded,
   * so this only drops buffered state.
   */
  end(): void {
    this.buffer = "";
    this.pendingCR = false;
    this.dataBuffer = "";
    this.eventTypeBuffer = "";
    this.idField = false;
  }

  private processLine(line: string): void {
    if (line.length === 0) {
      this.dispatch();
      return;
    }
    if (line.charCodeAt(0) === 0x3a /* ':' */) {
      return; // comment (keep-alive)
    }
    const colon = line.indexOf(":");
    let field: string;
    let value: string;
    if (colon === -1) {
      field = line;
      value = "";
    } else {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.charCodeAt(0) === 0x20) {
        value = value.slice(1);
      }
    }
    switch (field) {
      case "event":
        this.eventTypeBuffer = value;
        break;
      case "data":
        this.dataBuffer += value + "\n";
        break;
      case "id":
        if (!value.includes("\u0000")) {
          this.lastEventIdBuffer = value;
          this.idField = true;
        }
        break;
      case "retry":
        if (/^[0-9]+$/.test(value)) {
          this.options.onRetry?.(parseInt(value, 10));
        }
        break;
      default:
        break; // unknown fields are ignored
    }
  }

  private dispatch(): void {
    this.lastEventIdValue = this.lastEventIdBuffer;
    const hasId = this.idField;
    this.idField = false;
    if (this.dataBuffer === "") {
      this.eventTypeBuffer = "";
      return;
    }
    const data = this.dataBuffer.endsWith("\n") ? this.dataBuffer.slice(0, -1) : this.dataBuffer;
    const type = this.eventTypeBuffer === "" ? "message" : this.eventTypeBuffer;
    this.dataBuffer = "";
    this.eventTypeBuffer = "";
    this.options.onEvent({ type, data, lastEventId: this.lastEventIdValue }, { hasId });
  }
}

/** Parse a whole stream at once (handy in tests and for small bodies). */
export function parseSse(text: string | string[]): SseEvent[] {
  const events: SseEvent[] = [];
  const parser = new SseParser({ onEvent: (e) => events.push(e) });
  for (const chunk of Array.isArray(text) ? text : [text]) {
    parser.feed(chunk);
  }
  return events;
}

// ---------------------------------------------------------------------------------------------
// Reconnecting client
// ---------------------------------------------------------------------------------------------

/** What a connect function returns once the response headers are in. */
export interface SseConnection {
  status: number;
  /** The Content-Type header, if any. */
  contentType?: string;
  /** The response body; chunks are bytes or already decoded text. */
  body: AsyncIterable<Uint8Array | string>;
}

export interface ConnectRequest {
  /** Send as the Last-Event-ID header when defined and non-empty. */
  lastEventId?: string;
  /** Aborted when the client stops or gives up on this connection (idle timeout). */
  signal: AbortSignal;
}

export type ConnectFn = (request: ConnectRequest) => Promise<SseConnection>;

export interface Timer {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimer: Timer = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** The stream answered with an HTTP status other than 200, or with a body that is not SSE. */
export class SseHttpError extends Error {
  constructor(
    readonly status: number,
    readonly bodyText: string,
    message?: string,
  ) {
    super(message ?? `Event stream answered HTTP ${status}`);
    this.name = "SseHttpError";
  }
}

export type SseClientState = "connecting" | "open" | "reconnecting" | "closed";

export interface SseClientOptions {
  connect: ConnectFn;
  onEvent: (event: SseEvent) => void;
  /** A connection answered 200 with an event stream. `reconnect` is false for the first one. */
  onOpen?: (info: { reconnect: boolean }) => void;
  /**
   * A connection failed or dropped. `willRetry` false means the client stopped for good (a 4xx such as
   * 401/403/404, or a response that is not an event stream); `delayMs` is the wait before the retry.
   */
  onError?: (error: unknown, info: { willRetry: boolean; delayMs?: number; attempt: number }) => void;
  onStateChange?: (state: SseClientState) => void;
  /** Where to resume from on the first connection. */
  lastEventId?: string;
  /** First backoff delay (doubles per failed attempt). A `retry:` field from the server replaces it. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** No bytes (not even keep-alives) for this long: treat the connection as dead. 0 disables. */
  idleTimeoutMs?: number;
  /** No response headers for this long after connecting: give up on this attempt. 0 disables. */
  connectTimeoutMs?: number;
  /** Returns [0, 1); injected for deterministic tests. */
  random?: () => number;
  timer?: Timer;
}

/** Statuses after which retrying cannot help (the EventSource spec fails for good on any non-200). */
function isFatalStatus(status: number): boolean {
  return !(status >= 500 || status === 408 || status === 429);
}

/**
 * Keeps one event stream open: connects, parses, tracks the last event id, and after a drop waits
 * (0.5 s doubling to 30 s, with jitter; back to 0.5 s after a successful connect) and reconnects with
 * Last-Event-ID so the server replays what was missed. An event whose id and data were already
 * delivered (a server replaying the last event inclusively) is not delivered twice.
 */
export class SseClient {
  private stopped = true;
  private attempt = 0;
  private baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly idleTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly random: () => number;
  private readonly timer: Timer;
  private lastId: string;
  private abort?: AbortController;
  private sleepHandle: unknown;
  private wakeSleep?: () => void;
  private loop?: Promise<void>;
  private state: SseClientState = "closed";
  private readonly seen = new Set<string>();
  private static readonly SEEN_LIMIT = 1000;

  constructor(private readonly options: SseClientOptions) {
    this.baseDelayMs = options.initialDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 30_000;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 75_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 30_000;
    this.random = options.random ?? Math.random;
    this.timer = options.timer ?? realTimer;
    this.lastId = options.lastEventId ?? "";
  }

  get lastEventId(): string {
    return this.lastId;
  }

  get currentState(): SseClientState {
    return this.state;
  }

  get running(): boolean {
    return !this.stopped;
  }

  start(): void {
    if (!this.stopped) {
      return;
    }
    this.stopped = false;
    this.attempt = 0;
    this.loop = this.run();
  }

  /** Stops for good: aborts the open connection or the pending wait. Resolves when the loop ends. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    if (this.sleepHandle !== undefined) {
      this.timer.clearTimeout(this.sleepHandle);
      this.sleepHandle = undefined;
    }
    this.wakeSleep?.();
    await this.loop;
    this.setState("closed");
  }

  /** The wait before reconnect attempt number `attempt` (0-based). */
  backoffDelay(attempt: number): number {
    const exp = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(attempt, 30));
    // "Equal jitter": half fixed, half random, so delays still grow but clients do not reconnect in step.
    return Math.round(exp / 2 + (exp / 2) * this.random());
  }

  private setState(state: SseClientState): void {
    if (this.state !== state) {
      this.state = state;
      this.options.onStateChange?.(state);
    }
  }

  private async run(): Promise<void> {
    let opened = false;
    while (!this.stopped) {
      this.setState(opened ? "reconnecting" : "connecting");
      let outcome: { error: unknown; fatal: boolean };
      try {
        outcome = await this.connectOnce(() => {
          this.options.onOpen?.({ reconnect: opened });
          opened = true;
        });
      } catch (error) {
        outcome = { error, fatal: false };
      }
      if (this.stopped) {
        break;
      }
      if (outcome.fatal) {
        this.options.onError?.(outcome.error, { willRetry: false, attempt: this.attempt });
        this.stopped = true;
        break;
      }
      const delayMs = this.backoffDelay(this.attempt);
      this.options.onError?.(outcome.error, { willRetry: true, delayMs, attempt: this.attempt });
      this.attempt++;
      this.setState("reconnecting");
      await this.sleep(delayMs);
    }
    this.setState("closed");
  }

  /** One connection, from request to end of body. Returns why it ended (it always ends with an error). */
  private async connectOnce(onOpen: () => void): Promise<{ error: unknown; fatal: boolean }> {
    const abort = new AbortController();
    this.abort = abort;
    // A server that accepts the connection but never answers must not hang the client forever.
    let connectTimedOut = false;
    const connectTimer =
      this.connectTimeoutMs > 0
        ? this.timer.setTimeout(() => {
            connectTimedOut = true;
            abort.abort();
          }, this.connectTimeoutMs)
        : undefined;
    let conn: SseConnection;
    try {
      conn = await this.options.connect({
        lastEventId: this.lastId === "" ? undefined : this.lastId,
        signal: abort.signal,
      });
    } catch (error) {
      if (connectTimedOut) {
        throw Object.assign(new Error(`No answer within ${this.connectTimeoutMs} ms`), { name: "TimeoutError" });
      }
      throw error;
    } finally {
      if (connectTimer !== undefined) {
        this.timer.clearTimeout(connectTimer);
      }
    }
    if (conn.status !== 200) {
      const bodyText = await readSome(conn.body, 64 * 1024).catch(() => "");
      abort.abort();
      return { error: new SseHttpError(conn.status, bodyText), fatal: isFatalStatus(conn.status) };
    }
    const contentType = (conn.contentType ?? "").toLowerCase();
    if (contentType !== "" && !contentType.startsWith("text/event-stream")) {
      const bodyText = await readSome(conn.body, 64 * 1024).catch(() => "");
      abort.abort();
      return {
        error: new SseHttpError(200, bodyText, `Expected text/event-stream, got ${contentType}`),
        fatal: true,
      };
    }

    this.attempt = 0; // a successful connect resets the backoff
    this.setState("open");
    onOpen();

    const parser = new SseParser({
      lastEventId: this.lastId,
      onRetry: (ms) => {
        this.baseDelayMs = Math.max(1, Math.min(ms, this.maxDelayMs));
      },
      onEvent: (event, { hasId }) => {
        this.lastId = event.lastEventId;
        // Only an event with its own id can come again (a replay after a reconnect). One without
        // (`presence`) inherits the last id, and may rightly repeat an earlier one's data.
        if (hasId && this.isDuplicate(event)) {
          return;
        }
        try {
          this.options.onEvent(event);
        } catch {
          // A listener's bug must not kill the stream.
        }
      },
    });
    const decoder = new TextDecoder("utf-8");
    let idleHandle: unknown;
    let idledOut = false;
    const armIdle = () => {
      if (this.idleTimeoutMs <= 0) {
        return;
      }
      if (idleHandle !== undefined) {
        this.timer.clearTimeout(idleHandle);
      }
      idleHandle = this.timer.setTimeout(() => {
        idledOut = true;
        abort.abort();
      }, this.idleTimeoutMs);
    };
    armIdle();
    try {
      for await (const chunk of conn.body) {
        if (this.stopped || abort.signal.aborted) {
          break;
        }
        armIdle();
        parser.feed(typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true }));
      }
      parser.feed(decoder.decode());
      return {
        error: idledOut ? new Error(`No data for ${this.idleTimeoutMs} ms`) : new Error("The event stream ended"),
        fatal: false,
      };
    } catch (error) {
      return {
        error: idledOut ? new Error(`No data for ${this.idleTimeoutMs} ms`) : error,
        fatal: false,
      };
    } finally {
      if (idleHandle !== undefined) {
        this.timer.clearTimeout(idleHandle);
      }
      parser.end();
      abort.abort();
    }
  }

  private isDuplicate(event: SseEvent): boolean {
    if (event.lastEventId === "") {
      return false;
    }
    const key = `${event.lastEventId}\u0000${event.type}\u0000${event.data}`;
    if (this.seen.has(key)) {
      return true;
    }
    this.seen.add(key);
    if (this.seen.size > SseClient.SEEN_LIMIT) {
      const oldest = this.seen.values().next().value;
      if (oldest !== undefined) {
        this.seen.delete(oldest);
      }
    }
    return false;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopped) {
        resolve();
        return;
      }
      const done = () => {
        this.sleepHandle = undefined;
        this.wakeSleep = undefined;
        resolve();
      };
      this.wakeSleep = done;
      this.sleepHandle = this.timer.setTimeout(done, ms);
    });
  }
}

async function readSome(body: AsyncIterable<Uint8Array | string>, limit: number): Promise<string> {
  const decoder = new TextDecoder("utf-8");
  let text = "";
  for await (const chunk of body) {
    text += typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
    if (text.length >= limit) {
      break;
    }
  }
  return text.slice(0, limit);
}

/**
 * A ConnectFn over Node's http/https modules (no timeouts of their own: the client's idle timer
 * decides when a silent connection is dead). `headers` are sent on every attempt, plus Accept,
 * Cache-Control and Last-Event-ID.
 */
export function createHttpConnect(url: string, headers: Record<string, string>): ConnectFn {
  const target = new URL(url);
  const transport = target.protocol === "https:" ? https : http;
  return ({ lastEventId, signal }) =>
    new Promise<SseConnection>((resolve, reject) => {
      const requestHeaders: Record<string, string> = {
        ...headers,
        Accept: "text/event-stream",
        "Cache-Control": "no-cache",
      };
      if (lastEventId) {
        requestHeaders["Last-Event-ID"] = lastEventId;
      }
      const req = transport.request(target, { method: "GET", headers: requestHeaders, signal }, (res) => {
        const contentType = res.headers["content-type"];
        resolve({
          status: res.statusCode ?? 0,
          contentType: Array.isArray(contentType) ? contentType[0] : contentType,
          body: res,
        });
      });
      req.on("error", reject);
      req.end();
    });
}

import { test } from "node:test";
import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { createHttpConnect, SseClient, SseHttpError, type ConnectRequest, type SseConnection, type SseEvent } from "../src/sse";
import { recordingTimer, waitFor } from "./helpers";

function encode(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** A body that yields the chunks, then ends (a dropped connection) or hangs until aborted. */
function body(chunks: string[], signal: AbortSignal, hang = false): AsyncIterable<Uint8Array> {
  return {
    async *[Symbol.asyncIterator]() {
      for (const chunk of chunks) {
        await new Promise((r) => setImmediate(r));
        if (signal.aborted) {
          throw new Error("aborted");
        }
        yield encode(chunk);
      }
      if (hang) {
        await new Promise<void>((_, reject) => {
          if (signal.aborted) {
            reject(new Error("aborted"));
          }
          signal.addEventListener("abort", () => reject(new Error("aborted")), { once: true });
        });
      }
    },
  };
}

function refused(): Error {
  return Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:8000"), { code: "ECONNREFUSED" });
}

test("a drop after 2 events reconnects with Last-Event-ID of the last event, without duplicates", async () => {
  // A fake server with 5 events that honours Last-Event-ID and drops every connection after 2 events.
  const all = [1, 2, 3, 4, 5].map((n) => ({ id: `plan-p:${n}`, data: JSON.stringify({ type: "step", id: `s${n}` }) }));
  const requests: Array<string | undefined> = [];
  const connect = async ({ lastEventId, signal }: ConnectRequest): Promise<SseConnection> => {
    requests.push(lastEventId);
    const start = lastEventId ? all.findIndex((e) => e.id === lastEventId) + 1 : 0;
    const slice = all.slice(start, start + 2);
    return {
      status: 200,
      contentType: "text/event-stream; charset=utf-8",
      body: body(slice.map((e) => `id: ${e.id}\ndata: ${e.data}\n\n`), signal, start + 2 >= all.length),
    };
  };
  const { delays, timer } = recordingTimer();
  const events: SseEvent[] = [];
  const opens: boolean[] = [];
  const client = new SseClient({
    connect,
    onEvent: (e) => events.push(e),
    onOpen: ({ reconnect }) => opens.push(reconnect),
    timer,
    random: () => 1,
    idleTimeoutMs: 0,
    connectTimeoutMs: 0,
  });
  client.start();
  await waitFor(() => events.length >= 5, 5000, "5 events");
  await client.stop();

  assert.deepEqual(requests, [undefined, "plan-p:2", "plan-p:4"]);
  assert.deepEqual(
    events.map((e) => JSON.parse(e.data).id),
    ["s1", "s2", "s3", "s4", "s5"],
  );
  assert.equal(client.lastEventId, "plan-p:5");
  assert.deepEqual(opens, [false, true, true]);
  // Each connection succeeded, so the backoff went back to the first delay each time.
  assert.deepEqual(delays, [500, 500]);
});

test("events without an id of their own (presence) are all delivered, even one that repeats an earlier one", async () => {
  // Dana alone, Erin joins, Erin leaves: the third notice has the same data and inherits the same
  // last id as the first; it is news, not a replay. A stored event sent twice is still dropped.
  const alone = JSON.stringify({ type: "presence", plan_id: "p", viewers: [{ username: "dana", name: "Dana", since: "t" }], count: 1 });
  const both = JSON.stringify({
    type: "presence",
    plan_id: "p",
    viewers: [
      { username: "dana", name: "Dana", since: "t" },
      { username: "erin", name: "Erin", since: "u" },
    ],
    count: 2,
  });
  const step = JSON.stringify({ type: "step", id: "s1" });
  const frames = [
    `id: plan-p:1\ndata: {"type":"connected","plan_id":"p"}\n\n`,
    `data: ${alone}\n\n`,
    `data: ${both}\n\n`,
    `data: ${alone}\n\n`,
    `id: plan-p:2\ndata: ${step}\n\n`,
    `id: plan-p:2\ndata: ${step}\n\n`,
  ];
  const connect = async ({ signal }: ConnectRequest): Promise<SseConnection> => ({
    status: 200,
    contentType: "text/event-stream",
    body: body(frames, signal, true),
  });
  const events: SseEvent[] = [];
  const client = new SseClient({ connect, onEvent: (e) => events.push(e), idleTimeoutMs: 0, connectTimeoutMs: 0 });
  client.start();
  await waitFor(() => events.length >= 5, 5000, "5 events");
  await new Promise((r) => setTimeout(r, 20)); // the duplicate step would have arrived by now
  await client.stop();
  assert.deepEqual(
    events.map((e) => [JSON.parse(e.data).type, JSON.parse(e.data).count ?? null, e.lastEventId]),
    [
      ["connected", null, "plan-p:1"],
      ["presence", 1, "plan-p:1"],
      ["presence", 2, "plan-p:1"],
      ["presence", 1, "plan-p:1"],
      ["step", null, "plan-p:2"],
    ],
  );
  assert.equal(client.lastEventId, "plan-p:2");
});

test("backoff doubles on consecutive failures, caps at the maximum and resets after a connect", async () => {
  let calls = 0;
  const connect = async ({ signal }: ConnectRequest): Promise<SseConnection> => {
    calls++;
    if (calls <= 8 || calls === 10) {
      throw refused();
    }
    // Call 9 succeeds with one event, then drops.
    return { status: 200, contentType: "text/event-stream", body: body(["id: 1\ndata: x\n\n"], signal) };
  };
  const { delays, timer } = recordingTimer();
  const errors: Array<{ willRetry: boolean; delayMs?: number }> = [];
  const client = new SseClient({
    connect,
    onEvent: () => undefined,
    onError: (_e, info) => errors.push(info),
    timer,
    random: () => 1, // no jitter: the upper bound of each delay
    idleTimeoutMs: 0,
    connectTimeoutMs: 0,
  });
  client.start();
  await waitFor(() => calls >= 11, 5000, "11 connects");
  await client.stop();
  assert.deepEqual(delays.slice(0, 10), [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 500, 1000]);
  assert.ok(errors.every((e) => e.willRetry));
  assert.deepEqual(
    errors.slice(0, 3).map((e) => e.delayMs),
    [500, 1000, 2000],
  );
});

test("jitter keeps each delay between half and all of the exponential value", () => {
  const low = new SseClient({ connect: async () => Promise.reject(refused()), onEvent: () => undefined, random: () => 0 });
  const high = new SseClient({ connect: async () => Promise.reject(refused()), onEvent: () => undefined, random: () => 0.999999 });
  for (let attempt = 0; attempt < 12; attempt++) {
    const exp = Math.min(30000, 500 * 2 ** attempt);
    assert.equal(low.backoffDelay(attempt), exp / 2);
    assert.ok(high.backoffDelay(attempt) <= exp && high.backoffDelay(attempt) >= exp - 1);
  }
});

test("a server retry: field replaces the base delay", async () => {
  let calls = 0;
  const connect = async ({ signal }: ConnectRequest): Promise<SseConnection> => {
    calls++;
    if (calls === 1) {
      return { status: 200, contentType: "text/event-stream", body: body(["retry: 2000\n\n"], signal) };
    }
    throw refused();
  };
  const { delays, timer } = recordingTimer();
  const client = new SseClient({ connect, onEvent: () => undefined, timer, random: () => 1, idleTimeoutMs: 0, connectTimeoutMs: 0 });
  client.start();
  await waitFor(() => calls >= 3, 5000, "3 connects");
  await client.stop();
  assert.deepEqual(delays.slice(0, 2), [2000, 4000]);
});

test("401/403/404 stop for good; 5xx is retried", async () => {
  for (const status of [400, 401, 403, 404]) {
    let calls = 0;
    const errors: Array<{ error: unknown; willRetry: boolean }> = [];
    const client = new SseClient({
      connect: async ({ signal }) => {
        calls++;
        return { status, contentType: "application/json", body: body(['{"detail": "nope"}'], signal) };
      },
      onEvent: () => undefined,
      onError: (error, info) => errors.push({ error, willRetry: info.willRetry }),
      timer: recordingTimer().timer,
      idleTimeoutMs: 0,
    connectTimeoutMs: 0,
    });
    client.start();
    await waitFor(() => errors.length === 1, 2000, `error for ${status}`);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(calls, 1, `no retry after ${status}`);
    assert.equal(errors[0].willRetry, false);
    assert.ok(errors[0].error instanceof SseHttpError);
    assert.equal((errors[0].error as SseHttpError).status, status);
    assert.equal((errors[0].error as SseHttpError).bodyText, '{"detail": "nope"}');
    assert.equal(client.running, false);
    await client.stop();
  }

  let calls = 0;
  const client = new SseClient({
    connect: async ({ signal }) => {
      calls++;
      return { status: 503, body: body(["busy"], signal) };
    },
    onEvent: () => undefined,
    timer: recordingTimer().timer,
    idleTimeoutMs: 0,
    connectTimeoutMs: 0,
  });
  client.start();
  await waitFor(() => calls >= 3, 2000, "retries after 503");
  await client.stop();
});

test("a 200 that is not an event stream stops for good", async () => {
  const errors: unknown[] = [];
  const client = new SseClient({
    connect: async ({ signal }) => ({ status: 200, contentType: "text/html", body: body(["<html>login</html>"], signal) }),
    onEvent: () => undefined,
    onError: (e, info) => {
      assert.equal(info.willRetry, false);
      errors.push(e);
    },
    idleTimeoutMs: 0,
    connectTimeoutMs: 0,
  });
  client.start();
  await waitFor(() => errors.length === 1);
  assert.equal((errors[0] as SseHttpError).status, 200);
  await client.stop();
});

test("a silent connection is dropped after the idle timeout and resumed from the last id", async () => {
  const requests: Array<string | undefined> = [];
  const events: SseEvent[] = [];
  const client = new SseClient({
    connect: async ({ lastEventId, signal }) => {
      requests.push(lastEventId);
      const chunk = lastEventId ? "id: 2\ndata: b\n\n" : "id: 1\ndata: a\n\n";
      return { status: 200, contentType: "text/event-stream", body: body([chunk], signal, true) };
    },
    onEvent: (e) => events.push(e),
    idleTimeoutMs: 40,
    initialDelayMs: 5,
  });
  client.start();
  await waitFor(() => events.length >= 2, 3000, "2 events");
  await client.stop();
  assert.deepEqual(requests.slice(0, 2), [undefined, "1"]);
  assert.deepEqual(
    events.map((e) => e.data),
    ["a", "b"],
  );
});

test("an event replayed with the same id and data is delivered once", async () => {
  let calls = 0;
  const events: SseEvent[] = [];
  const client = new SseClient({
    connect: async ({ signal }) => {
      calls++;
      // A server that replays inclusively: the second connection starts with event 2 again.
      const chunks = calls === 1 ? ["id: 1\ndata: a\n\nid: 2\ndata: b\n\n"] : ["id: 2\ndata: b\n\nid: 3\ndata: c\n\n"];
      return { status: 200, contentType: "text/event-stream", body: body(chunks, signal, calls > 1) };
    },
    onEvent: (e) => events.push(e),
    timer: recordingTimer().timer,
    idleTimeoutMs: 0,
    connectTimeoutMs: 0,
  });
  client.start();
  await waitFor(() => events.length >= 3, 3000, "3 events");
  await client.stop();
  assert.deepEqual(
    events.map((e) => e.data),
    ["a", "b", "c"],
  );
});

test("a server that accepts but never answers is given up on after the connect timeout", async () => {
  const requests: Array<string | undefined> = [];
  const errors: unknown[] = [];
  const events: SseEvent[] = [];
  const client = new SseClient({
    connect: ({ lastEventId, signal }) => {
      requests.push(lastEventId);
      if (requests.length === 1) {
        // Never resolves on its own; only the abort ends it.
        return new Promise((_, reject) => signal.addEventListener("abort", () => reject(new Error("aborted")), { once: true }));
      }
      return Promise.resolve({ status: 200, contentType: "text/event-stream", body: body(["data: late\n\n"], signal, true) });
    },
    onEvent: (e) => events.push(e),
    onError: (e) => errors.push(e),
    connectTimeoutMs: 30,
    initialDelayMs: 5,
  });
  client.start();
  await waitFor(() => events.length >= 1, 3000, "an event after the retry");
  await client.stop();
  assert.equal((errors[0] as Error).name, "TimeoutError");
  assert.match((errors[0] as Error).message, /No answer within 30 ms/);
});

test("stop() during the backoff wait ends the loop without another connect", async () => {
  let calls = 0;
  const states: string[] = [];
  const client = new SseClient({
    connect: async () => {
      calls++;
      throw refused();
    },
    onEvent: () => undefined,
    onStateChange: (s) => states.push(s),
    initialDelayMs: 10_000,
  });
  client.start();
  await waitFor(() => calls === 1);
  await new Promise((r) => setTimeout(r, 10));
  await client.stop();
  assert.equal(calls, 1);
  assert.equal(client.currentState, "closed");
  assert.deepEqual(states, ["connecting", "reconnecting", "closed"]);
});

test("over real HTTP: headers, a dropped socket, and a resume with Last-Event-ID", async () => {
  const seen: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
    const last = req.headers["last-event-id"];
    if (!last) {
      res.write(':' + ' '.repeat(100) + '\n\nid: plan-x:0\ndata: {"type":"connected"}\n\n');
      res.write('id: plan-x:1\ndata: {"type":"step","id":"a"}\n\nid: plan-x:2\nevent: step_html\ndata: <li>a</li>\n\n');
      setTimeout(() => res.destroy(), 20); // the connection drops
    } else {
      res.write('id: plan-x:2\ndata: {"type":"connected"}\n\n');
      res.write('id: plan-x:3\ndata: {"type":"step","id":"b"}\n\n'); // stays open
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const events: SseEvent[] = [];
  const client = new SseClient({
    connect: createHttpConnect(`http://127.0.0.1:${port}/api/plan/x/stream`, {
      Authorization: "Token secret",
      "X-Org-Id": "acme",
    }),
    onEvent: (e) => events.push(e),
    initialDelayMs: 10,
  });
  try {
    client.start();
    await waitFor(() => events.length >= 5, 5000, "5 events");
  } finally {
    await client.stop();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  assert.equal(seen.length, 2);
  for (const headers of seen) {
    assert.equal(headers.authorization, "Token secret");
    assert.equal(headers["x-org-id"], "acme");
    assert.equal(headers.accept, "text/event-stream");
  }
  assert.equal(seen[0]["last-event-id"], undefined);
  assert.equal(seen[1]["last-event-id"], "plan-x:2");
  assert.deepEqual(
    events.map((e) => [e.type, e.lastEventId]),
    [
      ["message", "plan-x:0"],
      ["message", "plan-x:1"],
      ["step_html", "plan-x:2"],
      ["message", "plan-x:2"],
      ["message", "plan-x:3"],
    ],
  );
});

test("over real HTTP: a refused connection is retried, then connects", async () => {
  // Find a free port, close it (refused), then start listening on it a bit later.
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));

  const errors: unknown[] = [];
  const events: SseEvent[] = [];
  const client = new SseClient({
    connect: createHttpConnect(`http://127.0.0.1:${port}/s`, {}),
    onEvent: (e) => events.push(e),
    onError: (e) => errors.push(e),
    initialDelayMs: 20,
  });
  client.start();
  await waitFor(() => errors.length >= 1, 3000, "a refused connect");
  assert.equal((errors[0] as { code?: string }).code, "ECONNREFUSED");
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { "Content-Type": "text/event-stream" });
    res.write("id: 1\ndata: hello\n\n");
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  try {
    await waitFor(() => events.length >= 1, 5000, "an event after the server came up");
  } finally {
    await client.stop();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  assert.equal(events[0].data, "hello");
});

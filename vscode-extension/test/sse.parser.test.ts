import { test } from "node:test";
import assert from "node:assert/strict";
import { parseSse, SseParser, type SseEvent } from "../src/sse";

function parseWithRetry(chunks: string[]): { events: SseEvent[]; retries: number[] } {
  const events: SseEvent[] = [];
  const retries: number[] = [];
  const parser = new SseParser({ onEvent: (e) => events.push(e), onRetry: (ms) => retries.push(ms) });
  for (const chunk of chunks) {
    parser.feed(chunk);
  }
  return { events, retries };
}

// A stream that exercises every rule at once: BOM, comments, CRLF, lone CR, LF, named events,
// multi-line data, id persistence, an id with NUL (ignored), an empty id (reset), retry fields.
const SAMPLE =
  "\uFEFF: keep-alive comment\r\n" +
  "retry: 1500\n" +
  "id: 1\n" +
  "event: step_html\n" +
  "data: <li>x</li>\n" +
  "\n" +
  'data: {"type":"connected"}\r\n' +
  "\r\n" +
  "id: 2\r" +
  "data: line1\r" +
  "data:line2\r" +
  "data:  two spaces\r" +
  "\r" +
  "retry: 12x\n" +
  "id: bad\u0000id\n" +
  "data: keeps id 2\n" +
  "\n" +
  "unknown: field\n" +
  "id\n" +
  "data: id reset\n" +
  "\n" +
  "id: 3\n" +
  "event: message\n" +
  "data\n" +
  "\n" +
  "retry: 250\n" +
  "data: unterminated";

const EXPECTED: SseEvent[] = [
  { type: "step_html", data: "<li>x</li>", lastEventId: "1" },
  { type: "message", data: '{"type":"connected"}', lastEventId: "1" },
  { type: "message", data: "line1\nline2\n two spaces", lastEventId: "2" },
  { type: "message", data: "keeps id 2", lastEventId: "2" },
  { type: "message", data: "id reset", lastEventId: "" },
  { type: "message", data: "", lastEventId: "3" },
];

test("parses the sample stream in one chunk", () => {
  const { events, retries } = parseWithRetry([SAMPLE]);
  assert.deepEqual(events, EXPECTED);
  assert.deepEqual(retries, [1500, 250]);
});

test("every split point of the sample gives the same events", () => {
  for (let i = 0; i <= SAMPLE.length; i++) {
    const { events, retries } = parseWithRetry([SAMPLE.slice(0, i), SAMPLE.slice(i)]);
    assert.deepEqual(events, EXPECTED, `split at ${i} (${JSON.stringify(SAMPLE.slice(Math.max(0, i - 3), i + 3))})`);
    assert.deepEqual(retries, [1500, 250], `split at ${i}`);
  }
});

test("every pair of split points gives the same events", () => {
  for (let i = 0; i <= SAMPLE.length; i++) {
    for (let j = i; j <= SAMPLE.length; j++) {
      const { events } = parseWithRetry([SAMPLE.slice(0, i), SAMPLE.slice(i, j), SAMPLE.slice(j)]);
      assert.deepEqual(events, EXPECTED, `split at ${i} and ${j}`);
    }
  }
});

test("one character at a time gives the same events", () => {
  const { events, retries } = parseWithRetry([...SAMPLE]);
  assert.deepEqual(events, EXPECTED);
  assert.deepEqual(retries, [1500, 250]);
});

test("multi-line data is joined with \\n, and only the last \\n is dropped", () => {
  assert.deepEqual(parseSse("data: a\ndata: b\ndata: c\n\n"), [{ type: "message", data: "a\nb\nc", lastEventId: "" }]);
  assert.deepEqual(parseSse("data: a\ndata\n\n"), [{ type: "message", data: "a\n", lastEventId: "" }]);
  assert.deepEqual(parseSse("data:\ndata:\n\n"), [{ type: "message", data: "\n", lastEventId: "" }]);
});

test("a blank line with no data dispatches nothing and resets the event type", () => {
  assert.deepEqual(parseSse("event: foo\n\ndata: x\n\n"), [{ type: "message", data: "x", lastEventId: "" }]);
  assert.deepEqual(parseSse("\n\n\n"), []);
});

test("ids persist across events; an empty id resets; an id with NUL is ignored", () => {
  const events = parseSse(
    "id: plan-1:1\ndata: a\n\ndata: b\n\nid: plan-1:2\ndata: c\n\nid: x\u0000y\ndata: d\n\nid:\ndata: e\n\n",
  );
  assert.deepEqual(
    events.map((e) => [e.data, e.lastEventId]),
    [
      ["a", "plan-1:1"],
      ["b", "plan-1:1"],
      ["c", "plan-1:2"],
      ["d", "plan-1:2"],
      ["e", ""],
    ],
  );
});

test("an id alone (no data) still moves lastEventId", () => {
  const parser = new SseParser({ onEvent: () => undefined });
  parser.feed("id: 7\n\n");
  assert.equal(parser.lastEventId, "7");
  parser.feed("id: 8\ndata: not finished");
  assert.equal(parser.lastEventId, "7", "only a dispatch moves the last event id");
});

test("the parser can start from a previous connection's last event id", () => {
  const parser = new SseParser({ onEvent: () => undefined, lastEventId: "plan-1:4" });
  assert.equal(parser.lastEventId, "plan-1:4");
  const events: SseEvent[] = [];
  const p2 = new SseParser({ onEvent: (e) => events.push(e), lastEventId: "plan-1:4" });
  p2.feed("data: x\n\n");
  assert.equal(events[0].lastEventId, "plan-1:4");
});

test("comments are ignored, including django-eventstream's padding", () => {
  const events = parseSse(":" + " ".repeat(2048) + "\n\n: ping\ndata: x\n:another\n\n");
  assert.deepEqual(events, [{ type: "message", data: "x", lastEventId: "" }]);
});

test("retry accepts ASCII digits only", () => {
  assert.deepEqual(parseWithRetry(["retry: 3000\n"]).retries, [3000]);
  assert.deepEqual(parseWithRetry(["retry: 0\n"]).retries, [0]);
  for (const bad of ["retry: -1\n", "retry: 1.5\n", "retry: 10s\n", "retry:\n", "retry: ١٢\n", "retry:  5\n"]) {
    assert.deepEqual(parseWithRetry([bad]).retries, [], bad);
  }
});

test("CRLF, CR and LF line endings all work, also mixed", () => {
  const expected = [{ type: "message", data: "a\nb", lastEventId: "1" }];
  assert.deepEqual(parseSse("id: 1\r\ndata: a\r\ndata: b\r\n\r\n"), expected);
  assert.deepEqual(parseSse("id: 1\rdata: a\rdata: b\r\r"), expected);
  assert.deepEqual(parseSse("id: 1\ndata: a\ndata: b\n\n"), expected);
  assert.deepEqual(parseSse("id: 1\r\ndata: a\rdata: b\n\r\n"), expected);
});

test("a chunk ending in \\r followed by one starting with \\n is a single line end", () => {
  assert.deepEqual(parseSse(["data: a\r", "\ndata: b\r", "\n\r", "\n"]), [
    { type: "message", data: "a\nb", lastEventId: "" },
  ]);
  // ...but \r then \r is two line ends (a blank line: dispatch).
  assert.deepEqual(parseSse(["data: a\r", "\r", "data: b\n\n"]), [
    { type: "message", data: "a", lastEventId: "" },
    { type: "message", data: "b", lastEventId: "" },
  ]);
});

test("a BOM is stripped only at the very start of the stream", () => {
  assert.deepEqual(parseSse("\uFEFFdata: x\n\n"), [{ type: "message", data: "x", lastEventId: "" }]);
  assert.deepEqual(parseSse(["", "\uFEFFdata: x\n\n"]), [{ type: "message", data: "x", lastEventId: "" }]);
  // Later in the stream a BOM is an ordinary character: here it makes an unknown field name.
  assert.deepEqual(parseSse("data: x\n\n\uFEFFdata: y\n\n"), [{ type: "message", data: "x", lastEventId: "" }]);
});

test("a field without a colon has an empty value; only one leading space is removed", () => {
  assert.deepEqual(parseSse("data\n\n"), [{ type: "message", data: "", lastEventId: "" }]);
  assert.deepEqual(parseSse("data:   x  \n\n"), [{ type: "message", data: "  x  ", lastEventId: "" }]);
  assert.deepEqual(parseSse("data: a:b: c\n\n"), [{ type: "message", data: "a:b: c", lastEventId: "" }]);
});

test("an unterminated event at end of stream is discarded", () => {
  const events: SseEvent[] = [];
  const parser = new SseParser({ onEvent: (e) => events.push(e) });
  parser.feed("data: complete\n\ndata: partial\n");
  parser.end();
  parser.feed("\n");
  assert.deepEqual(events, [{ type: "message", data: "complete", lastEventId: "" }]);
});

test("the server's contract stream: connected, a step, a named fragment, a keep-alive", () => {
  const stream =
    'id: plan-abc:0\ndata: {"type": "connected", "plan_id": "abc"}\n\n' +
    ": keep-alive\n\n" +
    'id: plan-abc:1\ndata: {"type": "step", "plan_id": "abc", "id": "s1", "text": "t", "owner": "o", "ts": "2024-01-01T00:00:00Z"}\n\n' +
    'id: plan-abc:1\nevent: step_html\ndata: <li id="step-s1">t</li>\n\n' +
    "event: keep-alive\ndata:\n\n";
  const events = parseSse(stream);
  assert.deepEqual(
    events.map((e) => [e.type, e.lastEventId]),
    [
      ["message", "plan-abc:0"],
      ["message", "plan-abc:1"],
      ["step_html", "plan-abc:1"],
      ["keep-alive", "plan-abc:1"],
    ],
  );
  assert.equal(JSON.parse(events[1].data).id, "s1");
});

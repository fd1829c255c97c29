import { test } from "node:test";
import assert from "node:assert/strict";
import { JSDOM } from "jsdom";
import type { Plan } from "../src/api";
import { buildPanelHtml, escapeHtml, makeNonce, WEBVIEW_SCRIPT } from "../src/webview";

const XSS = "<img src=x onerror=alert(1)>";

function plan(overrides: Partial<Plan> = {}): Plan {
  return {
    id: "0b6f2f7e-2d8c-4b8e-9a53-2f1f0c1d9e01",
    org_id: "org-1",
    title: "Release 2.0",
    description: "Ship it",
    steps: [{ id: "s1", text: "Write notes", owner: "alice", ts: "2024-05-01T10:00:00Z" }],
    participants: ["alice", "bob"],
    archived: false,
    created_at: "2024-05-01T09:00:00Z",
    updated_at: "2024-05-01T10:00:00Z",
    ...overrides,
  };
}

const CSP_SOURCE = "https://*.vscode-cdn.net";

function cspOf(html: string): string {
  const match = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(html);
  assert.ok(match, "a CSP meta tag");
  return match[1].replace(/&#39;/g, "'");
}

test("the HTML has a strict CSP and a nonce'd script and style", () => {
  const nonce = makeNonce();
  const html = buildPanelHtml({ nonce, cspSource: CSP_SOURCE, plan: plan() });
  const csp = cspOf(html);
  const directives = csp.split(";").map((d) => d.trim());
  assert.equal(directives[0], "default-src 'none'");
  assert.ok(directives.includes(`script-src 'nonce-${nonce}'`), csp);
  assert.ok(directives.includes(`style-src ${CSP_SOURCE} 'nonce-${nonce}'`), csp);
  assert.ok(directives.includes("connect-src 'none'"), csp);
  assert.ok(!/unsafe-inline|unsafe-eval/.test(csp));
  const scripts = html.match(/<script[^>]*>/g) ?? [];
  assert.deepEqual(scripts, [`<script nonce="${nonce}">`]);
  assert.match(html, new RegExp(`<style nonce="${nonce}">`));
  // No inline event handlers (CSP would block them anyway) and no remote resources.
  assert.ok(!/\son[a-z]+=/i.test(html.replace(/<script[\s\S]*<\/script>/, "")));
  assert.ok(!/(src|href)="https?:/.test(html));
});

test("uses VS Code theme variables", () => {
  const html = buildPanelHtml({ nonce: makeNonce(), cspSource: CSP_SOURCE, plan: plan() });
  for (const variable of ["--vscode-editor-foreground", "--vscode-editor-background", "--vscode-button-background", "--vscode-input-background"]) {
    assert.ok(html.includes(`var(${variable})`), variable);
  }
});

test("a hostile title, description, participant, owner and step text are escaped", () => {
  const html = buildPanelHtml({
    nonce: makeNonce(),
    cspSource: CSP_SOURCE,
    plan: plan({
      title: XSS,
      description: XSS,
      participants: [XSS],
      steps: [{ id: '"><script>alert(1)</script>', text: XSS, owner: XSS, ts: XSS }],
    }),
  });
  assert.ok(!html.includes("<img"), "no raw <img in the HTML");
  assert.ok(!html.includes("<script>alert"), "no injected script");
  assert.ok(html.includes("&lt;img src=x onerror=alert(1)&gt;"));
  // Parsed, the text is text: no <img> element exists.
  const dom = new JSDOM(html);
  assert.equal(dom.window.document.querySelectorAll("img").length, 0);
  assert.equal(dom.window.document.getElementById("plan-title")?.textContent, XSS);
  assert.equal(dom.window.document.querySelector("#steps .text")?.textContent, XSS);
  assert.equal(dom.window.document.querySelectorAll("script").length, 1);
});

test("the nonce must look like a nonce", () => {
  assert.throws(() => buildPanelHtml({ nonce: "short", cspSource: CSP_SOURCE }));
  assert.throws(() => buildPanelHtml({ nonce: '"><script>x</script>aaaaaaaaaaaaaa', cspSource: CSP_SOURCE }));
  const a = makeNonce();
  const b = makeNonce();
  assert.notEqual(a, b);
  assert.match(a, /^[A-Za-z0-9]{16,}$/);
});

test("escapeHtml escapes the five characters", () => {
  assert.equal(escapeHtml(`<a href="x" title='y'>&</a>`), "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;");
  assert.equal(escapeHtml(undefined), "");
});

test("the inline script never uses innerHTML, outerHTML, insertAdjacentHTML or eval", () => {
  assert.ok(!/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/.test(WEBVIEW_SCRIPT));
  assert.ok(!WEBVIEW_SCRIPT.includes("</script"));
});

/** Load the panel in jsdom with a stub acquireVsCodeApi, as VS Code would run it. */
function loadPanel(p: Plan | undefined) {
  const posted: Array<Record<string, unknown>> = [];
  const html = buildPanelHtml({ nonce: makeNonce(), cspSource: CSP_SOURCE, plan: p });
  const dom = new JSDOM(html, {
    runScripts: "dangerously",
    beforeParse(window) {
      (window as unknown as { acquireVsCodeApi: () => unknown }).acquireVsCodeApi = () => ({
        // VS Code structured-clones messages; a JSON copy also leaves the jsdom realm behind.
        postMessage: (m: Record<string, unknown>) => posted.push(JSON.parse(JSON.stringify(m))),
        getState: () => undefined,
        setState: () => undefined,
      });
    },
  });
  const { window } = dom;
  const doc = window.document;
  const send = (data: unknown) => window.dispatchEvent(new window.MessageEvent("message", { data }));
  const stepTexts = () => Array.from(doc.querySelectorAll("#steps > li .text")).map((el) => el.textContent);
  return { dom, window, doc, posted, send, stepTexts };
}

test("webview script: says ready, renders streamed steps with textContent, de-duplicates by id", () => {
  const { doc, posted, send, stepTexts } = loadPanel(plan());
  assert.deepEqual(posted, [{ type: "ready" }]);
  assert.deepEqual(stepTexts(), ["Write notes"]);

  send({ type: "step", step: { id: "s2", text: XSS, owner: "<b>eve</b>", ts: "2024-05-01T10:05:00Z" } });
  assert.deepEqual(stepTexts(), ["Write notes", XSS]);
  assert.equal(doc.querySelectorAll("img").length, 0, "the step text did not become an element");
  assert.equal(doc.querySelectorAll("b").length, 0);
  assert.equal(doc.getElementById("step-count")?.textContent, "2");

  // The same step again (GET and stream, or a replay): still two.
  send({ type: "step", step: { id: "s2", text: XSS, owner: "eve", ts: "2024-05-01T10:05:00Z" } });
  send({ type: "step", step: { id: "s1", text: "Write notes", owner: "alice", ts: "2024-05-01T10:00:00Z" } });
  assert.deepEqual(stepTexts(), ["Write notes", XSS]);

  // A full plan re-render replaces everything, still de-duplicated.
  send({
    type: "plan",
    plan: plan({
      title: XSS,
      participants: ["carol"],
      steps: [
        { id: "s1", text: "Write notes", owner: "alice", ts: "" },
        { id: "s3", text: "Tag", owner: "bob", ts: "" },
        { id: "s3", text: "Tag", owner: "bob", ts: "" },
      ],
    }),
  });
  assert.deepEqual(stepTexts(), ["Write notes", "Tag"]);
  assert.equal(doc.getElementById("plan-title")?.textContent, XSS);
  assert.deepEqual(
    Array.from(doc.querySelectorAll("#participants li")).map((li) => li.textContent),
    ["carol"],
  );
  assert.equal(doc.querySelectorAll("img").length, 0);

  // A step's participants (as the server decided them) replace the list, escaped; a step seen
  // before still updates them.
  send({ type: "step", step: { id: "s1", text: "Write notes", owner: "alice", ts: "" }, participants: ["carol", XSS] });
  assert.deepEqual(
    Array.from(doc.querySelectorAll("#participants li")).map((li) => li.textContent),
    ["carol", XSS],
  );
  assert.equal(doc.querySelectorAll("img").length, 0);
  assert.equal((doc.getElementById("no-participants") as HTMLElement).hidden, true);
});

test("webview script: add step posts to the host and clears the input on success", () => {
  const { window, doc, posted, send } = loadPanel(plan());
  const input = doc.getElementById("step-text") as HTMLTextAreaElement;
  const form = doc.getElementById("add-step-form") as HTMLFormElement;
  const button = doc.getElementById("add-step-button") as HTMLButtonElement;

  input.value = "   ";
  form.dispatchEvent(new window.Event("submit", { cancelable: true }));
  assert.equal(posted.length, 1, "blank text is not sent");

  input.value = "  Deploy to staging  ";
  form.dispatchEvent(new window.Event("submit", { cancelable: true }));
  assert.deepEqual(posted[1], { type: "addStep", text: "Deploy to staging" });
  assert.equal(button.disabled, true, "no double submit while the host works");

  send({ type: "addStepResult", ok: false, message: "text: Ensure this field has no more than 1000 characters." });
  const error = doc.getElementById("error") as HTMLElement;
  assert.equal(error.hidden, false);
  assert.match(error.textContent ?? "", /1000 characters/);
  assert.equal(input.value, "  Deploy to staging  ", "kept for another try");
  assert.equal(button.disabled, false);

  form.dispatchEvent(new window.Event("submit", { cancelable: true }));
  send({ type: "addStepResult", ok: true });
  assert.equal(input.value, "");
  assert.equal(error.hidden, true);

  input.value = "x".repeat(1001);
  form.dispatchEvent(new window.Event("submit", { cancelable: true }));
  assert.equal(posted.filter((m) => m.type === "addStep").length, 2, "over-long text is not sent");
  assert.equal(error.hidden, false);
});

test("webview script: archive asks the host, and an archived plan disables the controls", () => {
  const { doc, posted, send } = loadPanel(plan());
  const archive = doc.getElementById("archive-button") as HTMLButtonElement;
  archive.click();
  assert.deepEqual(posted.at(-1), { type: "archive" });
  assert.equal(archive.disabled, true);

  send({ type: "archiveResult", ok: false }); // the user cancelled the confirmation
  assert.equal(archive.disabled, false);
  assert.equal((doc.getElementById("error") as HTMLElement).hidden, true);

  assert.equal((doc.getElementById("archived-note") as HTMLElement).hidden, true);
  send({ type: "archived", memoryNodeId: "n1" });
  assert.equal((doc.getElementById("archived-badge") as HTMLElement).hidden, false);
  assert.equal((doc.getElementById("archived-note") as HTMLElement).hidden, false);
  assert.equal(doc.body.getAttribute("data-archived"), "true"); // the stylesheet hides the add box and Archive
  assert.equal((doc.getElementById("step-text") as HTMLTextAreaElement).disabled, true);
  assert.equal((doc.getElementById("add-step-button") as HTMLButtonElement).disabled, true);
  assert.equal(archive.disabled, true);
});

test("webview script: connection state and errors are shown as text", () => {
  const { doc, send, posted } = loadPanel(undefined);
  const conn = doc.getElementById("connection") as HTMLElement;
  send({ type: "connection", state: "open" });
  assert.equal(conn.getAttribute("data-state"), "open");
  assert.equal(conn.textContent, "Live");
  const detail = doc.getElementById("connection-detail") as HTMLElement;
  assert.equal(detail.hidden, true);
  send({ type: "connection", state: "reconnecting", message: `${XSS} Retrying in 2 s.` });
  assert.equal(conn.textContent, "Reconnecting…");
  assert.equal(detail.hidden, false);
  assert.equal(detail.textContent, `${XSS} Retrying in 2 s.`);
  send({ type: "connection", state: "open" });
  assert.equal(detail.hidden, true);
  send({ type: "connection", state: "closed", message: XSS });
  assert.equal(conn.title, XSS);
  assert.equal(detail.hidden, true);
  const reconnect = doc.getElementById("reconnect-button") as HTMLButtonElement;
  assert.equal(reconnect.hidden, false);
  reconnect.click();
  assert.deepEqual(posted.at(-1), { type: "reconnect" });
  send({ type: "error", message: XSS });
  assert.equal(doc.getElementById("error")?.textContent, XSS);
  assert.equal(doc.querySelectorAll("img").length, 0);
});

test("webview script: a step that brings its owner updates the participants", () => {
  const { doc, send } = loadPanel(plan());
  const names = () => Array.from(doc.querySelectorAll("#participants > li")).map((el) => el.textContent);
  assert.deepEqual(names(), ["alice", "bob"]);
  send({ type: "step", step: { id: "s2", text: "t", owner: XSS, ts: "" }, participants: ["alice", "bob", XSS] });
  assert.deepEqual(names(), ["alice", "bob", XSS]);
  assert.equal(doc.querySelectorAll("img").length, 0);
  send({ type: "step", step: { id: "s3", text: "t", owner: "alice", ts: "" } });
  assert.deepEqual(names(), ["alice", "bob", XSS]);
});

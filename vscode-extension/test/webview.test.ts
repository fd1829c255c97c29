import { test } from "node:test";
import assert from "node:assert/strict";
import { JSDOM } from "jsdom";
import type { Plan, Step } from "../src/api";
import { buildPanelHtml, escapeHtml, makeNonce, WEBVIEW_SCRIPT } from "../src/webview";

const XSS = "<img src=x onerror=alert(1)>";

function st(id: string, text: string, owner: string, ts: string, overrides: Partial<Step> = {}): Step {
  return { id, text, owner, ts, done: false, done_by: null, done_at: null, version: 1, updated_at: ts, ...overrides };
}

function plan(overrides: Partial<Plan> = {}): Plan {
  const steps = overrides.steps ?? [st("s1", "Write notes", "alice", "2024-05-01T10:00:00Z")];
  return {
    id: "0b6f2f7e-2d8c-4b8e-9a53-2f1f0c1d9e01",
    org_id: "org-1",
    title: "Release 2.0",
    description: "Ship it",
    version: 1,
    steps,
    progress: { done: steps.filter((s) => s.done).length, total: steps.length },
    participants: ["alice", "bob"],
    archived: false,
    created_at: "2024-05-01T09:00:00Z",
    updated_at: "2024-05-01T10:00:00Z",
    last_event_id: "",
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
      steps: [st('"><script>alert(1)</script>', XSS, XSS, XSS, { done: true, done_by: XSS })],
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
        st("s1", "Write notes", "alice", ""),
        st("s3", "Tag", "bob", ""),
        st("s3", "Tag", "bob", ""),
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

/** A plan of three steps, the second one ticked by Erin, loaded and rendered by the host's "plan". */
function workingPanel() {
  const steps = [
    st("s1", "Write notes", "alice", "2024-05-01T10:00:00Z"),
    st("s2", "Tag the release", "bob", "2024-05-01T10:01:00Z", {
      done: true,
      done_by: "Erin",
      done_at: "2024-05-01T11:00:00Z",
      version: 2,
    }),
    st("s3", "Announce", "alice", "2024-05-01T10:02:00Z"),
  ];
  const p = plan({ steps, version: 4 });
  const panel = loadPanel(p);
  panel.send({ type: "plan", plan: p });
  const { doc } = panel;
  const li = (id: string) => doc.querySelector(`#steps > li[data-step-id="${id}"]`) as HTMLElement;
  const q = <T extends Element>(id: string, cls: string) => li(id).querySelector(`.${cls}`) as unknown as T;
  const ids = () => Array.from(doc.querySelectorAll("#steps > li")).map((el) => el.getAttribute("data-step-id"));
  return { ...panel, p, steps, li, q, ids };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test("first paint shows done steps struck through with who did them, and the progress", () => {
  const steps = [st("s1", "One", "a", ""), st("s2", "Two", "b", "", { done: true, done_by: "Erin" })];
  const { doc } = loadPanel(plan({ steps }));
  assert.equal(doc.getElementById("progress")?.textContent, "1 of 2 done");
  const second = doc.querySelector('#steps > li[data-step-id="s2"]') as HTMLElement;
  assert.ok(second.classList.contains("done"));
  assert.equal(second.querySelector(".done-by")?.textContent, "done by Erin");
});

test("webview script: each step gets a checkbox, Edit, Move up/down and Delete, labelled for screen readers", () => {
  const { doc, q, li } = workingPanel();
  assert.equal(doc.getElementById("progress")?.textContent, "1 of 3 done");
  const box = q<HTMLInputElement>("s2", "done-toggle");
  assert.equal(box.type, "checkbox");
  assert.equal(box.checked, true);
  assert.equal(box.getAttribute("aria-label"), "Done: Tag the release");
  assert.ok(li("s2").classList.contains("done"));
  assert.equal(q("s2", "done-by").textContent, "done by Erin");
  assert.equal(q("s1", "done-by"), null);
  assert.equal(q("s1", "move-up").getAttribute("aria-label"), "Move up: Write notes");
  assert.equal(q("s1", "move-down").getAttribute("aria-label"), "Move down: Write notes");
  assert.equal(q("s1", "edit-button").getAttribute("aria-label"), "Edit step: Write notes");
  assert.equal(q("s1", "delete-button").getAttribute("aria-label"), "Delete step: Write notes");
  // The first step cannot go up, the last cannot go down.
  assert.equal(q<HTMLButtonElement>("s1", "move-up").disabled, true);
  assert.equal(q<HTMLButtonElement>("s1", "move-down").disabled, false);
  assert.equal(q<HTMLButtonElement>("s3", "move-down").disabled, true);
  for (const b of Array.from(doc.querySelectorAll("#steps button:not(.save)"))) {
    assert.equal((b as HTMLButtonElement).type, "button", "only Save submits the editor");
  }
});

test("webview script: ticking posts toggleStep; a refusal puts the checkbox back", () => {
  const { window, q, posted, send } = workingPanel();
  const box = q<HTMLInputElement>("s1", "done-toggle");
  box.checked = true;
  box.dispatchEvent(new window.Event("change", { bubbles: true }));
  assert.deepEqual(posted.at(-1), { type: "toggleStep", stepId: "s1", done: true });
  assert.equal(box.getAttribute("aria-disabled"), "true", "one write at a time per step");
  box.checked = false;
  box.dispatchEvent(new window.Event("change", { bubbles: true }));
  assert.equal(posted.filter((m) => m.type === "toggleStep").length, 1);
  assert.equal(box.checked, true, "shows what was asked until the answer");
  send({ type: "stepResult", op: "toggle", stepId: "s1", ok: false, message: "Plan is archived." });
  assert.equal(box.checked, false);
  assert.equal(box.hasAttribute("aria-disabled"), false);
  assert.match((window.document.getElementById("error") as HTMLElement).textContent ?? "", /archived/);
});

test("webview script: a tick from the host (ours or someone else's) strikes the step and counts it", () => {
  const { doc, q, li, p, steps, send } = workingPanel();
  send({
    type: "plan",
    plan: { ...p, steps: [{ ...steps[0], done: true, done_by: "Dana Dev", version: 2 }, steps[1], steps[2]] },
  });
  assert.ok(li("s1").classList.contains("done"));
  assert.equal(q<HTMLInputElement>("s1", "done-toggle").checked, true);
  assert.equal(q("s1", "done-by").textContent, "done by Dana Dev");
  assert.equal(doc.getElementById("progress")?.textContent, "2 of 3 done");
});

test("webview script: edit in place; Enter saves with the version it began from, Escape cancels", () => {
  const { window, doc, q, li, posted, send, p, steps } = workingPanel();
  q<HTMLButtonElement>("s1", "edit-button").click();
  const area = q<HTMLTextAreaElement>("s1", "edit-text");
  assert.equal(li("s1").classList.contains("editing"), true);
  assert.equal(q<HTMLElement>("s1", "edit").hidden, false);
  assert.equal(area.value, "Write notes");
  assert.equal(doc.activeElement, area);
  area.value = "Draft";
  area.dispatchEvent(new window.KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
  assert.equal(li("s1").classList.contains("editing"), false);
  assert.equal(q("s1", "text").textContent, "Write notes");
  assert.equal(doc.activeElement, q("s1", "edit-button"));

  // Double-click the text: edit again; Enter saves.
  q("s1", "text").dispatchEvent(new window.MouseEvent("dblclick", { bubbles: true }));
  area.value = "  Write the release notes  ";
  area.dispatchEvent(new window.KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
  assert.deepEqual(posted.at(-1), { type: "editStep", stepId: "s1", text: "Write the release notes", version: 1 });
  // A change arriving meanwhile does not touch what is typed.
  send({ type: "plan", plan: { ...p, steps: [{ ...steps[0], owner: "zed", version: 2 }, steps[1], steps[2]] } });
  assert.equal(area.value, "  Write the release notes  ");
  assert.equal(li("s1").classList.contains("editing"), true);
  send({ type: "plan", plan: { ...p, steps: [{ ...steps[0], text: "Write the release notes", version: 3 }, steps[1], steps[2]] } });
  send({ type: "stepResult", op: "edit", stepId: "s1", ok: true });
  assert.equal(li("s1").classList.contains("editing"), false);
  assert.equal(q("s1", "text").textContent, "Write the release notes");
});

test("webview script: someone else changed the step: the user's text is kept, with the current version", () => {
  const { window, q, li, posted, send } = workingPanel();
  q<HTMLButtonElement>("s3", "edit-button").click();
  const area = q<HTMLTextAreaElement>("s3", "edit-text");
  area.value = "Announce on the blog";
  area.dispatchEvent(new window.KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
  assert.equal((posted.at(-1) as { version: number }).version, 1);
  send({
    type: "stepResult",
    op: "edit",
    stepId: "s3",
    ok: false,
    stale: true,
    message: "Someone else changed this step since you loaded it (it is now version 2): nothing was saved.",
    current: st("s3", "Announce <b>widely</b>", "alice", "", { version: 2 }),
  });
  assert.equal(li("s3").classList.contains("editing"), true);
  assert.equal(area.value, "Announce on the blog", "the user's text is kept");
  const note = q<HTMLElement>("s3", "edit-note");
  assert.equal(note.hidden, false);
  assert.match(note.textContent ?? "", /Someone else changed this step .*version 2/);
  assert.match(note.textContent ?? "", /Announce <b>widely<\/b>/);
  assert.equal(window.document.querySelectorAll("#steps b").length, 0);
  // Saving again sends the version it was told about.
  area.dispatchEvent(new window.KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
  assert.deepEqual(posted.at(-1), { type: "editStep", stepId: "s3", text: "Announce on the blog", version: 2 });
});

test("webview script: Move up / Move down post the move; the reordered list keeps the focus and announces it", async () => {
  const { doc, q, ids, posted, send, p, steps } = workingPanel();
  const down = q<HTMLButtonElement>("s1", "move-down");
  down.focus();
  down.click();
  assert.deepEqual(posted.at(-1), { type: "moveStep", stepId: "s1", direction: "down" });
  assert.equal(down.getAttribute("aria-disabled"), "true", "no second move before the first is done");
  down.click();
  assert.equal(posted.filter((m) => m.type === "moveStep").length, 1);
  assert.equal(doc.activeElement, down, "the focus stays while it waits");
  send({ type: "plan", plan: { ...p, steps: [steps[1], steps[0], steps[2]] } });
  send({ type: "stepResult", op: "move", stepId: "s1", ok: true });
  send({ type: "announce", message: 'Moved "Write notes" to position 2 of 3' });
  assert.deepEqual(ids(), ["s2", "s1", "s3"]);
  assert.equal(doc.activeElement, q("s1", "move-down"), "the focus stays on the moved step's button");
  await sleep(60);
  const announcer = doc.getElementById("announcer") as HTMLElement;
  assert.equal(announcer.getAttribute("aria-live"), "polite");
  assert.equal(announcer.textContent, 'Moved "Write notes" to position 2 of 3');
  q<HTMLButtonElement>("s1", "move-up").click();
  assert.deepEqual(posted.at(-1), { type: "moveStep", stepId: "s1", direction: "up" });
  // Moved to the top: its Move up is disabled, so the focus goes to its Move down.
  q<HTMLButtonElement>("s1", "move-up").focus();
  send({ type: "plan", plan: { ...p, steps: [steps[0], steps[1], steps[2]] } });
  send({ type: "stepResult", op: "move", stepId: "s1", ok: true });
  assert.equal(q<HTMLButtonElement>("s1", "move-up").disabled, true);
  assert.equal(doc.activeElement, q("s1", "move-down"));
});

test("webview script: Delete, then Undo restores; the step leaves and comes back with the host's list", () => {
  const { doc, q, ids, posted, send, p, steps } = workingPanel();
  q<HTMLButtonElement>("s2", "delete-button").focus();
  q<HTMLButtonElement>("s2", "delete-button").click();
  assert.deepEqual(posted.at(-1), { type: "deleteStep", stepId: "s2" });
  send({ type: "plan", plan: { ...p, steps: [steps[0], steps[2]] } });
  send({ type: "stepResult", op: "delete", stepId: "s2", ok: true, text: "Tag the release" });
  assert.equal(doc.activeElement, doc.getElementById("undo-button"), "the keyboard focus goes to Undo");
  assert.deepEqual(ids(), ["s1", "s3"]);
  assert.equal(doc.getElementById("progress")?.textContent, "0 of 2 done");
  const toast = doc.getElementById("toast") as HTMLElement;
  assert.equal(toast.hidden, false);
  assert.equal(doc.getElementById("toast-text")?.textContent, "Deleted \u201cTag the release\u201d.");
  const undo = doc.getElementById("undo-button") as HTMLButtonElement;
  undo.click();
  assert.deepEqual(posted.at(-1), { type: "restoreStep", stepId: "s2" });
  assert.equal(undo.getAttribute("aria-disabled"), "true");
  undo.click();
  assert.equal(posted.filter((m) => m.type === "restoreStep").length, 1, "one restore at a time");
  send({ type: "stepResult", op: "restore", stepId: "s2", ok: true }); // the answer before the event
  send({ type: "plan", plan: { ...p, steps: [steps[0], { ...steps[1], version: 4 }, steps[2]] } });
  assert.equal(toast.hidden, true);
  assert.equal(doc.activeElement, q("s2", "delete-button"), "the focus is on the step that came back");
  assert.deepEqual(ids(), ["s1", "s2", "s3"]);
  assert.equal(doc.getElementById("progress")?.textContent, "1 of 3 done");
});

test("webview script: rename the plan in place, with its version; a stale rename keeps the user's title", () => {
  const { window, doc, posted, send, p } = workingPanel();
  const rename = doc.getElementById("rename-button") as HTMLButtonElement;
  const input = doc.getElementById("rename-input") as HTMLInputElement;
  const form = doc.getElementById("rename-form") as HTMLFormElement;
  const title = doc.getElementById("plan-title") as HTMLElement;
  assert.equal(rename.getAttribute("aria-label"), "Rename plan");
  rename.click();
  assert.equal(form.hidden, false);
  assert.equal(title.hidden, true);
  assert.equal(input.value, "Release 2.0");
  input.value = "Nope";
  input.dispatchEvent(new window.KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
  assert.equal(form.hidden, true);
  assert.equal(title.textContent, "Release 2.0");

  title.dispatchEvent(new window.MouseEvent("dblclick", { bubbles: true }));
  input.value = "Release 2.1";
  form.dispatchEvent(new window.Event("submit", { cancelable: true }));
  assert.deepEqual(posted.at(-1), { type: "renamePlan", title: "Release 2.1", version: 4 });
  send({
    type: "planResult",
    ok: false,
    stale: true,
    version: 5,
    title: "Release 3",
    message: "Someone else changed this plan since you loaded it (it is now version 5): nothing was saved.",
  });
  assert.equal(form.hidden, false);
  assert.equal(input.value, "Release 2.1");
  const note = doc.getElementById("rename-note") as HTMLElement;
  assert.equal(note.hidden, false);
  assert.match(note.textContent ?? "", /version 5.*Release 3/);
  form.dispatchEvent(new window.Event("submit", { cancelable: true }));
  assert.deepEqual(posted.at(-1), { type: "renamePlan", title: "Release 2.1", version: 5 });
  send({ type: "plan", plan: { ...p, title: "Release 2.1", version: 6 } });
  send({ type: "planResult", ok: true });
  assert.equal(form.hidden, true);
  assert.equal(title.textContent, "Release 2.1");
  assert.equal(rename.hidden, false);
  assert.equal(rename.disabled, false, "ready for the next rename");
  assert.equal(doc.activeElement, rename, "the focus goes back to Rename");
});

test("webview script: an archived plan offers no step actions and no rename", () => {
  const { doc, q, send } = workingPanel();
  q<HTMLButtonElement>("s1", "edit-button").click();
  send({ type: "archived" });
  assert.equal(doc.body.getAttribute("data-archived"), "true"); // the stylesheet hides .step-actions
  assert.equal(q<HTMLInputElement>("s1", "done-toggle").disabled, true);
  assert.equal(q<HTMLButtonElement>("s1", "delete-button").disabled, true);
  assert.equal(q<HTMLElement>("s1", "edit").hidden, true, "an open editor closes");
  assert.equal((doc.getElementById("rename-button") as HTMLButtonElement).disabled, true);
});

test("webview script: a viewer's panel shows the plan live but no control that changes it", () => {
  const steps = [st("s1", "Write notes", "alice", "2024-05-01T10:00:00Z"), st("s2", "Ship", "bob", "")];
  const p = plan({ steps, can_write: false });
  const { doc, posted, send } = loadPanel(p);
  assert.equal(doc.body.getAttribute("data-read-only"), "true"); // the stylesheet hides the write controls
  assert.equal(doc.body.getAttribute("data-archived"), "false");
  send({ type: "plan", plan: p });
  const li = (id: string) => doc.querySelector(`#steps > li[data-step-id="${id}"]`) as HTMLElement;
  for (const cls of ["done-toggle", "edit-button", "delete-button", "move-up", "move-down"]) {
    assert.equal((li("s1").querySelector(`.${cls}`) as HTMLButtonElement).disabled, true, cls);
  }
  assert.equal((doc.getElementById("add-step-button") as HTMLButtonElement).disabled, true);
  assert.equal((doc.getElementById("archive-button") as HTMLButtonElement).disabled, true);
  assert.equal((doc.getElementById("rename-button") as HTMLButtonElement).disabled, true);
  (doc.getElementById("plan-title") as HTMLElement).dispatchEvent(new doc.defaultView!.MouseEvent("dblclick"));
  li("s1").querySelector(".text")?.dispatchEvent(new doc.defaultView!.MouseEvent("dblclick", { bubbles: true }));
  assert.equal((doc.getElementById("rename-form") as HTMLElement).hidden, true, "no rename");
  assert.ok(!li("s1").classList.contains("editing"), "no edit");
  assert.deepEqual(posted, [{ type: "ready" }]); // nothing was asked of the host
  send({ type: "plan", plan: { ...p, can_write: true } }); // made a member: the controls come back
  assert.equal(doc.body.getAttribute("data-read-only"), "false");
  assert.equal((li("s1").querySelector(".done-toggle") as HTMLInputElement).disabled, false);
});

// "Here now" (presence, DESIGN 11) -----------------------------------------------------------------

const SCRIPT_NAME = "<script>alert(1)</script>";

function hereNow(doc: Document) {
  const list = doc.getElementById("viewers") as HTMLElement;
  const items = Array.from(list.querySelectorAll(":scope > li"));
  return {
    list,
    shown: !list.hidden,
    heading: doc.getElementById("presence-heading")?.textContent?.replace(/\s+/g, " ").trim(),
    names: items.filter((li) => !li.classList.contains("viewer-more")).map((li) => li.querySelector(".viewer-name")?.textContent),
    avatars: items.filter((li) => !li.classList.contains("viewer-more")).map((li) => li.querySelector(".avatar")?.textContent),
    more: items.find((li) => li.classList.contains("viewer-more"))?.textContent ?? null,
    unknown: (doc.getElementById("viewers-unknown") as HTMLElement).hidden
      ? null
      : doc.getElementById("viewers-unknown")?.textContent,
  };
}

test("webview: 'Here now' lists who is viewing, first arrived first, with an initial avatar and +N more", () => {
  const { doc, send } = loadPanel(plan());
  // Before the stream says anything: not known, and no list.
  assert.equal(hereNow(doc).shown, false);
  assert.equal(hereNow(doc).unknown, "Not known while the panel is not live.");
  send({ type: "connection", state: "open" });
  assert.equal(hereNow(doc).unknown, "Not known yet.");

  send({
    type: "presence",
    viewers: [
      { username: "dana", name: "Dana Dev", since: "2024-05-01T10:00:00Z" },
      { username: "erin", name: "érin ops", since: "2024-05-01T10:01:00Z" },
      { username: "zoe", name: "", since: "2024-05-01T10:02:00Z" },
    ],
    count: 5,
  });
  const shown = hereNow(doc);
  assert.equal(shown.shown, true);
  assert.equal(shown.unknown, null);
  assert.deepEqual(shown.names, ["Dana Dev", "érin ops", "zoe"], "in the server's order; no name: the username");
  assert.deepEqual(shown.avatars, ["D", "É", "Z"]);
  assert.equal(shown.more, "+2 more");
  assert.equal(shown.heading, "Here now 5");
  assert.equal(shown.list.getAttribute("aria-label"), "5 people viewing now");
  const first = shown.list.querySelector("li") as HTMLElement;
  assert.equal(first.title, "Dana Dev (dana)");
  assert.equal(first.querySelector(".avatar")?.getAttribute("aria-hidden"), "true", "the name is read, not the letter");

  // Everyone is listed: no "+N more"; one person is "1 person".
  send({ type: "presence", viewers: [{ username: "dana", name: "Dana Dev", since: "" }], count: 1 });
  assert.deepEqual(hereNow(doc).names, ["Dana Dev"]);
  assert.equal(hereNow(doc).more, null);
  assert.equal(hereNow(doc).list.getAttribute("aria-label"), "1 person viewing now");
});

test("webview: a viewer's name is text, never markup", () => {
  const { doc, send } = loadPanel(plan());
  send({ type: "connection", state: "open" });
  send({ type: "presence", viewers: [{ username: "x", name: SCRIPT_NAME, since: "" }, { username: XSS, name: XSS, since: "" }], count: 2 });
  assert.deepEqual(hereNow(doc).names, [SCRIPT_NAME, XSS]);
  assert.deepEqual(hereNow(doc).avatars, ["<", "<"]);
  assert.equal(doc.querySelectorAll("script").length, 1, "only the panel's own script");
  assert.equal(doc.querySelectorAll("img").length, 0);
  assert.equal((doc.querySelector("#viewers > li") as HTMLElement).title, `${SCRIPT_NAME} (x)`);
});

test("webview: when the stream drops, 'Here now' says it is not known instead of keeping the old list", () => {
  const { doc, send } = loadPanel(plan());
  send({ type: "connection", state: "open" });
  send({ type: "presence", viewers: [{ username: "erin", name: "Erin Ops", since: "" }], count: 1 });
  assert.deepEqual(hereNow(doc).names, ["Erin Ops"]);
  // What the host sends when the connection is lost: the connection state, then presence unknown.
  send({ type: "connection", state: "reconnecting", message: "Cannot reach the AEP server. Retrying in 2 s." });
  send({ type: "presence", viewers: null, count: 0 });
  assert.equal(hereNow(doc).shown, false);
  assert.deepEqual(hereNow(doc).names, []);
  assert.equal(hereNow(doc).unknown, "Not known while the panel is not live.");
  assert.equal(hereNow(doc).heading, "Here now");
  // Back, the first presence event is the list.
  send({ type: "connection", state: "open" });
  assert.equal(hereNow(doc).unknown, "Not known yet.");
  send({ type: "presence", viewers: [{ username: "dana", name: "Dana Dev", since: "" }], count: 1 });
  assert.deepEqual(hereNow(doc).names, ["Dana Dev"]);
});

test("webview: a viewer's panel shows 'Here now' as a member's does; an archived plan's does not", () => {
  const p = plan({ can_write: false });
  const { doc, send } = loadPanel(p);
  send({ type: "plan", plan: p });
  send({ type: "connection", state: "open" });
  send({ type: "presence", viewers: [{ username: "vic", name: "Vic Viewer", since: "" }], count: 1 });
  assert.equal(doc.body.getAttribute("data-read-only"), "true");
  assert.deepEqual(hereNow(doc).names, ["Vic Viewer"]);
  assert.ok(!/data-read-only="true"\][^{]*#presence/.test(doc.querySelector("style")?.textContent ?? ""), "not hidden for a viewer");
  send({ type: "archived" });
  assert.match(doc.querySelector("style")?.textContent ?? "", /body\[data-archived="true"\] #presence \{ display: none; \}/);
  assert.equal(doc.body.getAttribute("data-archived"), "true");
});

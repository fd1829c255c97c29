/**
 * The plan panel's HTML. Pure: given a nonce, the webview's CSP source and the plan, returns the
 * document. The first paint is rendered here (every text escaped); after that the inline script
 * renders what the extension host posts (plan, step, archived, connection state, the outcome of a
 * write, who is here now) with textContent, reconciling the list by step id so that an open editor and the keyboard
 * focus survive live changes. Working a plan (tick, edit, move, delete and undo, rename) is asked of
 * the host with a message; the host calls the API and the change shows when the host says so.
 * The webview never sees the API token and makes no network requests (connect-src 'none').
 */
import { randomBytes } from "node:crypto";
import type { Plan, Step } from "./api";
import type { Viewer } from "./planState";

export interface PanelHtmlInput {
  nonce: string;
  /** `webview.cspSource` */
  cspSource: string;
  /** The plan as first rendered; undefined renders a loading state. */
  plan?: Plan;
}

/** The panel's writes on one step, as `stepResult` names them. */
export type StepOp = "toggle" | "edit" | "move" | "delete" | "restore";

/** Messages from the extension host to the webview. */
export type HostToWebview =
  /** The whole plan as the host holds it now: the webview reconciles its list with it by step id. */
  | { type: "plan"; plan: Plan }
  /** A new step, last. `participants`: the plan's participants after it, as the server's event says. */
  | { type: "step"; step: Step; participants?: string[] }
  | { type: "archived"; memoryNodeId?: string }
  | { type: "connection"; state: "connecting" | "open" | "reconnecting" | "closed"; message?: string }
  /**
   * Who has the plan open now (the stream's `presence`), first arrived first; `count` is all of them
   * (more than listed: "+N more"). `viewers` null: not known (the stream is not open).
   */
  | { type: "presence"; viewers: Viewer[] | null; count: number }
  | { type: "error"; message: string }
  | { type: "clearError" }
  | { type: "addStepResult"; ok: boolean; message?: string }
  | { type: "archiveResult"; ok: boolean; message?: string }
  /**
   * The outcome of a write on a step. `stale`: someone else changed it first (nothing was saved;
   * `current` is the step now, the editor keeps the user's text). `text`: a deleted step's text.
   */
  | {
      type: "stepResult";
      op: StepOp;
      stepId: string;
      ok: boolean;
      message?: string;
      stale?: boolean;
      current?: Step;
      text?: string;
    }
  /** The outcome of a rename; `stale` as for a step, with the plan's current version and title. */
  | { type: "planResult"; ok: boolean; message?: string; stale?: boolean; version?: number; title?: string }
  /** Said to screen readers (aria-live), e.g. "Moved "Tag" to position 1 of 3". */
  | { type: "announce"; message: string };

/** Messages from the webview to the extension host. */
export type WebviewToHost =
  | { type: "ready" }
  | { type: "addStep"; text: string }
  | { type: "archive" }
  | { type: "reconnect" }
  | { type: "toggleStep"; stepId: string; done: boolean }
  /** `version`: the step's version when the edit began (a stale one is refused, nothing lost). */
  | { type: "editStep"; stepId: string; text: string; version: number }
  | { type: "moveStep"; stepId: string; direction: "up" | "down" }
  | { type: "deleteStep"; stepId: string }
  | { type: "restoreStep"; stepId: string }
  | { type: "renamePlan"; title: string; version: number };

export const MAX_STEP_LENGTH = 1000;
export const MAX_TITLE_LENGTH = 255;
/** How long the "Deleted … Undo" note stays. */
export const UNDO_MS = 15_000;

export function makeNonce(): string {
  return randomBytes(18).toString("base64").replace(/[+/=]/g, "");
}

export function escapeHtml(value: unknown): string {
  return String(value ?? "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** "3 of 5 done". */
export function progressText(done: number, total: number): string {
  return `${done} of ${total} done`;
}

/**
 * The first paint of a step (text, owner, time, done state); the script replaces it with the
 * working version (checkbox, Edit, Move, Delete) when the host sends the plan.
 */
function renderStep(step: Step): string {
  const owner = step.owner ? `<span class="owner">${escapeHtml(step.owner)}</span>` : "";
  const time = step.ts ? `<time datetime="${escapeHtml(step.ts)}">${escapeHtml(step.ts)}</time>` : "";
  const sep = owner && time ? '<span class="sep"> · </span>' : "";
  const doneBy = step.done
    ? `<span class="sep"> · </span><span class="done-by">${escapeHtml(step.done_by ? `done by ${step.done_by}` : "done")}</span>`
    : "";
  return (
    `<li class="step${step.done ? " done" : ""}" data-step-id="${escapeHtml(step.id)}">` +
    `<div class="body"><div class="text">${escapeHtml(step.text)}</div>` +
    `<div class="meta">${owner}${sep}${time}${doneBy}</div></div>` +
    `</li>`
  );
}

export function buildPanelHtml(input: PanelHtmlInput): string {
  const { nonce, cspSource, plan } = input;
  if (!/^[A-Za-z0-9+/=_-]{16,}$/.test(nonce)) {
    throw new Error("nonce must be at least 16 base64 characters");
  }
  const csp = [
    "default-src 'none'",
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `script-src 'nonce-${nonce}'`,
    `img-src ${cspSource} data:`,
    `font-src ${cspSource}`,
    "connect-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");
  const title = plan ? plan.title : "Loading plan…";
  const steps = plan ? plan.steps : [];
  const participants = plan ? plan.participants : [];
  const archived = plan ? plan.archived : false;
  // A viewer (DESIGN 12) reads everything and changes nothing: no write controls.
  const readOnly = plan ? plan.can_write === false : false;
  const done = steps.filter((step) => step.done).length;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${escapeHtml(title)}</title>
<style nonce="${nonce}">${STYLE}</style>
</head>
<body data-archived="${archived ? "true" : "false"}" data-read-only="${readOnly ? "true" : "false"}">
<header>
  <h1 id="plan-title" title="Double-click to rename">${escapeHtml(title)}</h1>
  <form id="rename-form" class="rename" autocomplete="off" hidden>
    <label for="rename-input" class="visually-hidden">Plan title</label>
    <input id="rename-input" type="text" maxlength="${MAX_TITLE_LENGTH}">
    <button id="rename-save" type="submit">Save</button>
    <button id="rename-cancel" type="button" class="secondary">Cancel</button>
  </form>
  <button id="rename-button" type="button" class="secondary small" aria-label="Rename plan"${archived ? " disabled" : ""}>Rename</button>
  <span id="progress" class="progress">${progressText(done, steps.length)}</span>
  <span id="archived-badge" class="badge"${archived ? "" : " hidden"}>Archived</span>
  <span id="connection" class="connection" data-state="connecting" role="status">Connecting…</span>
</header>
<p id="rename-note" class="note" role="alert" hidden></p>
<p id="connection-detail" class="connection-detail" role="status" hidden></p>
<p id="plan-description" class="description"${plan && plan.description ? "" : " hidden"}>${escapeHtml(plan ? plan.description : "")}</p>
<div id="error" class="error" role="alert" hidden></div>
<div id="announcer" class="visually-hidden" aria-live="polite" aria-atomic="true"></div>
<section id="presence" class="presence" aria-labelledby="presence-heading">
  <h2 id="presence-heading">Here now <span id="viewer-count" class="count" hidden></span></h2>
  <ul id="viewers" class="viewers" aria-label="Not known who is viewing" hidden></ul>
  <p id="viewers-unknown" class="empty">Not known while the panel is not live.</p>
</section>
<section aria-labelledby="participants-heading">
  <h2 id="participants-heading">Participants</h2>
  <ul id="participants" class="participants">${participants.map((p) => `<li>${escapeHtml(p)}</li>`).join("")}</ul>
  <p id="no-participants" class="empty"${participants.length ? " hidden" : ""}>No participants yet.</p>
</section>
<section aria-labelledby="steps-heading">
  <h2 id="steps-heading">Steps <span id="step-count" class="count">${steps.length}</span></h2>
  <ol id="steps" class="steps">${steps.map(renderStep).join("")}</ol>
  <p id="no-steps" class="empty"${steps.length ? " hidden" : ""}>No steps yet: add the first one below.</p>
</section>
<div id="toast" class="toast" hidden>
  <span id="toast-text" role="status"></span>
  <button id="undo-button" type="button" class="secondary small">Undo</button>
</div>
<p id="archived-note" class="archived-note"${archived ? "" : " hidden"}>This plan is archived in the memory graph; it takes no more steps.</p>
<form id="add-step-form" class="add-step" autocomplete="off">
  <label for="step-text" class="visually-hidden">New step</label>
  <textarea id="step-text" rows="2" maxlength="${MAX_STEP_LENGTH}" placeholder="Add a step… (Ctrl+Enter to add)"${archived ? " disabled" : ""}></textarea>
  <button id="add-step-button" type="submit"${archived ? " disabled" : ""}>Add Step</button>
</form>
<div class="actions">
  <button id="archive-button" type="button" class="secondary"${archived ? " disabled" : ""}>Archive</button>
  <button id="reconnect-button" type="button" class="secondary" hidden>Reconnect</button>
</div>
<script nonce="${nonce}">${WEBVIEW_SCRIPT}</script>
</body>
</html>`;
}

const STYLE = `
:root { color-scheme: light dark; }
body {
  color: var(--vscode-editor-foreground);
  background: var(--vscode-editor-background);
  font-family: var(--vscode-font-family);
  font-size: var(--vscode-font-size);
  padding: 0 16px 16px;
}
header { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; }
h1 { font-size: 1.4em; margin: 16px 0 8px; flex: 1 1 auto; overflow-wrap: anywhere; }
h2 { font-size: 1.05em; margin: 16px 0 6px; color: var(--vscode-descriptionForeground); }
.description { color: var(--vscode-descriptionForeground); white-space: pre-wrap; overflow-wrap: anywhere; }
.badge, .count {
  background: var(--vscode-badge-background);
  color: var(--vscode-badge-foreground);
  border-radius: 10px;
  padding: 1px 8px;
  font-size: 0.85em;
}
.connection { font-size: 0.85em; color: var(--vscode-descriptionForeground); }
.connection::before { content: "\\25CF\\00A0"; }
.connection[data-state="open"]::before { color: var(--vscode-charts-green, green); }
.connection[data-state="connecting"]::before,
.connection[data-state="reconnecting"]::before { color: var(--vscode-charts-yellow, orange); }
.connection[data-state="closed"]::before { color: var(--vscode-charts-red, red); }
.connection-detail {
  color: var(--vscode-editorWarning-foreground, var(--vscode-descriptionForeground));
  border-left: 3px solid var(--vscode-editorWarning-foreground, var(--vscode-charts-yellow, orange));
  padding: 2px 8px;
  margin: 4px 0 8px;
  overflow-wrap: anywhere;
}
.participants { list-style: none; padding: 0; margin: 0; display: flex; flex-wrap: wrap; gap: 6px; }
.participants li {
  border: 1px solid var(--vscode-panel-border, var(--vscode-widget-border, transparent));
  border-radius: 10px;
  padding: 1px 8px;
}
.viewers { list-style: none; padding: 0; margin: 0; display: flex; flex-wrap: wrap; gap: 6px; }
.viewer {
  display: inline-flex;
  align-items: center;
  gap: 5px;
  border: 1px solid var(--vscode-panel-border, var(--vscode-widget-border, transparent));
  border-radius: 12px;
  padding: 1px 8px 1px 1px;
  max-width: 100%;
}
.viewer .avatar {
  display: inline-flex;
  align-items: center;
  justify-content: center;
  flex: none;
  width: 1.6em;
  height: 1.6em;
  border-radius: 50%;
  background: var(--vscode-badge-background);
  color: var(--vscode-badge-foreground);
  font-size: 0.85em;
  font-weight: 600;
}
.viewer .viewer-name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.viewer.viewer-more { padding: 1px 8px; color: var(--vscode-descriptionForeground); }
.progress { font-size: 0.85em; color: var(--vscode-descriptionForeground); white-space: nowrap; }
.rename { display: flex; gap: 6px; flex: 1 1 auto; margin: 12px 0 6px; }
.rename input { flex: 1 1 auto; font-size: 1.2em; }
.note {
  color: var(--vscode-editorWarning-foreground, var(--vscode-descriptionForeground));
  border-left: 3px solid var(--vscode-editorWarning-foreground, var(--vscode-charts-yellow, orange));
  padding: 2px 8px;
  margin: 4px 0;
  white-space: pre-wrap;
}
.steps { padding-left: 0; margin: 0; list-style: none; counter-reset: step; }
.step::before {
  counter-increment: step;
  content: counter(step) ".";
  min-width: 1.6em;
  text-align: right;
  color: var(--vscode-descriptionForeground);
}
.step {
  padding: 6px 0;
  border-bottom: 1px solid var(--vscode-panel-border, transparent);
  display: flex;
  align-items: flex-start;
  gap: 8px;
}
.step .done-toggle { margin: 3px 0 0; flex: none; }
.step .body { flex: 1 1 auto; min-width: 0; }
.step .text { white-space: pre-wrap; overflow-wrap: anywhere; }
.step.done .text { text-decoration: line-through; color: var(--vscode-descriptionForeground); }
.step .step-actions { display: flex; gap: 4px; flex: none; }
.step .step-actions button { padding: 1px 6px; }
.step.editing .step-actions { visibility: hidden; }
.step .edit { display: flex; flex-direction: column; gap: 4px; margin-top: 2px; }
.step .edit .edit-buttons { display: flex; gap: 6px; }
button.small { padding: 2px 8px; font-size: 0.9em; }
.toast {
  display: flex;
  align-items: center;
  gap: 8px;
  margin-top: 12px;
  padding: 6px 8px;
  background: var(--vscode-editorWidget-background, transparent);
  border: 1px solid var(--vscode-editorWidget-border, var(--vscode-panel-border, transparent));
}
.step .meta { font-size: 0.85em; color: var(--vscode-descriptionForeground); margin-top: 2px; }
.step.new { animation: flash 1.2s ease-out; }
@keyframes flash { from { background: var(--vscode-editor-findMatchHighlightBackground, transparent); } to { background: transparent; } }
.empty { color: var(--vscode-descriptionForeground); font-style: italic; }
.error {
  color: var(--vscode-errorForeground);
  background: var(--vscode-inputValidation-errorBackground, transparent);
  border: 1px solid var(--vscode-inputValidation-errorBorder, var(--vscode-errorForeground));
  padding: 6px 8px;
  margin: 8px 0;
  white-space: pre-wrap;
}
.add-step { display: flex; gap: 8px; margin-top: 16px; align-items: flex-start; }
textarea, input[type="text"] {
  flex: 1 1 auto;
  resize: vertical;
  font-family: var(--vscode-font-family);
  font-size: var(--vscode-font-size);
  color: var(--vscode-input-foreground);
  background: var(--vscode-input-background);
  border: 1px solid var(--vscode-input-border, transparent);
  padding: 4px 6px;
}
textarea:focus, input:focus, button:focus { outline: 1px solid var(--vscode-focusBorder); outline-offset: -1px; }
button {
  color: var(--vscode-button-foreground);
  background: var(--vscode-button-background);
  border: none;
  padding: 5px 12px;
  cursor: pointer;
}
button:hover:not(:disabled) { background: var(--vscode-button-hoverBackground); }
button.secondary { color: var(--vscode-button-secondaryForeground); background: var(--vscode-button-secondaryBackground); }
button.secondary:hover:not(:disabled) { background: var(--vscode-button-secondaryHoverBackground); }
button:disabled, textarea:disabled, input:disabled { opacity: 0.5; cursor: default; }
.actions { display: flex; gap: 8px; margin-top: 16px; }
.archived-note { color: var(--vscode-descriptionForeground); margin-top: 16px; }
/* An archived plan is read-only and has no live stream: no add box, no Archive, no "Not live". */
body[data-archived="true"] .add-step,
body[data-archived="true"] #archive-button,
body[data-archived="true"] #rename-button,
body[data-archived="true"] .step-actions,
body[data-archived="true"] #toast,
body[data-archived="true"] #connection,
body[data-archived="true"] #connection-detail,
body[data-archived="true"] #presence { display: none; }
/* A viewer's panel: the plan, live, without the controls that change it. */
body[data-read-only="true"] .add-step,
body[data-read-only="true"] #archive-button,
body[data-read-only="true"] #rename-button,
body[data-read-only="true"] .step-actions { display: none; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
[hidden] { display: none !important; }
`;

/**
 * Runs inside the webview. Written as plain ES2017 in a string (it is not bundled with the host
 * code). It only ever puts data into the DOM with textContent / attributes, never innerHTML.
 */
export const WEBVIEW_SCRIPT = `
(function () {
  "use strict";
  var vscode = acquireVsCodeApi();
  var MAX = ${MAX_STEP_LENGTH};
  var MAX_TITLE = ${MAX_TITLE_LENGTH};
  var UNDO_MS = ${UNDO_MS};
  function byId(id) { return document.getElementById(id); }
  var titleEl = byId("plan-title");
  var renameForm = byId("rename-form");
  var renameInput = byId("rename-input");
  var renameSave = byId("rename-save");
  var renameCancel = byId("rename-cancel");
  var renameButton = byId("rename-button");
  var renameNote = byId("rename-note");
  var progressEl = byId("progress");
  var descriptionEl = byId("plan-description");
  var badgeEl = byId("archived-badge");
  var archivedNoteEl = byId("archived-note");
  var connectionEl = byId("connection");
  var connectionDetailEl = byId("connection-detail");
  var errorEl = byId("error");
  var announcerEl = byId("announcer");
  var participantsEl = byId("participants");
  var viewersEl = byId("viewers");
  var viewersUnknownEl = byId("viewers-unknown");
  var viewerCountEl = byId("viewer-count");
  var noParticipantsEl = byId("no-participants");
  var stepsEl = byId("steps");
  var noStepsEl = byId("no-steps");
  var countEl = byId("step-count");
  var formEl = byId("add-step-form");
  var inputEl = byId("step-text");
  var addButton = byId("add-step-button");
  var archiveButton = byId("archive-button");
  var reconnectButton = byId("reconnect-button");
  var toastEl = byId("toast");
  var toastTextEl = byId("toast-text");
  var undoButton = byId("undo-button");

  var archived = document.body.getAttribute("data-archived") === "true";
  var readOnly = document.body.getAttribute("data-read-only") === "true";
  var adding = false;
  var archiving = false;
  var planVersion = 1;
  var planTitle = titleEl.textContent || "";
  var renaming = false;
  var renameVersion = 1;
  var renameSaving = false;
  var undoStepId = null;
  var undoTimer = null;
  /** Step ids with a write on its way: their buttons wait for the answer. */
  var busy = new Set();
  /** A restored step to put the focus on when it is back in the list. */
  var focusOnArrival = null;
  var connectionState = "connecting";
  /** Who is here now, as the host last said (null: not known), and how many in all. */
  var viewers = null;
  var viewerCount = 0;

  function formatTime(ts) {
    if (!ts) { return ""; }
    var d = new Date(ts);
    if (isNaN(d.getTime())) { return String(ts); }
    return d.toLocaleString();
  }

  function text(value) { return String(value == null ? "" : value); }

  function stepItems() {
    return Array.prototype.filter.call(stepsEl.children, function (el) { return el.tagName === "LI"; });
  }

  function liById(id) {
    var items = stepItems();
    for (var i = 0; i < items.length; i++) {
      if (items[i].getAttribute("data-step-id") === id) { return items[i]; }
    }
    return null;
  }

  function part(li, cls) { return li.querySelector("." + cls); }

  function button(cls, label, aria) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "secondary small " + cls;
    b.textContent = label;
    if (aria) { b.setAttribute("aria-label", aria); }
    return b;
  }

  /** The working version of a step: checkbox, text (double-click to edit), meta, editor, buttons. */
  function stepElement(step) {
    var li = document.createElement("li");
    li.className = "step";
    li.setAttribute("data-step-id", text(step.id));
    li.setAttribute("data-live", "1");
    var box = document.createElement("input");
    box.type = "checkbox";
    box.className = "done-toggle";
    li.appendChild(box);
    var body = document.createElement("div");
    body.className = "body";
    var t = document.createElement("div");
    t.className = "text";
    body.appendChild(t);
    var meta = document.createElement("div");
    meta.className = "meta";
    body.appendChild(meta);
    var edit = document.createElement("form");
    edit.className = "edit";
    edit.hidden = true;
    edit.setAttribute("autocomplete", "off");
    var area = document.createElement("textarea");
    area.className = "edit-text";
    area.rows = 2;
    area.maxLength = MAX;
    area.setAttribute("aria-label", "Step text (Enter saves, Escape cancels)");
    edit.appendChild(area);
    var note = document.createElement("p");
    note.className = "note edit-note";
    note.setAttribute("role", "alert");
    note.hidden = true;
    edit.appendChild(note);
    var editButtons = document.createElement("div");
    editButtons.className = "edit-buttons";
    var save = document.createElement("button");
    save.type = "submit";
    save.className = "small save";
    save.textContent = "Save";
    editButtons.appendChild(save);
    editButtons.appendChild(button("cancel", "Cancel"));
    edit.appendChild(editButtons);
    body.appendChild(edit);
    li.appendChild(body);
    var actions = document.createElement("div");
    actions.className = "step-actions";
    actions.appendChild(button("edit-button", "Edit"));
    actions.appendChild(button("move-up", "\\u2191"));
    actions.appendChild(button("move-down", "\\u2193"));
    actions.appendChild(button("delete-button", "Delete"));
    li.appendChild(actions);
    updateStepElement(li, step);
    return li;
  }

  /** Show a step's current data in its element; an open editor keeps what the user typed. */
  function updateStepElement(li, step) {
    var label = text(step.text);
    li.setAttribute("data-version", text(step.version || 1));
    li.setAttribute("data-done", step.done ? "true" : "false");
    li.classList.toggle("done", !!step.done);
    part(li, "text").textContent = label;
    var box = part(li, "done-toggle");
    if (!busy.has(text(step.id))) { box.checked = !!step.done; } // a tick on its way shows what was asked
    box.setAttribute("aria-label", "Done: " + label);
    part(li, "edit-button").setAttribute("aria-label", "Edit step: " + label);
    part(li, "move-up").setAttribute("aria-label", "Move up: " + label);
    part(li, "move-down").setAttribute("aria-label", "Move down: " + label);
    part(li, "delete-button").setAttribute("aria-label", "Delete step: " + label);
    part(li, "move-up").title = "Move up";
    part(li, "move-down").title = "Move down";
    var meta = part(li, "meta");
    while (meta.firstChild) { meta.removeChild(meta.firstChild); }
    var bits = [];
    if (step.owner) {
      var owner = document.createElement("span");
      owner.className = "owner";
      owner.textContent = text(step.owner);
      bits.push(owner);
    }
    if (step.ts) {
      var time = document.createElement("time");
      time.setAttribute("datetime", text(step.ts));
      time.textContent = formatTime(step.ts);
      bits.push(time);
    }
    if (step.done) {
      var by = document.createElement("span");
      by.className = "done-by";
      by.textContent = step.done_by ? "done by " + text(step.done_by) : "done";
      if (step.done_at) { by.title = formatTime(step.done_at); }
      bits.push(by);
    }
    bits.forEach(function (el, i) {
      if (i > 0) {
        var sep = document.createElement("span");
        sep.className = "sep";
        sep.textContent = " \\u00b7 ";
        meta.appendChild(sep);
      }
      meta.appendChild(el);
    });
  }

  /**
   * Buttons that make no sense (first step up, last step down, an archived plan) are disabled. While
   * a step's write is on its way its controls are aria-disabled and ignore input, but keep the
   * keyboard focus (a disabled button would drop it).
   */
  function updateStepControls() {
    var items = stepItems();
    items.forEach(function (li, i) {
      if (li.getAttribute("data-live") !== "1") { return; }
      var wait = busy.has(li.getAttribute("data-step-id"));
      li.setAttribute("aria-busy", wait ? "true" : "false");
      ["done-toggle", "edit-button", "delete-button", "move-up", "move-down", "save"].forEach(function (cls) {
        var el = part(li, cls);
        if (wait) { el.setAttribute("aria-disabled", "true"); } else { el.removeAttribute("aria-disabled"); }
      });
      var locked = archived || readOnly;
      part(li, "done-toggle").disabled = locked;
      part(li, "edit-button").disabled = locked;
      part(li, "delete-button").disabled = locked;
      part(li, "move-up").disabled = locked || i === 0;
      part(li, "move-down").disabled = locked || i === items.length - 1;
      part(li, "save").disabled = locked;
    });
  }

  function updateCounts() {
    var items = stepItems();
    var done = items.filter(function (li) { return li.classList.contains("done"); }).length;
    countEl.textContent = String(items.length);
    progressEl.textContent = done + " of " + items.length + " done";
    noStepsEl.hidden = items.length > 0;
    noParticipantsEl.hidden = participantsEl.children.length > 0;
    updateStepControls();
  }

  function updateControls() {
    badgeEl.hidden = !archived;
    archivedNoteEl.hidden = !archived;
    inputEl.disabled = archived || readOnly;
    addButton.disabled = archived || readOnly || adding;
    archiveButton.disabled = archived || readOnly || archiving;
    renameButton.disabled = archived || readOnly;
    document.body.setAttribute("data-archived", archived ? "true" : "false");
    document.body.setAttribute("data-read-only", readOnly ? "true" : "false");
    if (archived) {
      stopRename();
      hideToast();
      stepItems().forEach(function (li) { if (li.classList.contains("editing")) { stopEdit(li); } });
    }
    updateStepControls();
  }

  function showError(message) {
    errorEl.textContent = message ? String(message) : "";
    errorEl.hidden = !message;
  }

  function announce(message) {
    // Cleared first, so that the same words said twice are announced twice.
    announcerEl.textContent = "";
    setTimeout(function () { announcerEl.textContent = String(message || ""); }, 30);
  }

  function addStep(step, highlight) {
    if (!step || step.id == null) { return false; }
    var id = text(step.id);
    if (id !== "" && liById(id)) { return false; }
    var li = stepElement(step);
    if (highlight) { li.classList.add("new"); }
    stepsEl.appendChild(li);
    updateCounts();
    return true;
  }

  /** Where the focus is, by step and control, to put it back after the list was reordered. */
  function focusedControl() {
    var el = document.activeElement;
    var li = el && el.closest ? el.closest("li.step") : null;
    if (!li || !stepsEl.contains(li)) { return null; }
    var cls = ["done-toggle", "edit-button", "move-up", "move-down", "delete-button", "edit-text", "save", "cancel"]
      .filter(function (c) { return el.classList.contains(c); })[0];
    return cls ? { id: li.getAttribute("data-step-id"), cls: cls, el: el } : null;
  }

  function restoreFocus(saved) {
    if (!saved || document.activeElement === saved.el) { return; }
    var li = liById(saved.id);
    if (!li) { return; }
    var order = [saved.cls, saved.cls === "move-up" ? "move-down" : "move-up", "done-toggle"];
    for (var i = 0; i < order.length; i++) {
      var el = part(li, order[i]);
      if (el && !el.disabled && !el.closest("[hidden]")) { el.focus(); return; }
    }
  }

  /**
   * The list as the host holds it: elements are kept by step id (an open editor, the focus and a
   * highlight survive), updated, put in order, and the ones no longer in the plan removed.
   */
  function renderSteps(steps, highlight) {
    var saved = focusedControl();
    var seen = new Set();
    var ref = stepsEl.firstChild;
    (steps || []).forEach(function (step) {
      if (!step || step.id == null) { return; }
      var id = text(step.id);
      if (seen.has(id)) { return; }
      seen.add(id);
      var li = liById(id);
      if (li && li.getAttribute("data-live") !== "1") {
        if (ref === li) { ref = li.nextSibling; }
        stepsEl.removeChild(li); // the first paint: replaced by the working version
        li = null;
      }
      if (li) {
        updateStepElement(li, step);
      } else {
        li = stepElement(step);
        if (highlight) { li.classList.add("new"); }
      }
      while (ref && ref !== li && ref.tagName !== "LI") { ref = ref.nextSibling; }
      if (li === ref) {
        ref = ref.nextSibling;
      } else {
        stepsEl.insertBefore(li, ref);
      }
    });
    stepItems().forEach(function (li) {
      if (!seen.has(li.getAttribute("data-step-id"))) {
        var hadFocus = li.contains(document.activeElement);
        busy.delete(li.getAttribute("data-step-id"));
        stepsEl.removeChild(li);
        // The user's own delete: the keyboard focus goes to its Undo rather than to nowhere.
        if (hadFocus && !toastEl.hidden && undoStepId === li.getAttribute("data-step-id")) { undoButton.focus(); }
      }
    });
    updateCounts();
    restoreFocus(saved);
    focusArrived();
  }

  function focusArrived() {
    var li = focusOnArrival ? liById(focusOnArrival) : null;
    if (!li) { return; }
    focusOnArrival = null;
    var el = document.activeElement;
    if (!el || el === document.body || el === undoButton) { part(li, "delete-button").focus(); }
  }

  function renderParticipants(names) {
    while (participantsEl.firstChild) { participantsEl.removeChild(participantsEl.firstChild); }
    (names || []).forEach(function (name) {
      var li = document.createElement("li");
      li.textContent = String(name);
      participantsEl.appendChild(li);
    });
    updateCounts();
  }

  /** The first letter of a name (a whole character, not half of one), for its avatar. */
  function initial(name) {
    var first = Array.from(text(name).trim())[0];
    return first ? first.toUpperCase() : "?";
  }

  function renderViewers() {
    while (viewersEl.firstChild) { viewersEl.removeChild(viewersEl.firstChild); }
    var known = Array.isArray(viewers);
    viewersEl.hidden = !known;
    viewerCountEl.hidden = !known;
    viewersUnknownEl.hidden = known && viewerCount > 0;
    if (!known) {
      viewerCountEl.textContent = "";
      viewersEl.setAttribute("aria-label", "Not known who is viewing");
      viewersUnknownEl.textContent = connectionState === "open"
        ? "Not known yet."
        : "Not known while the panel is not live.";
      return;
    }
    viewerCountEl.textContent = String(viewerCount);
    viewersUnknownEl.textContent = "No one.";
    viewersEl.setAttribute("aria-label", viewerCount + (viewerCount === 1 ? " person" : " people") + " viewing now");
    viewers.forEach(function (viewer) {
      var name = text(viewer.name) || text(viewer.username);
      var li = document.createElement("li");
      li.className = "viewer";
      li.title = viewer.username && viewer.username !== name ? name + " (" + text(viewer.username) + ")" : name;
      var avatar = document.createElement("span");
      avatar.className = "avatar";
      avatar.setAttribute("aria-hidden", "true");
      avatar.textContent = initial(name);
      li.appendChild(avatar);
      var label = document.createElement("span");
      label.className = "viewer-name";
      label.textContent = name;
      li.appendChild(label);
      viewersEl.appendChild(li);
    });
    var more = viewerCount - viewers.length;
    if (more > 0) {
      var li = document.createElement("li");
      li.className = "viewer viewer-more";
      li.textContent = "+" + more + " more";
      li.setAttribute("aria-label", "and " + more + " more");
      viewersEl.appendChild(li);
    }
  }

  var rendered = false;
  function renderPlan(plan) {
    planTitle = text(plan.title);
    titleEl.textContent = planTitle;
    document.title = planTitle;
    planVersion = plan.version || planVersion;
    descriptionEl.textContent = text(plan.description);
    descriptionEl.hidden = !plan.description;
    renderParticipants(plan.participants);
    renderSteps(plan.steps, rendered);
    rendered = true;
    archived = !!plan.archived;
    readOnly = plan.can_write === false;
    updateCounts();
    updateControls();
  }

  // Editing a step in place ---------------------------------------------------------------------

  function startEdit(li) {
    if (archived || readOnly || !li || li.classList.contains("editing") || li.getAttribute("data-live") !== "1") { return; }
    var area = part(li, "edit-text");
    li.classList.add("editing");
    li.setAttribute("data-edit-version", li.getAttribute("data-version") || "1");
    area.value = part(li, "text").textContent || "";
    part(li, "edit-note").hidden = true;
    part(li, "text").hidden = true;
    part(li, "edit").hidden = false;
    area.focus();
    area.select();
  }

  function stopEdit(li) {
    li.classList.remove("editing");
    li.removeAttribute("data-edit-version");
    part(li, "edit").hidden = true;
    part(li, "text").hidden = false;
    part(li, "edit-note").hidden = true;
  }

  function saveEdit(li) {
    var id = li.getAttribute("data-step-id");
    var value = part(li, "edit-text").value.trim();
    var note = part(li, "edit-note");
    if (!value) {
      note.textContent = "A step needs some text (Escape cancels).";
      note.hidden = false;
      return;
    }
    if (value.length > MAX) {
      note.textContent = "A step holds at most " + MAX + " characters (this one has " + value.length + ").";
      note.hidden = false;
      return;
    }
    if (value === part(li, "text").textContent && li.getAttribute("data-edit-version") === li.getAttribute("data-version")) {
      stopEdit(li);
      part(li, "edit-button").focus();
      return;
    }
    if (busy.has(id)) { return; }
    busy.add(id);
    updateStepControls();
    vscode.postMessage({
      type: "editStep",
      stepId: id,
      text: value,
      version: parseInt(li.getAttribute("data-edit-version") || "1", 10)
    });
  }

  // Renaming the plan ---------------------------------------------------------------------------

  function startRename() {
    if (archived || readOnly || renaming) { return; }
    renaming = true;
    renameVersion = planVersion;
    renameInput.value = planTitle;
    renameNote.hidden = true;
    titleEl.hidden = true;
    renameForm.hidden = false;
    renameButton.hidden = true;
    renameInput.focus();
    renameInput.select();
  }

  function stopRename() {
    renaming = false;
    renameSaving = false;
    renameSave.disabled = false;
    renameForm.hidden = true;
    titleEl.hidden = false;
    renameButton.hidden = false;
    renameNote.hidden = true;
  }

  function submitRename() {
    var value = renameInput.value.trim();
    if (renameSaving) { return; }
    if (!value) {
      renameNote.textContent = "A plan needs a title (Escape cancels).";
      renameNote.hidden = false;
      return;
    }
    if (value.length > MAX_TITLE) {
      renameNote.textContent = "A title holds at most " + MAX_TITLE + " characters.";
      renameNote.hidden = false;
      return;
    }
    if (value === planTitle && renameVersion === planVersion) {
      stopRename();
      renameButton.focus();
      return;
    }
    renameSaving = true;
    renameSave.disabled = true;
    vscode.postMessage({ type: "renamePlan", title: value, version: renameVersion });
  }

  // The "Deleted … Undo" note --------------------------------------------------------------------

  function showToast(stepId, label) {
    undoStepId = stepId;
    toastTextEl.textContent = "Deleted \\u201c" + label + "\\u201d.";
    undoButton.removeAttribute("aria-disabled");
    undoButton.setAttribute("aria-label", "Undo: restore \\u201c" + label + "\\u201d");
    toastEl.hidden = false;
    if (undoTimer) { clearTimeout(undoTimer); }
    undoTimer = setTimeout(hideToast, UNDO_MS);
  }

  function hideToast() {
    if (undoTimer) { clearTimeout(undoTimer); }
    undoTimer = null;
    undoStepId = null;
    toastEl.hidden = true;
  }

  // Events ---------------------------------------------------------------------------------------

  function submit() {
    var value = inputEl.value.trim();
    if (!value || archived || adding) { return; }
    if (value.length > MAX) {
      showError("A step holds at most " + MAX + " characters (this one has " + value.length + ").");
      return;
    }
    adding = true;
    updateControls();
    vscode.postMessage({ type: "addStep", text: value });
  }

  formEl.addEventListener("submit", function (event) {
    event.preventDefault();
    submit();
  });
  inputEl.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      submit();
    }
  });
  archiveButton.addEventListener("click", function () {
    if (archived || archiving) { return; }
    archiving = true;
    updateControls();
    vscode.postMessage({ type: "archive" });
  });
  reconnectButton.addEventListener("click", function () {
    vscode.postMessage({ type: "reconnect" });
  });

  renameButton.addEventListener("click", startRename);
  titleEl.addEventListener("dblclick", startRename);
  renameForm.addEventListener("submit", function (event) {
    event.preventDefault();
    submitRename();
  });
  renameCancel.addEventListener("click", function () {
    stopRename();
    renameButton.focus();
  });
  renameInput.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      event.preventDefault();
      stopRename();
      renameButton.focus();
    }
  });

  undoButton.addEventListener("click", function () {
    // aria-disabled while it is on its way, not disabled: a disabled button would drop the focus.
    if (!undoStepId || archived || undoButton.getAttribute("aria-disabled") === "true") { return; }
    undoButton.setAttribute("aria-disabled", "true");
    vscode.postMessage({ type: "restoreStep", stepId: undoStepId });
  });

  stepsEl.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.classList || !box.classList.contains("done-toggle")) { return; }
    var li = box.closest("li.step");
    var id = li.getAttribute("data-step-id");
    if (archived || busy.has(id)) {
      box.checked = !box.checked; // undo the click: the first one is still on its way
      return;
    }
    busy.add(id);
    updateStepControls();
    vscode.postMessage({ type: "toggleStep", stepId: id, done: !!box.checked });
  });

  stepsEl.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest("button") : null;
    if (!target || target.disabled) { return; }
    var li = target.closest("li.step");
    if (!li) { return; }
    var id = li.getAttribute("data-step-id");
    if (target.classList.contains("edit-button")) {
      startEdit(li);
    } else if (target.classList.contains("cancel")) {
      stopEdit(li);
      part(li, "edit-button").focus();
    } else if (target.classList.contains("move-up") || target.classList.contains("move-down")) {
      if (archived || busy.has(id)) { return; }
      busy.add(id);
      updateStepControls();
      vscode.postMessage({ type: "moveStep", stepId: id, direction: target.classList.contains("move-up") ? "up" : "down" });
    } else if (target.classList.contains("delete-button")) {
      if (archived || busy.has(id)) { return; }
      busy.add(id);
      updateStepControls();
      vscode.postMessage({ type: "deleteStep", stepId: id });
    }
  });

  stepsEl.addEventListener("dblclick", function (event) {
    var t = event.target.closest ? event.target.closest(".text") : null;
    if (t) { startEdit(t.closest("li.step")); }
  });

  stepsEl.addEventListener("submit", function (event) {
    event.preventDefault();
    var li = event.target.closest("li.step");
    if (li) { saveEdit(li); }
  });

  stepsEl.addEventListener("keydown", function (event) {
    var area = event.target;
    if (!area.classList || !area.classList.contains("edit-text")) { return; }
    var li = area.closest("li.step");
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      saveEdit(li);
    } else if (event.key === "Escape") {
      event.preventDefault();
      stopEdit(li);
      part(li, "edit-button").focus();
    }
  });

  function stepResult(msg) {
    var id = text(msg.stepId);
    busy.delete(id);
    var li = liById(id);
    if (msg.op === "edit" && li) {
      if (msg.ok) {
        var hadFocus = li.contains(document.activeElement);
        stopEdit(li);
        if (hadFocus) { part(li, "edit-button").focus(); }
      } else {
        // Nothing was saved: the editor stays open with the user's text.
        var note = part(li, "edit-note");
        if (msg.stale && msg.current) {
          li.setAttribute("data-edit-version", text(msg.current.version));
          note.textContent = text(msg.message) + " Their text: \\u201c" + text(msg.current.text) +
            "\\u201d. Yours is kept: Save again to replace theirs, or Cancel to keep it.";
        } else {
          note.textContent = text(msg.message || "The step was not saved.");
        }
        note.hidden = false;
      }
    } else if (msg.op === "delete" && msg.ok) {
      var focusHere = (li && li.contains(document.activeElement)) || document.activeElement === document.body;
      showToast(id, text(msg.text));
      if (focusHere) { undoButton.focus(); }
    } else if (msg.op === "restore") {
      if (msg.ok) {
        if (document.activeElement === undoButton || document.activeElement === document.body) { focusOnArrival = id; }
        hideToast();
        focusArrived();
        announce("Restored \\u201c" + text(li ? part(li, "text").textContent : "the step") + "\\u201d.");
      } else {
        undoButton.removeAttribute("aria-disabled");
      }
    }
    if (!msg.ok && msg.op !== "edit") {
      showError(msg.message || "The change was not saved.");
      if (li) {
        // A tick that failed shows what the step is, not what was clicked.
        part(li, "done-toggle").checked = li.getAttribute("data-done") === "true";
      }
    } else if (msg.ok) {
      showError("");
    }
    updateStepControls();
  }

  function planResult(msg) {
    renameSaving = false;
    renameSave.disabled = false;
    if (msg.ok) {
      showError("");
      var hadFocus = renameForm.contains(document.activeElement);
      stopRename();
      if (hadFocus) { renameButton.focus(); }
      return;
    }
    if (msg.stale && msg.version) {
      renameVersion = msg.version;
      renameNote.textContent = text(msg.message) + " Their title: \\u201c" + text(msg.title) +
        "\\u201d. Yours is kept: Save again to replace theirs, or Cancel to keep it.";
    } else {
      renameNote.textContent = text(msg.message || "The title was not saved.");
    }
    renameNote.hidden = false;
  }

  window.addEventListener("message", function (event) {
    var msg = event.data;
    if (!msg || typeof msg !== "object") { return; }
    switch (msg.type) {
      case "plan":
        if (msg.plan) { renderPlan(msg.plan); }
        break;
      case "step":
        addStep(msg.step, true);
        if (Array.isArray(msg.participants)) { renderParticipants(msg.participants); }
        break;
      case "archived":
        archived = true;
        updateControls();
        setConnection("closed", "The plan is archived.");
        reconnectButton.hidden = true;
        break;
      case "connection":
        setConnection(msg.state, msg.message);
        break;
      case "presence":
        viewers = Array.isArray(msg.viewers) ? msg.viewers.filter(function (v) { return v && typeof v === "object"; }) : null;
        viewerCount = viewers ? Math.max(Number(msg.count) || 0, viewers.length) : 0;
        renderViewers();
        break;
      case "error":
        showError(msg.message);
        break;
      case "clearError":
        showError("");
        break;
      case "addStepResult":
        adding = false;
        if (msg.ok) {
          inputEl.value = "";
          showError("");
        } else {
          showError(msg.message || "The step was not added.");
        }
        updateControls();
        break;
      case "archiveResult":
        archiving = false;
        if (!msg.ok && msg.message) { showError(msg.message); }
        updateControls();
        break;
      case "stepResult":
        stepResult(msg);
        break;
      case "planResult":
        planResult(msg);
        break;
      case "announce":
        announce(msg.message);
        break;
    }
  });

  var CONNECTION_LABELS = {
    connecting: "Connecting…",
    open: "Live",
    reconnecting: "Reconnecting…",
    closed: "Not live"
  };

  function setConnection(state, message) {
    connectionState = state;
    if (!Array.isArray(viewers)) { renderViewers(); }
    connectionEl.setAttribute("data-state", state);
    connectionEl.textContent = CONNECTION_LABELS[state] || String(state);
    connectionEl.title = message ? String(message) : "";
    // While it retries, say why in the panel itself (a refusal, "closed", shows in the error box).
    connectionDetailEl.textContent = state === "reconnecting" && message ? String(message) : "";
    connectionDetailEl.hidden = !(state === "reconnecting" && message);
    reconnectButton.hidden = state !== "closed" || archived;
  }

  Array.prototype.forEach.call(document.querySelectorAll("time[datetime]"), function (el) {
    el.textContent = formatTime(el.getAttribute("datetime"));
  });
  updateCounts();
  updateControls();
  vscode.postMessage({ type: "ready" });
})();
`;

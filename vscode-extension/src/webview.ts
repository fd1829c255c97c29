/**
 * The plan panel's HTML. Pure: given a nonce, the webview's CSP source and the plan, returns the
 * document. The first paint is rendered here (every text escaped); after that the inline script
 * renders what the extension host posts (plan, step, archived, connection state) with textContent.
 * The webview never sees the API token and makes no network requests (connect-src 'none').
 */
import { randomBytes } from "node:crypto";
import type { Plan, Step } from "./api";

export interface PanelHtmlInput {
  nonce: string;
  /** `webview.cspSource` */
  cspSource: string;
  /** The plan as first rendered; undefined renders a loading state. */
  plan?: Plan;
}

/** Messages from the extension host to the webview. */
export type HostToWebview =
  | { type: "plan"; plan: Plan }
  /** `participants`: the plan's participants after this step, as the server's event says. */
  | { type: "step"; step: Step; participants?: string[] }
  | { type: "archived"; memoryNodeId?: string }
  | { type: "connection"; state: "connecting" | "open" | "reconnecting" | "closed"; message?: string }
  | { type: "error"; message: string }
  | { type: "clearError" }
  | { type: "addStepResult"; ok: boolean; message?: string }
  | { type: "archiveResult"; ok: boolean; message?: string };

/** Messages from the webview to the extension host. */
export type WebviewToHost =
  | { type: "ready" }
  | { type: "addStep"; text: string }
  | { type: "archive" }
  | { type: "reconnect" };

export const MAX_STEP_LENGTH = 1000;

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

function renderStep(step: Step): string {
  const owner = step.owner ? `<span class="owner">${escapeHtml(step.owner)}</span>` : "";
  const time = step.ts ? `<time datetime="${escapeHtml(step.ts)}">${escapeHtml(step.ts)}</time>` : "";
  const sep = owner && time ? '<span class="sep"> · </span>' : "";
  return (
    `<li class="step" data-step-id="${escapeHtml(step.id)}">` +
    `<div class="text">${escapeHtml(step.text)}</div>` +
    `<div class="meta">${owner}${sep}${time}</div>` +
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
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${escapeHtml(title)}</title>
<style nonce="${nonce}">${STYLE}</style>
</head>
<body data-archived="${archived ? "true" : "false"}">
<header>
  <h1 id="plan-title">${escapeHtml(title)}</h1>
  <span id="archived-badge" class="badge"${archived ? "" : " hidden"}>Archived</span>
  <span id="connection" class="connection" data-state="connecting" role="status">Connecting…</span>
</header>
<p id="connection-detail" class="connection-detail" role="status" hidden></p>
<p id="plan-description" class="description"${plan && plan.description ? "" : " hidden"}>${escapeHtml(plan ? plan.description : "")}</p>
<div id="error" class="error" role="alert" hidden></div>
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
.steps { padding-left: 1.6em; margin: 0; }
.step { padding: 6px 0; border-bottom: 1px solid var(--vscode-panel-border, transparent); }
.step .text { white-space: pre-wrap; overflow-wrap: anywhere; }
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
textarea {
  flex: 1 1 auto;
  resize: vertical;
  font-family: var(--vscode-font-family);
  font-size: var(--vscode-font-size);
  color: var(--vscode-input-foreground);
  background: var(--vscode-input-background);
  border: 1px solid var(--vscode-input-border, transparent);
  padding: 4px 6px;
}
textarea:focus, button:focus { outline: 1px solid var(--vscode-focusBorder); outline-offset: -1px; }
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
button:disabled, textarea:disabled { opacity: 0.5; cursor: default; }
.actions { display: flex; gap: 8px; margin-top: 16px; }
.archived-note { color: var(--vscode-descriptionForeground); margin-top: 16px; }
/* An archived plan is read-only and has no live stream: no add box, no Archive, no "Not live". */
body[data-archived="true"] .add-step,
body[data-archived="true"] #archive-button,
body[data-archived="true"] #connection,
body[data-archived="true"] #connection-detail { display: none; }
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
  function byId(id) { return document.getElementById(id); }
  var titleEl = byId("plan-title");
  var descriptionEl = byId("plan-description");
  var badgeEl = byId("archived-badge");
  var archivedNoteEl = byId("archived-note");
  var connectionEl = byId("connection");
  var connectionDetailEl = byId("connection-detail");
  var errorEl = byId("error");
  var participantsEl = byId("participants");
  var noParticipantsEl = byId("no-participants");
  var stepsEl = byId("steps");
  var noStepsEl = byId("no-steps");
  var countEl = byId("step-count");
  var formEl = byId("add-step-form");
  var inputEl = byId("step-text");
  var addButton = byId("add-step-button");
  var archiveButton = byId("archive-button");
  var reconnectButton = byId("reconnect-button");

  var stepIds = new Set();
  var archived = document.body.getAttribute("data-archived") === "true";
  var adding = false;
  var archiving = false;

  Array.prototype.forEach.call(stepsEl.querySelectorAll("li[data-step-id]"), function (li) {
    stepIds.add(li.getAttribute("data-step-id"));
  });

  function formatTime(ts) {
    if (!ts) { return ""; }
    var d = new Date(ts);
    if (isNaN(d.getTime())) { return String(ts); }
    return d.toLocaleString();
  }

  function stepElement(step) {
    var li = document.createElement("li");
    li.className = "step";
    li.setAttribute("data-step-id", String(step.id));
    var text = document.createElement("div");
    text.className = "text";
    text.textContent = String(step.text == null ? "" : step.text);
    li.appendChild(text);
    var meta = document.createElement("div");
    meta.className = "meta";
    if (step.owner) {
      var owner = document.createElement("span");
      owner.className = "owner";
      owner.textContent = String(step.owner);
      meta.appendChild(owner);
    }
    if (step.owner && step.ts) {
      var sep = document.createElement("span");
      sep.className = "sep";
      sep.textContent = " \\u00b7 ";
      meta.appendChild(sep);
    }
    if (step.ts) {
      var time = document.createElement("time");
      time.setAttribute("datetime", String(step.ts));
      time.textContent = formatTime(step.ts);
      meta.appendChild(time);
    }
    li.appendChild(meta);
    return li;
  }

  function updateCounts() {
    countEl.textContent = String(stepsEl.children.length);
    noStepsEl.hidden = stepsEl.children.length > 0;
    noParticipantsEl.hidden = participantsEl.children.length > 0;
  }

  function updateControls() {
    badgeEl.hidden = !archived;
    archivedNoteEl.hidden = !archived;
    inputEl.disabled = archived;
    addButton.disabled = archived || adding;
    archiveButton.disabled = archived || archiving;
    document.body.setAttribute("data-archived", archived ? "true" : "false");
  }

  function showError(message) {
    errorEl.textContent = message ? String(message) : "";
    errorEl.hidden = !message;
  }

  function addStep(step, highlight) {
    if (!step || step.id == null) { return false; }
    var id = String(step.id);
    if (id !== "" && stepIds.has(id)) { return false; }
    if (id !== "") { stepIds.add(id); }
    var li = stepElement(step);
    if (highlight) { li.classList.add("new"); }
    stepsEl.appendChild(li);
    updateCounts();
    return true;
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

  function renderPlan(plan) {
    titleEl.textContent = String(plan.title || "");
    document.title = String(plan.title || "");
    descriptionEl.textContent = String(plan.description || "");
    descriptionEl.hidden = !plan.description;
    renderParticipants(plan.participants);
    while (stepsEl.firstChild) { stepsEl.removeChild(stepsEl.firstChild); }
    stepIds.clear();
    (plan.steps || []).forEach(function (step) { addStep(step, false); });
    archived = !!plan.archived;
    updateCounts();
    updateControls();
  }

  var CONNECTION_LABELS = {
    connecting: "Connecting…",
    open: "Live",
    reconnecting: "Reconnecting…",
    closed: "Not live"
  };

  function setConnection(state, message) {
    connectionEl.setAttribute("data-state", state);
    connectionEl.textContent = CONNECTION_LABELS[state] || String(state);
    connectionEl.title = message ? String(message) : "";
    // While it retries, say why in the panel itself (a refusal, "closed", shows in the error box).
    connectionDetailEl.textContent = state === "reconnecting" && message ? String(message) : "";
    connectionDetailEl.hidden = !(state === "reconnecting" && message);
    reconnectButton.hidden = state !== "closed" || archived;
  }

  function submit() {
    var text = inputEl.value.trim();
    if (!text || archived || adding) { return; }
    if (text.length > MAX) {
      showError("A step holds at most " + MAX + " characters (this one has " + text.length + ").");
      return;
    }
    adding = true;
    updateControls();
    vscode.postMessage({ type: "addStep", text: text });
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
    }
  });

  Array.prototype.forEach.call(document.querySelectorAll("time[datetime]"), function (el) {
    el.textContent = formatTime(el.getAttribute("datetime"));
  });
  updateCounts();
  updateControls();
  vscode.postMessage({ type: "ready" });
})();
`;

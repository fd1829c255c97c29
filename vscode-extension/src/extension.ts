/**
 * Wiring to VS Code only: commands, settings, SecretStorage, the webview panel and the stream's
 * lifecycle. The logic lives in api.ts, sse.ts, planState.ts and webview.ts (no vscode import there).
 */
import * as vscode from "vscode";
import { ApiClient, ApiError, toApiError, type ErrorContext, type Plan, type Step } from "./api";
import { interpretStreamEvent, PlanState, positionAfter, PresenceState, type PlanChange } from "./planState";
import { SseClient, type SseClientState } from "./sse";
import {
  buildPanelHtml,
  makeNonce,
  MAX_STEP_LENGTH,
  type HostToWebview,
  type StepOp,
  type WebviewToHost,
} from "./webview";

const TOKEN_KEY = "aep.apiToken";
const CREATE_NEW = "create-new";

let controller: PlanController | undefined;

export function activate(context: vscode.ExtensionContext): void {
  controller = new PlanController(context);
  const c = controller;
  context.subscriptions.push(
    c,
    vscode.commands.registerCommand("aep.openPlanPanel", () => c.openPlanPanel()),
    vscode.commands.registerCommand("aep.setApiToken", () => c.setApiToken()),
    vscode.commands.registerCommand("aep.addSelectionAsStep", () => c.addSelectionAsStep()),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration("aep.serverUrl") || e.affectsConfiguration("aep.orgId")) {
        c.credentialsChanged();
      }
    }),
    context.secrets.onDidChange((e) => {
      if (e.key === TOKEN_KEY) {
        c.credentialsChanged();
      }
    }),
  );
}

export function deactivate(): void {
  controller?.dispose();
  controller = undefined;
}

class PlanController implements vscode.Disposable {
  private panel: PlanPanel | undefined;

  constructor(private readonly context: vscode.ExtensionContext) {}

  dispose(): void {
    this.panel?.dispose();
    this.panel = undefined;
  }

  /** A client from the current settings and token; throws ApiError (no token, no org, bad URL). */
  async client(): Promise<ApiClient> {
    const config = vscode.workspace.getConfiguration("aep");
    const token = (await this.context.secrets.get(TOKEN_KEY)) ?? "";
    return new ApiClient({
      serverUrl: config.get<string>("serverUrl", "http://localhost:8000"),
      orgId: config.get<string>("orgId", ""),
      token,
    });
  }

  async setApiToken(): Promise<void> {
    const server = vscode.workspace.getConfiguration("aep").get<string>("serverUrl", "http://localhost:8000");
    const value = await vscode.window.showInputBox({
      title: "AEP: Set API Token",
      prompt: `Paste your AEP API token (make one at ${server.replace(/\/+$/, "")}/settings/tokens). Leave empty to remove the stored token.`,
      password: true,
      ignoreFocusOut: true,
    });
    if (value === undefined) {
      return;
    }
    const token = value.trim().replace(/^(Token|Bearer)\s+/i, "");
    if (token === "") {
      await this.context.secrets.delete(TOKEN_KEY);
      void vscode.window.showInformationMessage("AEP API token removed.");
      return;
    }
    await this.context.secrets.store(TOKEN_KEY, token);
    void vscode.window.showInformationMessage("AEP API token saved in VS Code's secret storage.");
  }

  async openPlanPanel(): Promise<void> {
    try {
      const client = await this.client();
      const planId = await this.pickPlan(client, "Open which plan?");
      if (planId) {
        await this.showPlan(client, planId);
      }
    } catch (error) {
      await showError(error);
    }
  }

  async addSelectionAsStep(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      void vscode.window.showInformationMessage("Select some text in an editor first.");
      return;
    }
    let text = editor.selections
      .filter((s) => !s.isEmpty)
      .map((s) => editor.document.getText(s))
      .join("\n")
      .trim();
    if (text === "") {
      void vscode.window.showInformationMessage("Select some text in an editor first.");
      return;
    }
    if (text.length > MAX_STEP_LENGTH) {
      const choice = await vscode.window.showWarningMessage(
        `The selection has ${text.length} characters; a step holds at most ${MAX_STEP_LENGTH}.`,
        { modal: true },
        `Add the first ${MAX_STEP_LENGTH}`,
      );
      if (!choice) {
        return;
      }
      text = text.slice(0, MAX_STEP_LENGTH);
    }
    try {
      const client = await this.client();
      let planId = this.panel && !this.panel.archived ? this.panel.planId : undefined;
      if (!planId) {
        planId = await this.pickPlan(client, "Add the selection as a step to which plan?");
        if (!planId) {
          return;
        }
        await this.showPlan(client, planId);
      }
      const step = await client.addStep({ planId, text });
      this.panel?.stepAdded(planId, step);
      const title = this.panel?.planId === planId ? this.panel.title : "the plan";
      void vscode.window.showInformationMessage(`Step added to "${title}".`);
    } catch (error) {
      await showError(error);
    }
  }

  /** Reconnect the open panel with the new settings or token. */
  credentialsChanged(): void {
    void this.panel?.restart();
  }

  private async showPlan(client: ApiClient, planId: string): Promise<void> {
    const plan = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: "AEP: loading plan" },
      () => client.getPlan(planId),
    );
    if (this.panel) {
      this.panel.reveal();
      await this.panel.load(plan);
      return;
    }
    const panel = new PlanPanel(this, plan);
    panel.onDidDispose(() => {
      if (this.panel === panel) {
        this.panel = undefined;
      }
    });
    this.panel = panel;
    await panel.load(plan);
  }

  /** QuickPick of active plans plus "+ Create new plan". Returns the plan id, or undefined if cancelled. */
  private async pickPlan(client: ApiClient, placeHolder: string): Promise<string | undefined> {
    const list = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: "AEP: loading plans" },
      () => client.listPlans({ archived: false, limit: 200 }),
    );
    type Item = vscode.QuickPickItem & { planId: string };
    const items: Item[] = [
      { label: "+ Create new plan", planId: CREATE_NEW, alwaysShow: true },
      ...list.plans.map((plan) => ({
        label: plan.title,
        description:
          `${plan.steps.length} step${plan.steps.length === 1 ? "" : "s"} · ` +
          `${plan.participants.length} participant${plan.participants.length === 1 ? "" : "s"} · ` +
          `${plan.progress.done} of ${plan.progress.total} done`,
        detail: plan.description || undefined,
        planId: plan.id,
      })),
    ];
    const picked = await vscode.window.showQuickPick(items, {
      title: `AEP plans (org ${client.config.orgId})`,
      placeHolder: list.plans.length ? placeHolder : "No active plans yet: create one",
      matchOnDescription: true,
      matchOnDetail: true,
    });
    if (!picked) {
      return undefined;
    }
    if (picked.planId !== CREATE_NEW) {
      return picked.planId;
    }
    const title = await vscode.window.showInputBox({
      title: "New plan",
      prompt: "Title of the new plan",
      ignoreFocusOut: true,
      validateInput: (value) => {
        if (value.trim() === "") {
          return "A title is required.";
        }
        return value.trim().length > 255 ? "At most 255 characters." : undefined;
      },
    });
    if (title === undefined) {
      return undefined;
    }
    return client.startPlan({ title: title.trim() });
  }
}

class PlanPanel {
  private readonly panel: vscode.WebviewPanel;
  private state: PlanState;
  private client: ApiClient | undefined;
  private stream: SseClient | undefined;
  private connection: { state: SseClientState; message?: string } = { state: "connecting" };
  private readonly disposables: vscode.Disposable[] = [];
  private readonly disposeListeners: Array<() => void> = [];
  private disposed = false;
  /** Bumped on each load/restart, so late results of an older stream are dropped. */
  private generation = 0;
  /**
   * The stream position the shown state is at: the GET's `last_event_id`, then the id of each event
   * applied. A (re)started stream resumes from it, so every event after the read is applied once.
   */
  private position = "";
  /** Steps this panel asked to move whose event has not arrived yet: announced when it does. */
  private readonly pendingMoves = new Set<string>();
  /** Who is viewing the plan (the stream's `presence` events); unknown while the stream is not open. */
  private presence = new PresenceState();

  constructor(
    private readonly controller: PlanController,
    plan: Plan,
  ) {
    this.state = new PlanState(plan);
    this.panel = vscode.window.createWebviewPanel(
      "aepPlan",
      plan.title || "AEP Plan",
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: false },
      { enableScripts: true, enableCommandUris: false, localResourceRoots: [] },
    );
    this.disposables.push(
      this.panel.onDidDispose(() => this.dispose()),
      this.panel.webview.onDidReceiveMessage((msg: WebviewToHost) => this.onMessage(msg)),
    );
  }

  get planId(): string {
    return this.state.id;
  }

  get title(): string {
    return this.state.plan.title;
  }

  get archived(): boolean {
    return this.state.plan.archived;
  }

  onDidDispose(listener: () => void): void {
    this.disposeListeners.push(listener);
  }

  reveal(): void {
    this.panel.reveal(vscode.ViewColumn.Beside);
  }

  /** Show a plan (the first one or another one picked later) and (re)open its stream. */
  async load(plan: Plan): Promise<void> {
    this.state = new PlanState(plan);
    this.position = plan.last_event_id;
    this.pendingMoves.clear();
    this.presence = new PresenceState();
    this.postPresence();
    this.panel.title = plan.title || "AEP Plan";
    // Without retainContextWhenHidden the webview reloads when shown again: it then sends "ready"
    // and gets the current state, so the HTML only needs a first paint.
    this.panel.webview.html = buildPanelHtml({
      nonce: makeNonce(),
      cspSource: this.panel.webview.cspSource,
      plan,
    });
    await this.restart();
  }

  /** (Re)connect the stream with the current settings and token. */
  async restart(): Promise<void> {
    const generation = ++this.generation;
    await this.stopStream();
    if (this.disposed || generation !== this.generation) {
      return;
    }
    try {
      this.client = await this.controller.client();
    } catch (error) {
      const message = toApiError(error, errorContext(undefined, this.state.id)).message;
      this.setConnection("closed", message);
      this.post({ type: "error", message });
      await showError(error);
      return;
    }
    if (this.state.plan.archived) {
      this.setConnection("closed", "The plan is archived.");
      return;
    }
    const client = this.client;
    const planId = this.state.id;
    const ctx = client.errorContext(planId);
    // Without a position (a server that does not give one) the plan is read again once the stream
    // is open: what was written before is in that copy, what comes after arrives on the stream
    // (a reconnect then resumes from the stream's own last id).
    const readOnOpen = this.position === "";
    const stream = new SseClient({
      connect: client.streamConnect(planId),
      lastEventId: this.position || undefined,
      onStateChange: (state) => {
        // "reconnecting" and "closed" always follow an onError, which sets them with the reason.
        if (generation === this.generation && (state === "connecting" || state === "open")) {
          this.setConnection(state);
        }
      },
      onOpen: ({ reconnect }) => {
        if (generation !== this.generation) {
          return;
        }
        this.post({ type: "clearError" });
        if (readOnOpen && !reconnect) {
          void this.refresh(generation);
        }
      },
      onEvent: (event) => {
        if (generation === this.generation) {
          this.onStreamEvent(event);
        }
      },
      onError: (error, info) => {
        if (generation !== this.generation) {
          return;
        }
        const apiError = toApiError(error, ctx);
        if (info.willRetry) {
          const seconds = Math.max(1, Math.round((info.delayMs ?? 0) / 1000));
          this.setConnection("reconnecting", `${apiError.message} Retrying in ${seconds} s.`);
        } else {
          this.setConnection("closed", apiError.message);
          this.post({ type: "error", message: apiError.message });
          void showError(apiError);
        }
      },
    });
    this.stream = stream;
    stream.start();
  }

  stepAdded(planId: string, step: Step): void {
    if (planId === this.state.id && this.state.addStep(step)) {
      this.post({ type: "step", step });
    }
  }

  dispose(): void {
    if (this.disposed) {
      return;
    }
    this.disposed = true;
    this.generation++;
    void this.stopStream();
    this.panel.dispose();
    this.disposables.forEach((d) => d.dispose());
    this.disposeListeners.forEach((l) => l());
  }

  private async stopStream(): Promise<void> {
    const stream = this.stream;
    this.stream = undefined;
    await stream?.stop();
  }

  /** Read the plan again (no position known). Returns false when it could not. */
  private async refresh(generation: number): Promise<boolean> {
    if (!this.client) {
      return false;
    }
    try {
      const plan = await this.client.getPlan(this.state.id);
      if (generation !== this.generation || plan.id !== this.state.id) {
        return false;
      }
      this.state.replace(plan);
      if (plan.last_event_id) {
        this.position = plan.last_event_id;
      }
      this.panel.title = plan.title || "AEP Plan";
      this.post({ type: "plan", plan: this.state.plan });
      if (this.state.plan.archived) {
        this.setConnection("closed", "The plan is archived.");
        void this.stopStream();
      }
      return true;
    } catch (error) {
      this.post({ type: "error", message: toApiError(error, this.client.errorContext(this.state.id)).message });
      return false;
    }
  }

  /**
   * The stream could not replay what was missed: stop it, read the plan (and its position) again,
   * and go on from there. The events between the reset and the new read are in that copy.
   */
  private async reload(): Promise<void> {
    const generation = ++this.generation;
    await this.stopStream();
    if (this.disposed || generation !== this.generation) {
      return;
    }
    this.position = "";
    if (await this.refresh(generation)) {
      await this.restart();
    } else {
      this.setConnection("closed", "The plan could not be read again; press Reconnect.");
    }
  }

  private onStreamEvent(event: { type: string; data: string; lastEventId: string }): void {
    const message = interpretStreamEvent(event);
    if ("planId" in message && message.planId && message.planId !== this.state.id) {
      return;
    }
    this.position = positionAfter(this.position, event, message);
    switch (message.kind) {
      case "presence":
        if (this.presence.set(message)) {
          this.postPresence();
        }
        break;
      case "step":
        {
          // The step's event carries the participants after it (the server decides who joins).
          const shown = this.state.step(message.step.id) !== undefined;
          if (this.state.apply(message)) {
            if (shown) {
              this.post({ type: "plan", plan: this.state.plan });
            } else {
              this.post({ type: "step", step: message.step, participants: this.state.plan.participants });
            }
          }
        }
        break;
      case "step_updated":
      case "step_deleted":
      case "step_restored":
        this.applyChange(message);
        break;
      case "step_moved":
        this.applyChange(message);
        if (this.pendingMoves.delete(message.stepId)) {
          const step = this.state.step(message.stepId);
          if (step) {
            this.post({
              type: "announce",
              message: `Moved "${step.text}" to position ${this.state.position(step.id)} of ${this.state.plan.steps.length}`,
            });
          }
        }
        break;
      case "plan_updated":
        if (this.applyChange(message)) {
          this.panel.title = this.state.plan.title || "AEP Plan";
        }
        break;
      case "archived":
        if (this.state.markArchived()) {
          this.post({ type: "archived", memoryNodeId: message.memoryNodeId });
        }
        this.setConnection("closed", "The plan is archived.");
        void this.stopStream();
        break;
      case "reset":
        void this.reload();
        break;
      default:
        break;
    }
  }

  private async onMessage(msg: WebviewToHost): Promise<void> {
    if (!msg || typeof msg !== "object") {
      return;
    }
    switch (msg.type) {
      case "ready":
        this.post({ type: "plan", plan: this.state.plan });
        this.post({ type: "connection", ...this.connection });
        this.postPresence();
        if (this.state.plan.archived) {
          this.post({ type: "archived" });
        }
        break;
      case "addStep":
        await this.addStep(String(msg.text ?? ""));
        break;
      case "archive":
        await this.archive();
        break;
      case "reconnect":
        await this.restart();
        break;
      case "toggleStep":
        await this.writeStep("toggle", String(msg.stepId ?? ""), (client, planId, stepId) =>
          client.updateStep({ planId, stepId, done: msg.done === true }).then((step) => this.stepChanged(step)),
        );
        break;
      case "editStep":
        await this.editStep(String(msg.stepId ?? ""), String(msg.text ?? ""), Number(msg.version));
        break;
      case "moveStep":
        await this.moveStep(String(msg.stepId ?? ""), msg.direction === "up" ? "up" : "down");
        break;
      case "deleteStep":
        {
          const text = this.state.step(String(msg.stepId ?? ""))?.text ?? "";
          // The step leaves the list when its event arrives (in the order the server wrote it).
          await this.writeStep("delete", String(msg.stepId ?? ""), (client, planId, stepId) =>
            client.deleteStep({ planId, stepId }).then(() => undefined),
            { text },
          );
        }
        break;
      case "restoreStep":
        await this.writeStep("restore", String(msg.stepId ?? ""), (client, planId, stepId) =>
          client.restoreStep({ planId, stepId }).then(() => undefined),
        );
        break;
      case "renamePlan":
        await this.renamePlan(String(msg.title ?? ""), Number(msg.version));
        break;
    }
  }

  /** Apply a stream change; re-render when it changed what is shown. */
  private applyChange(message: PlanChange): boolean {
    if (!this.state.apply(message)) {
      return false;
    }
    this.post({ type: "plan", plan: this.state.plan });
    return true;
  }

  /** The API's answer to the panel's own edit or tick: shown at once (its event changes nothing more). */
  private stepChanged(step: Step): void {
    if (this.state.updateStep(step)) {
      this.post({ type: "plan", plan: this.state.plan });
    }
  }

  /**
   * One write of a step, with its outcome posted to the webview as a `stepResult`. An archived plan
   * shows as archived; an error the user can fix (token, settings) also gets a notification.
   */
  private async writeStep(
    op: StepOp,
    stepId: string,
    write: (client: ApiClient, planId: string, stepId: string) => Promise<void>,
    extra: { text?: string } = {},
  ): Promise<ApiError | undefined> {
    const planId = this.state.id;
    let client: ApiClient | undefined;
    try {
      client = await this.controller.client();
      await write(client, planId, stepId);
      this.post({ type: "stepResult", op, stepId, ok: true, ...extra });
      return undefined;
    } catch (error) {
      const apiError = toApiError(error, errorContext(client, planId, stepId));
      if (apiError.stale && apiError.conflict?.step) {
        // Show the step as it is now; the webview keeps the user's text in its editor.
        this.stepChanged(apiError.conflict.step);
      }
      this.post({
        type: "stepResult",
        op,
        stepId,
        ok: false,
        message: apiError.message,
        ...(apiError.stale && apiError.conflict?.step ? { stale: true, current: apiError.conflict.step } : {}),
      });
      this.failed(apiError);
      return apiError;
    }
  }

  private async editStep(stepId: string, text: string, version: number): Promise<void> {
    const trimmed = text.trim();
    await this.writeStep("edit", stepId, (client, planId, id) =>
      client
        .updateStep({ planId, stepId: id, text: trimmed, ...(Number.isInteger(version) && version >= 1 ? { version } : {}) })
        .then((step) => this.stepChanged(step)),
    );
  }

  private async moveStep(stepId: string, direction: "up" | "down"): Promise<void> {
    const target = this.state.moveTarget(stepId, direction);
    if (!target) {
      this.post({ type: "stepResult", op: "move", stepId, ok: true });
      return;
    }
    // The step moves when its event arrives, in the order the server wrote it (moves that race
    // end in the same order on every client); the announcement is made then.
    this.pendingMoves.add(stepId);
    const failed = await this.writeStep("move", stepId, (client, planId, id) =>
      client.moveStep({ planId, stepId: id, after: target.after }).then(() => undefined),
    );
    if (failed) {
      this.pendingMoves.delete(stepId);
    }
  }

  private async renamePlan(title: string, version: number): Promise<void> {
    const planId = this.state.id;
    let client: ApiClient | undefined;
    try {
      client = await this.controller.client();
      const plan = await client.updatePlan({
        planId,
        title: title.trim(),
        ...(Number.isInteger(version) && version >= 1 ? { version } : {}),
      });
      if (plan.id === this.state.id && this.state.updatePlan(plan)) {
        this.panel.title = this.state.plan.title || "AEP Plan";
        this.post({ type: "plan", plan: this.state.plan });
      }
      this.post({ type: "planResult", ok: true });
    } catch (error) {
      const apiError = toApiError(error, errorContext(client, planId));
      const current = apiError.conflict?.plan;
      if (current && this.state.updatePlan(current)) {
        this.panel.title = this.state.plan.title || "AEP Plan";
        this.post({ type: "plan", plan: this.state.plan });
      }
      this.post({
        type: "planResult",
        ok: false,
        message: apiError.message,
        ...(current ? { stale: true, version: current.version, title: current.title } : {}),
      });
      this.failed(apiError);
    }
  }

  /** After a refused write: an archived plan shows as archived; a fixable cause gets a notification. */
  private failed(apiError: ApiError): void {
    if (apiError.archived && this.state.markArchived()) {
      this.post({ type: "archived" });
    }
    if (apiError.action) {
      void showError(apiError);
    }
  }

  private async addStep(text: string): Promise<void> {
    const planId = this.state.id;
    let client: ApiClient | undefined;
    try {
      client = await this.controller.client();
      const step = await client.addStep({ planId, text: text.trim() });
      this.stepAdded(planId, step);
      this.post({ type: "addStepResult", ok: true });
    } catch (error) {
      const apiError = toApiError(error, errorContext(client, planId));
      this.post({ type: "addStepResult", ok: false, message: apiError.message });
      if (apiError.archived) {
        this.state.markArchived();
        this.post({ type: "archived" });
      }
      if (apiError.action) {
        await showError(apiError);
      }
    }
  }

  private async archive(): Promise<void> {
    const planId = this.state.id;
    const choice = await vscode.window.showWarningMessage(
      `Archive "${this.state.plan.title}"?`,
      {
        modal: true,
        detail: "The plan is saved to the memory graph and stops accepting steps. This cannot be undone.",
      },
      "Archive",
    );
    if (choice !== "Archive") {
      this.post({ type: "archiveResult", ok: false });
      return;
    }
    let client: ApiClient | undefined;
    try {
      client = await this.controller.client();
      const result = await client.archivePlan(planId);
      if (planId === this.state.id) {
        this.state.markArchived();
        this.post({ type: "archived", memoryNodeId: result.memoryNodeId });
        this.post({ type: "archiveResult", ok: true });
        this.setConnection("closed", "The plan is archived.");
        void this.stopStream();
      }
      void vscode.window.showInformationMessage(
        `Plan "${this.state.plan.title}" archived (memory node ${result.memoryNodeId}).`,
      );
    } catch (error) {
      const apiError = toApiError(error, errorContext(client, planId));
      this.post({ type: "archiveResult", ok: false, message: apiError.message });
      await showError(apiError);
    }
  }

  private setConnection(state: SseClientState, message?: string): void {
    this.connection = { state, message };
    this.post({ type: "connection", state, message });
    // Not open: who is viewing is not known (the next stream's first presence event says it again).
    if (state !== "open" && this.presence.clear()) {
      this.postPresence();
    }
  }

  private postPresence(): void {
    this.post({ type: "presence", ...this.presence.snapshot });
  }

  private post(message: HostToWebview): void {
    if (!this.disposed) {
      void this.panel.webview.postMessage(message);
    }
  }
}

/** An error notification, with a button that fixes the cause when there is one. */
async function showError(error: unknown): Promise<void> {
  const apiError = error instanceof ApiError ? error : toApiError(error, errorContext(undefined));
  const buttons: string[] = [];
  if (apiError.action === "setToken") {
    buttons.push("Set API Token");
  } else if (apiError.action === "openOrgIdSetting" || apiError.action === "openServerUrlSetting") {
    buttons.push("Open Settings");
  }
  const choice = await vscode.window.showErrorMessage(`AEP: ${apiError.message}`, ...buttons);
  if (choice === "Set API Token") {
    await vscode.commands.executeCommand("aep.setApiToken");
  } else if (choice === "Open Settings") {
    const setting = apiError.action === "openOrgIdSetting" ? "aep.orgId" : "aep.serverUrl";
    await vscode.commands.executeCommand("workbench.action.openSettings", setting);
  }
}

function errorContext(client: ApiClient | undefined, planId?: string, stepId?: string): ErrorContext {
  if (client) {
    return client.errorContext(planId, stepId);
  }
  const config = vscode.workspace.getConfiguration("aep");
  return { serverUrl: currentServerUrl(), orgId: config.get<string>("orgId", ""), planId, ...(stepId ? { stepId } : {}) };
}

function currentServerUrl(): string {
  return vscode.workspace.getConfiguration("aep").get<string>("serverUrl", "http://localhost:8000");
}

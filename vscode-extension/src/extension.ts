/**
 * Wiring to VS Code only: commands, settings, SecretStorage, the webview panel and the stream's
 * lifecycle. The logic lives in api.ts, sse.ts, planState.ts and webview.ts (no vscode import there).
 */
import * as vscode from "vscode";
import { ApiClient, ApiError, toApiError, type ErrorContext, type Plan, type Step } from "./api";
import { interpretStreamEvent, PlanState } from "./planState";
import { SseClient, type SseClientState } from "./sse";
import { buildPanelHtml, makeNonce, MAX_STEP_LENGTH, type HostToWebview, type WebviewToHost } from "./webview";

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
        description: `${plan.steps.length} step${plan.steps.length === 1 ? "" : "s"} · ${plan.participants.length} participant${plan.participants.length === 1 ? "" : "s"}`,
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
    const stream = new SseClient({
      connect: client.streamConnect(planId),
      onStateChange: (state) => {
        // "reconnecting" and "closed" always follow an onError, which sets them with the reason.
        if (generation === this.generation && (state === "connecting" || state === "open")) {
          this.setConnection(state);
        }
      },
      onOpen: () => {
        if (generation !== this.generation) {
          return;
        }
        this.post({ type: "clearError" });
        // Read the plan after the stream is open: whatever was added before it connected is in this
        // copy, whatever comes after arrives on the stream (duplicates are dropped by step id).
        void this.refresh(generation);
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

  private async refresh(generation: number): Promise<void> {
    if (!this.client) {
      return;
    }
    try {
      const plan = await this.client.getPlan(this.state.id);
      if (generation !== this.generation || plan.id !== this.state.id) {
        return;
      }
      this.state.replace(plan);
      this.panel.title = plan.title || "AEP Plan";
      this.post({ type: "plan", plan: this.state.plan });
      if (this.state.plan.archived) {
        this.setConnection("closed", "The plan is archived.");
        void this.stopStream();
      }
    } catch (error) {
      this.post({ type: "error", message: toApiError(error, this.client.errorContext(this.state.id)).message });
    }
  }

  private onStreamEvent(event: { type: string; data: string; lastEventId: string }): void {
    const message = interpretStreamEvent(event);
    if ("planId" in message && message.planId && message.planId !== this.state.id) {
      return;
    }
    switch (message.kind) {
      case "step":
        {
          // The step's event carries the participants after it (the server decides who joins).
          const joined = message.participants ? this.state.setParticipants(message.participants) : false;
          if (this.state.addStep(message.step) || joined) {
            this.post({ type: "step", step: message.step, participants: this.state.plan.participants });
          }
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
        void this.refresh(this.generation);
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
      if (apiError.status === 409) {
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

function errorContext(client: ApiClient | undefined, planId?: string): ErrorContext {
  if (client) {
    return client.errorContext(planId);
  }
  const config = vscode.workspace.getConfiguration("aep");
  return { serverUrl: currentServerUrl(), orgId: config.get<string>("orgId", ""), planId };
}

function currentServerUrl(): string {
  return vscode.workspace.getConfiguration("aep").get<string>("serverUrl", "http://localhost:8000");
}

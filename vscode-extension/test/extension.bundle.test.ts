// The bundled extension loads as CommonJS with a stub `vscode` module, activates, and registers
// exactly the commands package.json contributes. (No VS Code here: @vscode/test-electron would
// download one.) The bundle is built with the same esbuild options as `npm run compile`.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import Module from "node:module";
import { buildSync } from "esbuild";

const root = path.resolve(__dirname, "..", "..");
const bundlePath = path.join(root, "out-test", "bundle", "extension.js");

function disposable() {
  return { dispose() {} };
}

function stubVscode(registered: string[]) {
  return {
    commands: {
      registerCommand: (id: string) => {
        registered.push(id);
        return disposable();
      },
      executeCommand: async () => undefined,
    },
    workspace: {
      onDidChangeConfiguration: () => disposable(),
      getConfiguration: () => ({ get: (_key: string, fallback: unknown) => fallback }),
    },
    window: {
      showErrorMessage: async () => undefined,
      showInformationMessage: async () => undefined,
      showWarningMessage: async () => undefined,
    },
    ViewColumn: { Beside: -2 },
    ProgressLocation: { Window: 10 },
  };
}

test("the bundle is valid CommonJS, activates with a stub vscode and registers the contributed commands", () => {
  buildSync({
    entryPoints: [path.join(root, "src", "extension.ts")],
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node18",
    external: ["vscode"],
    outfile: bundlePath,
    logLevel: "silent",
  });
  const source = fs.readFileSync(bundlePath, "utf8");
  assert.ok(!/\bimport\s+\*\s+as\b/.test(source), "no ESM syntax left");
  assert.ok(!source.includes('require("jsdom")') && !source.includes('require("esbuild")'), "no dev dependencies bundled");

  const registered: string[] = [];
  const vscode = stubVscode(registered);
  const loader = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
  const originalLoad = loader._load;
  const required: string[] = [];
  loader._load = function (request: string, ...rest: unknown[]) {
    required.push(request);
    if (request === "vscode") {
      return vscode;
    }
    return originalLoad.call(this, request, ...rest);
  };
  try {
    delete require.cache[bundlePath];
    const extension = require(bundlePath) as { activate: (ctx: unknown) => void; deactivate: () => void };
    assert.equal(typeof extension.activate, "function");
    assert.equal(typeof extension.deactivate, "function");
    const context = {
      subscriptions: [] as unknown[],
      secrets: { onDidChange: () => disposable(), get: async () => undefined, store: async () => undefined, delete: async () => undefined },
    };
    extension.activate(context);
    extension.deactivate();
    assert.ok(context.subscriptions.length >= 4);
  } finally {
    loader._load = originalLoad;
  }
  // Only Node built-ins and vscode are required at runtime: everything else is bundled.
  for (const request of required.filter((r) => r !== bundlePath)) {
    assert.ok(request === "vscode" || request.startsWith("node:") || Module.builtinModules.includes(request), request);
  }

  const manifest = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
  const contributed = manifest.contributes.commands.map((c: { command: string }) => c.command).sort();
  assert.deepEqual([...registered].sort(), contributed);
  assert.deepEqual(contributed, ["aep.addSelectionAsStep", "aep.openPlanPanel", "aep.setApiToken"]);
  const menu = manifest.contributes.menus["editor/context"][0];
  assert.deepEqual([menu.command, menu.when], ["aep.addSelectionAsStep", "editorHasSelection"]);
  assert.equal(manifest.contributes.configuration.properties["aep.serverUrl"].default, "http://localhost:8000");
  assert.equal(manifest.contributes.configuration.properties["aep.orgId"].type, "string");
  assert.equal(manifest.main, "./out/extension.js");
});

test("only extension.ts imports vscode", () => {
  const srcDir = path.join(root, "src");
  for (const file of fs.readdirSync(srcDir)) {
    const text = fs.readFileSync(path.join(srcDir, file), "utf8");
    const importsVscode = /from\s+["']vscode["']|require\(["']vscode["']\)/.test(text);
    assert.equal(importsVscode, file === "extension.ts", file);
  }
});

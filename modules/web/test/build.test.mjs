// Runs build.mjs for real into temporary folders and checks what it wrote.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const moduleDir = dirname(dirname(fileURLToPath(import.meta.url)));

function build(mode) {
  const out = mkdtempSync(join(tmpdir(), `fedbuild-web-${mode}-`));
  const result = spawnSync(process.execPath, ["build.mjs"], {
    cwd: moduleDir,
    env: { ...process.env, NODE_ENV: mode, FEDBUILD_OUT: out },
    encoding: "utf8",
    timeout: 30_000,
  });
  assert.equal(result.status, 0, `build.mjs failed: ${result.stderr}`);
  return out;
}

function withBuild(mode, check) {
  const out = build(mode);
  try {
    check(out, (name) => readFileSync(join(out, name), "utf8"));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

test("production build stamps the mode and strips comments", () => {
  withBuild("production", (out, read) => {
    assert.match(read("index.html"), /<meta name="build-mode" content="production">/);
    const app = read("app.js");
    assert.doesNotMatch(app, /\/\*|^\s*\/\//m);
    assert.match(app, /function checksum/);
    assert.ok(app.length < readFileSync(join(moduleDir, "src", "app.js"), "utf8").length);
    assert.equal(read("style.css"), readFileSync(join(moduleDir, "src", "style.css"), "utf8"));
  });
});

test("development build keeps app.js as written", () => {
  withBuild("development", (out, read) => {
    assert.match(read("index.html"), /content="development"/);
    assert.equal(read("app.js"), readFileSync(join(moduleDir, "src", "app.js"), "utf8"));
  });
});

test("manifest.json lists every file with its size", () => {
  withBuild("test", (out, read) => {
    const manifest = JSON.parse(read("manifest.json"));
    assert.equal(manifest.mode, "test");
    const names = manifest.files.map((file) => file.name).sort();
    assert.deepEqual(names, ["app.js", "index.html", "style.css"]);
    for (const file of manifest.files) {
      assert.equal(file.bytes, statSync(join(out, file.name)).size);
    }
  });
});

// Builds src/ into $FEDBUILD_OUT (default dist/) for $NODE_ENV, with no dependencies.
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.env.FEDBUILD_OUT || "dist");
const mode = process.env.NODE_ENV || "development";
const production = mode === "production";

function read(name) {
  return readFileSync(join(here, "src", name), "utf8");
}

// Crude on purpose: app.js has no comment markers inside strings or regexes.
function minify(code) {
  return code
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/^\s*\/\/.*$/gm, "")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "")
    .join("\n");
}

function page(html) {
  const meta = `<meta name="build-mode" content="${mode}">`;
  return html.replace("<!-- build-mode -->", meta);
}

const files = {
  "index.html": page(read("index.html")),
  "app.js": production ? minify(read("app.js")) : read("app.js"),
  "style.css": read("style.css"),
};

mkdirSync(out, { recursive: true });
for (const [name, text] of Object.entries(files)) {
  writeFileSync(join(out, name), text);
}
const manifest = {
  mode,
  files: Object.keys(files).map((name) => ({ name, bytes: statSync(join(out, name)).size })),
};
writeFileSync(join(out, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
console.log(`web: ${Object.keys(files).length} files for ${mode} in ${out}`);

// The console's build: console/src → chalicelib/console_assets/ (git-ignored), which the API serves
// at /console and /console/{asset} (chalicelib/api/console.py) and `chalice package` ships.
// esbuild bundles and minifies the JavaScript (Chart.js and qrcode included: nothing is fetched at
// run time) and the CSS; every asset's name carries a hash of its content, so it can be cached for
// a year, and index.html (never cached) names the current ones. manifest.json lists what is served.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "chalicelib", "console_assets");
const hash = (text) => createHash("sha256").update(text).digest("hex").slice(0, 12);

async function bundle(entry, loader) {
  const result = await build({
    entryPoints: [join(here, "src", entry)], bundle: true, minify: true, write: false,
    format: "iife", target: ["es2020"], charset: "utf8", legalComments: "eof", loader,
  });
  return result.outputFiles[0].text;
}

const assets = {
  app: { text: await bundle("main.js"), ext: "js", type: "text/javascript; charset=utf-8" },
  style: { text: await bundle("console.css"), ext: "css", type: "text/css; charset=utf-8" },
  icon: { text: readFileSync(join(here, "src", "icon.svg"), "utf8"), ext: "svg", type: "image/svg+xml" },
};
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const manifest = { index: "index.html", assets: {} };
const names = {};
for (const [name, asset] of Object.entries(assets)) {
  const file = `${name}.${hash(asset.text)}.${asset.ext}`;
  writeFileSync(join(out, file), asset.text);
  manifest.assets[file] = asset.type;
  names[name] = file;
}
// Relative URLs: the page works at /console locally and at /<stage>/console behind API Gateway.
const index = readFileSync(join(here, "src", "index.html"), "utf8")
  .replaceAll("{{app}}", `console/${names.app}`)
  .replaceAll("{{style}}", `console/${names.style}`)
  .replaceAll("{{icon}}", `console/${names.icon}`);
writeFileSync(join(out, "index.html"), index);
writeFileSync(join(out, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
const size = (t) => `${(Buffer.byteLength(t) / 1024).toFixed(1)} KiB`;
console.log(`console built into ${out}: ${Object.entries(names).map(([n, f]) => `${f} (${size(assets[n].text)})`).join(", ")}`);

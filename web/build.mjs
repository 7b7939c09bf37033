// Bundles web/src into one script and one stylesheet (esbuild) and writes the studio's assets
// to $STUDIO_OUT (default: dist/): index.html, assets/app.js, assets/app.css.
import { build } from "esbuild";
import { mkdirSync, copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.env.STUDIO_OUT || join(here, "dist");
mkdirSync(join(out, "assets"), { recursive: true });
await build({
  entryPoints: [join(here, "src/main.ts")],
  bundle: true,
  minify: true,
  sourcemap: false,
  target: "es2020",
  format: "iife",
  outfile: join(out, "assets/app.js"),
  logLevel: "warning",
});
const css = readFileSync(join(here, "node_modules/uplot/dist/uPlot.min.css"), "utf8") +
  "\n" + readFileSync(join(here, "src/style.css"), "utf8");
writeFileSync(join(out, "assets/app.css"), css);
copyFileSync(join(here, "index.html"), join(out, "index.html"));
console.log("studio assets written to " + out);

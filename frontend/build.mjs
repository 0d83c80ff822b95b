// Bundles the dashboard and GraphiQL into the Python package (ott_runtime/dashboard/static):
// a JS and a CSS file each plus their HTML pages, everything they load; no CDN at run time.
import { build } from "esbuild";
import { copyFile, mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const outArg = process.argv.find((a) => a.startsWith("--outdir="));
const out = outArg ? outArg.slice("--outdir=".length)
  : join(here, "..", "runtime", "ott_runtime", "dashboard", "static");

await mkdir(join(out, "assets"), { recursive: true });
await build({
  entryPoints: {
    dashboard: join(here, "src", "main.js"),
    graphiql: join(here, "src", "graphiql.js"), // the IDE on GET /v1/graphql
  },
  bundle: true,
  minify: true,
  sourcemap: false, // a 18 MB map would triple the wheel
  format: "iife",
  target: ["chrome110", "firefox110", "safari16"],
  outdir: join(out, "assets"),
  legalComments: "eof", // the bundled libraries' licence notices ship inside the file
  logLevel: "warning",
  define: { "process.env.NODE_ENV": '"production"' }, // React's production build
});
await copyFile(join(here, "index.html"), join(out, "index.html"));
await copyFile(join(here, "graphiql.html"), join(out, "graphiql.html"));
console.log(`dashboard built into ${out}`);

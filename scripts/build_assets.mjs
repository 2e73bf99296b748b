// Builds gridlink's bundled browser assets from node_modules (run by scripts/bootstrap.sh
// after `npm ci`, or `npm run build`): each entry of ENTRIES is bundled with esbuild
// (tree-shaken, minified) into layers/static/build/, next to a gzip (.gz) and a brotli
// (.br) copy that /static/build serves to browsers accepting them (api/precompressed.py).
// Nothing is fetched from the Internet.
import { build } from "esbuild";
import { readFileSync, writeFileSync } from "node:fs";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const ENTRIES = { "echarts-dashboard": "layers/static/src/echarts-dashboard.js" };
const OUT = "layers/static/build";

for (const [name, entry] of Object.entries(ENTRIES)) {
  const outfile = `${OUT}/${name}.min.js`;
  await build({ entryPoints: [entry], bundle: true, minify: true, format: "iife",
    target: "es2019", legalComments: "none", outfile, logLevel: "warning",
    define: { "process.env.NODE_ENV": '"production"' } });
  const body = readFileSync(outfile);
  writeFileSync(`${outfile}.gz`, gzipSync(body, { level: 9 }));
  writeFileSync(`${outfile}.br`, brotliCompressSync(body, {
    params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
  console.log(`${outfile}: ${body.length} bytes`);
}

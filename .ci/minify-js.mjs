// Minifies the wasm-bindgen glue Trunk wrote into dist/ with terser (pinned in
// end2end/package.json), then puts the new file's hash into index.html's `integrity` attribute so
// Subresource Integrity still holds. Run by `make client` between Trunk and .ci/compress-dist.
//
// Why not Trunk's own `minify = "on_release"`: its JS minifier (minify-js) fails on the glue's
// `export { initSync, __wbg_init as default }` and leaves the file as it was, and its HTML
// minifier drops the quotes the server's readers of index.html rely on (docs.rs `stylesheet`).
// Measured 2026-12-05 on the same build: the glue 7,904 -> 6,121 bytes brotli; the wasm is
// wasm-opt's already.
//
// The file keeps its name: Trunk's content hash names the unminified glue, which is as unique.
// Export names are not mangled (`module: true` mangles top-level locals only), so the loader's
// `import init, * as bindings` and the wasm's imports are unchanged.
//   node .ci/minify-js.mjs [dist]
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(new URL('../end2end/package.json', import.meta.url));
const { minify } = require('terser');

const dist = process.argv[2] ?? 'dist';
const sri = (bytes) => 'sha384-' + createHash('sha384').update(bytes).digest('base64');
const glue = readdirSync(dist).filter((f) => /^app-[0-9a-f]+\.js$/.test(f));
if (glue.length !== 1) throw new Error(`expected one app-*.js in ${dist}, found ${glue}`);

const file = join(dist, glue[0]);
const before = readFileSync(file);
const out = await minify(before.toString('utf8'), {
  module: true,
  ecma: 2020,
  compress: { passes: 2 },
  mangle: true,
  format: { comments: false },
});
const after = Buffer.from(out.code, 'utf8');

const html = join(dist, 'index.html');
const page = readFileSync(html, 'utf8');
const [from, to] = [sri(before), sri(after)];
// Exactly one integrity attribute names the glue; anything else means Trunk's output changed
// shape, and a page whose integrity does not match would not start: stop the build instead.
if (page.split(from).length !== 2) throw new Error(`index.html names ${from} ${page.split(from).length - 1} times, not once`);
writeFileSync(file, after);
writeFileSync(html, page.replace(from, to));
console.log(`minify-js: ${glue[0]} ${before.length} -> ${after.length} bytes`);

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
// The file is renamed for its new bytes (`app-<16 hex of their SHA-256>.js`): it is served as
// immutable for a year, so a new terser (same glue, other bytes) must not reuse a cached name.
// Export names are not mangled (`module: true` mangles top-level locals only), so the loader's
// `import init, * as bindings` and the wasm's imports are unchanged.
//   node .ci/minify-js.mjs [dist]
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
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
const name = `app-${createHash('sha256').update(after).digest('hex').slice(0, 16)}.js`;
// Exactly one integrity attribute names the glue, and the page names the file twice (the
// loader's import and the preload); anything else means Trunk's output changed shape: stop the
// build rather than ship a page that names what is not there.
const count = (text, what) => text.split(what).length - 1;
if (count(page, from) !== 1) throw new Error(`index.html names ${from} ${count(page, from)} times, not once`);
if (count(page, `/${glue[0]}`) !== 2) throw new Error(`index.html names /${glue[0]} ${count(page, `/${glue[0]}`)} times, not twice`);
writeFileSync(join(dist, name), after);
if (name !== glue[0]) rmSync(file);
writeFileSync(html, page.replace(from, to).replaceAll(`/${glue[0]}`, `/${name}`));
console.log(`minify-js: ${glue[0]} ${before.length} -> ${name} ${after.length} bytes`);

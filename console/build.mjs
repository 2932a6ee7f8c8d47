// Builds the console into dist/ (index.html, app.js, app.css), which the console function embeds
// at compile time. Run by infra/scripts/console_build.sh (make console); prints the sizes.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

mkdirSync('dist', { recursive: true });
await build({
  entryPoints: ['src/main.jsx'],
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'none',
  outfile: 'dist/app.js',
  logLevel: 'warning',
});
await build({ entryPoints: ['src/app.css'], bundle: true, minify: true, outfile: 'dist/app.css', logLevel: 'warning' });
// No inline script or style: the page's Content-Security-Policy allows neither.
writeFileSync('dist/index.html', `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>trustfn console</title>
<link rel="stylesheet" href="/console/app.css">
<script defer src="/console/app.js"></script>
</head>
<body><div id="app"><p class="boot">Loading the console…</p></div></body>
</html>
`);
// Each file also gzipped (served as such to browsers that accept it: API Gateway does not compress).
let total = 0;
for (const f of ['index.html', 'app.js', 'app.css']) {
  const bytes = readFileSync(`dist/${f}`);
  const gz = gzipSync(bytes, { level: 9 });
  writeFileSync(`dist/${f}.gz`, gz);
  total += gz.length;
  console.log(`console: dist/${f} ${bytes.length} bytes, ${gz.length} gzipped`);
}
console.log(`console: ${total} bytes gzipped in all`);

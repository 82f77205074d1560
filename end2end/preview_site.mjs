// A stand-in for a chart site's live pages (design §13's preview URLs), served on 127.0.0.1 at a
// free port for the end-to-end run: scripts/e2e.sh starts it, points production's and staging's
// preview URLs at it, and live.spec.ts checks the detail page frames exactly these pages.
//   GET /production/<slug>, /staging/<branch>/<slug>  ->  a page naming the side and the slug
import http from 'node:http';

const escape = (s) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const server = http.createServer((req, res) => {
  const parts = new URL(req.url, 'http://x').pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const side = parts[0];
  if (!['production', 'staging'].includes(side) || parts.length < 2) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not a preview page\n');
    return;
  }
  const slug = parts[parts.length - 1];
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(
    `<!doctype html><html lang="en"><title>${escape(side)}: ${escape(slug)}</title>` +
      `<body><h1 data-testid="live-page" data-side="${escape(side)}">${escape(side)} rendering of ${escape(slug)}</h1>` +
      `<p data-testid="referrer">${escape(req.headers.referer ?? 'no referrer')}</p></body></html>`,
  );
});

server.listen(0, '127.0.0.1', () => {
  console.log(`preview site listening on http://127.0.0.1:${server.address().port}`);
});

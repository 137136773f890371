import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { Router } from './router.js'
import { sendJson } from './router.js'
import type { Timeline } from './timeline.js'

/**
 * Everything the page may load comes from the sidecar itself: no CDN, no inline script or style, so a
 * mailbox name crafted to look like markup can at worst show up as text.
 */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

interface Asset {
  readonly type: string
  readonly body: Buffer
}

const TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
}

function load(file: string | URL, strip?: RegExp): Asset {
  const path = String(file)
  const ext = path.slice(path.lastIndexOf('.') + 1)
  let text = readFileSync(file, 'utf8')
  if (strip) text = text.replace(strip, '')
  return { type: TYPES[ext] ?? 'application/octet-stream', body: Buffer.from(text) }
}

/**
 * Adds the live status page to the sidecar's routes: `/` (the page), its script, style and icon from
 * `sidecar/public`, the shared top model (`/top-model.js`, compiled from src/top-model.ts), uPlot from
 * its npm package, and `/api/v1/history` (the timeline the charts draw). The files are read once, here,
 * so a broken install fails at start rather than on the first visit.
 */
export function mountStatusPage(router: Router, timeline: Timeline): void {
  const pub = new URL('../../public/', import.meta.url)
  const uplot = createRequire(import.meta.url).resolve('uplot/dist/uPlot.esm.js')
  const assets = new Map<string, Asset>([
    ['/', load(new URL('index.html', pub))],
    ['/status.js', load(new URL('status.js', pub))],
    ['/status.css', load(new URL('status.css', pub))],
    ['/favicon.svg', load(new URL('favicon.svg', pub))],
    // The source map is not served: drop the comment that would make dev tools ask for it.
    ['/top-model.js', load(new URL('./top-model.js', import.meta.url), /\n\/\/# sourceMappingURL=.*\s*$/)],
    ['/vendor/uPlot.esm.js', load(uplot)],
    ['/vendor/uPlot.min.css', load(uplot.replace(/uPlot\.esm\.js$/, 'uPlot.min.css'))],
  ])
  for (const [path, asset] of assets) {
    router.get(path, (_req, res) => {
      res
        .writeHead(200, {
          'content-type': asset.type,
          'content-length': asset.body.length,
          'content-security-policy': STATUS_PAGE_CSP,
          'x-content-type-options': 'nosniff',
          'referrer-policy': 'no-referrer',
          'cache-control': 'no-cache',
        })
        .end(asset.body)
    })
  }
  router.get('/api/v1/history', (_req, res) => sendJson(res, 200, timeline.toJSON()))
}

// samepage's service worker: network first for pages and static files, the cache when the
// server is unreachable. The API and WebSockets are never cached.
const CACHE = 'samepage-shell-v1'
const scope = new URL(self.registration.scope)

function isShell (url, request) {
  if (url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return false
  const path = url.pathname.slice(scope.pathname.length - 1)
  if (path.startsWith('/static/')) return true
  return request.mode === 'navigate' && (path === '/' || /^\/(r|embed)\/[^/]+$/.test(path))
}

// Pages are kept under their path alone: a `?token=` never lands in the cache.
const cacheKey = (request) => {
  if (request.mode !== 'navigate') return request
  const url = new URL(request.url)
  return url.origin + url.pathname
}

async function networkFirst (request) {
  const cache = await caches.open(CACHE)
  try {
    const response = await fetch(request)
    if (response.ok) await cache.put(cacheKey(request), response.clone())
    return response
  } catch (err) {
    const hit = await cache.match(cacheKey(request))
    if (hit) return hit
    throw err
  }
}

self.addEventListener('install', () => self.skipWaiting())
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()))

self.addEventListener('fetch', (event) => {
  const request = event.request
  if (request.method !== 'GET') return
  if (isShell(new URL(request.url), request)) event.respondWith(networkFirst(request))
})

// The page asks us to keep its shell (it was loaded before this worker controlled it).
self.addEventListener('message', (event) => {
  if (!event.data || event.data.type !== 'keep') return
  const port = event.ports[0]
  const keep = async () => {
    const cache = await caches.open(CACHE)
    await Promise.all(event.data.urls.map(async (url) => {
      if (!(await cache.match(url))) await cache.add(url)
    }))
  }
  event.waitUntil(keep().then(() => port.postMessage(true), () => port.postMessage(false)))
})

// Offline start-up: a service worker keeps the page shell (HTML, script, CSS) so a reload
// works while the server is unreachable; the document itself comes from IndexedDB.

/** Register /sw.js and ask it to keep this page's shell; resolves when kept. */
export async function registerOffline (base) {
  const sw = navigator.serviceWorker
  if (!sw || !window.isSecureContext) return false
  try {
    await sw.register(`${base}/sw.js`, { scope: `${base}/` })
    const registration = await sw.ready
    const urls = [location.origin + location.pathname, ...shellAssets()]
    const kept = await ask(registration.active, { type: 'keep', urls })
    document.documentElement.dataset.offlineReady = String(kept)
    return kept
  } catch (err) {
    console.warn('samepage: offline start-up unavailable', err)
    return false
  }
}

function shellAssets () {
  const urls = []
  for (const el of document.querySelectorAll('script[src], link[rel="stylesheet"], link[rel="icon"]')) {
    urls.push(el.src || el.href)
  }
  return urls
}

function ask (worker, message) {
  return new Promise((resolve) => {
    const channel = new MessageChannel()
    channel.port1.onmessage = (event) => resolve(event.data === true)
    worker.postMessage(message, [channel.port2])
  })
}

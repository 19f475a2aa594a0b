// Reconnect with exponential backoff *and jitter*, so that a restarted server is not hit
// by every tab at the same instant. y-websocket waits min(2^n * 100 ms, maxBackoffTime)
// after the n-th failed attempt; it emits `connection-close` just before computing that
// delay, so setting maxBackoffTime there turns every delay into a random one in
// [50 %, 100 %] of the capped exponential step ("equal jitter").

/**
 * @param {import('y-websocket').WebsocketProvider} provider
 * @param {{ base?: number, cap?: number, random?: () => number }} [opts]
 */
export function addJitter (provider, { base = 100, cap = 5000, random = Math.random } = {}) {
  provider.on('connection-close', () => {
    const attempt = provider.wsUnsuccessfulReconnects + 1
    const step = Math.min(cap, base * 2 ** attempt)
    provider.maxBackoffTime = Math.max(base, Math.round(step * (0.5 + random() * 0.5)))
  })
  // Back online or back to the tab: try at once instead of waiting for the timer.
  const retryNow = () => {
    if (provider.shouldConnect && !provider.wsconnected && provider.ws === null) {
      provider.connect()
    }
  }
  window.addEventListener('online', retryNow)
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') retryNow()
  })
}

/**
 * What to show for the connection: connected, connecting (first attempt), reconnecting,
 * offline (the browser is offline, or several attempts failed), or how the server ended
 * the session (`ended`: 'denied', 'expired', 'revoked', 'readonly'; true means 'denied').
 */
export function connectionState (provider, everConnected, ended) {
  if (ended) return typeof ended === 'string' ? ended : 'denied'
  if (provider.wsconnected) return 'connected'
  if (!navigator.onLine || provider.wsUnsuccessfulReconnects >= 3) return 'offline'
  return everConnected ? 'reconnecting' : 'connecting'
}

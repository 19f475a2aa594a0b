// The access token (from `?token=`, issued by `samepage token`). The server verifies it;
// the page only reads its claims to adapt the UI: read-only rooms, the user's name.

/** The token in the page's URL, or null. */
export const tokenFromUrl = () => new URLSearchParams(location.search).get('token')

/** Claims of a JWT without verifying it ({} when it is not readable). */
export function claimsOf (token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')
    const json = decodeURIComponent(Array.from(atob(part),
      (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).join(''))
    const claims = JSON.parse(json)
    return claims && typeof claims === 'object' ? claims : {}
  } catch {
    return {}
  }
}

/** A full-page navigation away from the SPA (to an identity provider); one seam, so tests can observe it. */
export function leaveApp(url: string): void {
  window.location.assign(url);
}

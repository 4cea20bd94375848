/// <reference types="vite/client" />

interface ImportMetaEnv {
  readonly VITE_APP_IDLE_TIMEOUT_MINUTES?: string;
  readonly VITE_APP_FIREBASE_API_KEY?: string;
  readonly VITE_APP_FIREBASE_PROJECT_ID?: string;
  readonly VITE_APP_FIREBASE_AUTH_DOMAIN?: string;
  readonly VITE_APP_FIREBASE_AUTH_EMULATOR_URL?: string;
  readonly VITE_APP_OIDC_PROVIDER_NAME?: string;
}

interface Window {
  /** Injected by Django into index.html (portal/urls.py::spa_config); absent under the Vite dev server. */
  __NAEVUS_CONFIG__?: unknown;
}

/// <reference types="vite/client" />

interface ImportMetaEnv {
  readonly VITE_APP_IDLE_TIMEOUT_MINUTES?: string;
  readonly VITE_APP_FIREBASE_API_KEY?: string;
  readonly VITE_APP_FIREBASE_PROJECT_ID?: string;
  readonly VITE_APP_FIREBASE_AUTH_DOMAIN?: string;
  readonly VITE_APP_FIREBASE_AUTH_EMULATOR_URL?: string;
}

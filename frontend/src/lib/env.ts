import { z } from 'zod';

export type FirebaseConfig = {
  apiKey: string;
  projectId: string;
  authDomain: string;
  emulatorUrl?: string;
};

/** OpenID Connect sign-in: a full-page navigation to `loginUrl` (Django's, which redirects to the provider). */
export type OidcConfig = {
  providerName: string;
  loginUrl: string;
};

export type AppEnv = {
  idleTimeoutMinutes: number;
  firebase: FirebaseConfig | null;
  oidc: OidcConfig | null;
};

// ---- run time: what Django injects into index.html as window.__NAEVUS_CONFIG__ (portal/urls.py::spa_config),
// so that one build serves every deployment.
const runtimeSchema = z.object({
  firebase: z
    .object({
      apiKey: z.string().min(1),
      authDomain: z.string().min(1),
      projectId: z.string().min(1),
      emulatorUrl: z.url().nullable(),
    })
    .nullable(),
  // Absent from an older server's configuration: OIDC off.
  oidc: z
    .object({
      providerName: z.string().min(1),
      // Same-origin path only: the button must not send clinicians to an arbitrary site.
      loginUrl: z.string().regex(/^\/(?!\/)/, 'a path on this site'),
    })
    .nullable()
    .default(null),
  idleTimeoutMinutes: z.number().positive(),
});

export function parseRuntimeConfig(raw: unknown): AppEnv {
  const result = runtimeSchema.safeParse(raw);
  if (!result.success) {
    throw new Error(`Invalid run-time configuration (window.__NAEVUS_CONFIG__):\n${z.prettifyError(result.error)}`);
  }
  const { firebase, oidc, idleTimeoutMinutes } = result.data;
  return {
    idleTimeoutMinutes,
    oidc,
    firebase: firebase && {
      apiKey: firebase.apiKey,
      authDomain: firebase.authDomain,
      projectId: firebase.projectId,
      emulatorUrl: firebase.emulatorUrl ?? undefined,
    },
  };
}

// ---- build time: VITE_APP_* for the Vite dev server, whose index.html Django never sees.
const blankToUndefined = (value: unknown) => (value === '' ? undefined : value);

const buildSchema = z
  .object({
    VITE_APP_IDLE_TIMEOUT_MINUTES: z.preprocess(blankToUndefined, z.coerce.number().positive().default(15)),
    VITE_APP_FIREBASE_API_KEY: z.preprocess(blankToUndefined, z.string().optional()),
    VITE_APP_FIREBASE_PROJECT_ID: z.preprocess(blankToUndefined, z.string().optional()),
    VITE_APP_FIREBASE_AUTH_DOMAIN: z.preprocess(blankToUndefined, z.string().optional()),
    VITE_APP_FIREBASE_AUTH_EMULATOR_URL: z.preprocess(blankToUndefined, z.url().optional()),
    VITE_APP_OIDC_PROVIDER_NAME: z.preprocess(blankToUndefined, z.string().optional()),
  })
  .superRefine((env, ctx) => {
    const firebaseKeys = [
      'VITE_APP_FIREBASE_API_KEY',
      'VITE_APP_FIREBASE_PROJECT_ID',
      'VITE_APP_FIREBASE_AUTH_DOMAIN',
    ] as const;
    const set = firebaseKeys.filter((key) => env[key] !== undefined);
    // A half-configured Firebase would fail only at the first sign-in; refuse it at start instead.
    if (set.length > 0 && set.length < firebaseKeys.length) {
      for (const key of firebaseKeys.filter((k) => env[k] === undefined)) {
        ctx.addIssue({ code: 'custom', path: [key], message: `${key} is required when Firebase is configured` });
      }
    }
  });

export function parseEnv(raw: Record<string, unknown>): AppEnv {
  const result = buildSchema.safeParse(raw);
  if (!result.success) {
    throw new Error(`Invalid frontend environment:\n${z.prettifyError(result.error)}`);
  }
  const env = result.data;
  return {
    idleTimeoutMinutes: env.VITE_APP_IDLE_TIMEOUT_MINUTES,
    // Under the dev server the OIDC flow goes through Vite's /oidc proxy to Django, configured there.
    oidc: env.VITE_APP_OIDC_PROVIDER_NAME ? { providerName: env.VITE_APP_OIDC_PROVIDER_NAME, loginUrl: '/oidc/authenticate/' } : null,
    firebase:
      env.VITE_APP_FIREBASE_API_KEY && env.VITE_APP_FIREBASE_PROJECT_ID && env.VITE_APP_FIREBASE_AUTH_DOMAIN
        ? {
            apiKey: env.VITE_APP_FIREBASE_API_KEY,
            projectId: env.VITE_APP_FIREBASE_PROJECT_ID,
            authDomain: env.VITE_APP_FIREBASE_AUTH_DOMAIN,
            emulatorUrl: env.VITE_APP_FIREBASE_AUTH_EMULATOR_URL,
          }
        : null,
  };
}

/** The run-time configuration when the page carries one (served by Django), else the build-time environment. */
export function resolveEnv(runtime: unknown, build: Record<string, unknown>): AppEnv {
  return runtime === undefined ? parseEnv(build) : parseRuntimeConfig(runtime);
}

export const env: AppEnv = resolveEnv(window.__NAEVUS_CONFIG__, import.meta.env);

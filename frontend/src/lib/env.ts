import { z } from 'zod';

const blankToUndefined = (value: unknown) => (value === '' ? undefined : value);

const envSchema = z
  .object({
    VITE_APP_IDLE_TIMEOUT_MINUTES: z.preprocess(blankToUndefined, z.coerce.number().positive().default(15)),
    VITE_APP_FIREBASE_API_KEY: z.preprocess(blankToUndefined, z.string().optional()),
    VITE_APP_FIREBASE_PROJECT_ID: z.preprocess(blankToUndefined, z.string().optional()),
    VITE_APP_FIREBASE_AUTH_DOMAIN: z.preprocess(blankToUndefined, z.string().optional()),
    VITE_APP_FIREBASE_AUTH_EMULATOR_URL: z.preprocess(blankToUndefined, z.url().optional()),
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

export type FirebaseConfig = {
  apiKey: string;
  projectId: string;
  authDomain: string;
  emulatorUrl?: string;
};

export type AppEnv = {
  idleTimeoutMinutes: number;
  firebase: FirebaseConfig | null;
};

export function parseEnv(raw: Record<string, unknown>): AppEnv {
  const result = envSchema.safeParse(raw);
  if (!result.success) {
    throw new Error(`Invalid frontend environment:\n${z.prettifyError(result.error)}`);
  }
  const env = result.data;
  return {
    idleTimeoutMinutes: env.VITE_APP_IDLE_TIMEOUT_MINUTES,
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

export const env: AppEnv = parseEnv(import.meta.env);

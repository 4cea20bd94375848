import { parseEnv, resolveEnv } from './env';

describe('parseEnv', () => {
  it('defaults the idle timeout to 15 minutes and leaves Firebase off', () => {
    expect(parseEnv({})).toEqual({ idleTimeoutMinutes: 15, firebase: null, oidc: null });
  });

  it('reads a complete Firebase configuration with the emulator', () => {
    const env = parseEnv({
      VITE_APP_IDLE_TIMEOUT_MINUTES: '5',
      VITE_APP_FIREBASE_API_KEY: 'key',
      VITE_APP_FIREBASE_PROJECT_ID: 'demo-naevus',
      VITE_APP_FIREBASE_AUTH_DOMAIN: 'demo-naevus.firebaseapp.com',
      VITE_APP_FIREBASE_AUTH_EMULATOR_URL: 'http://127.0.0.1:9099',
    });
    expect(env.idleTimeoutMinutes).toBe(5);
    expect(env.firebase).toEqual({
      apiKey: 'key',
      projectId: 'demo-naevus',
      authDomain: 'demo-naevus.firebaseapp.com',
      emulatorUrl: 'http://127.0.0.1:9099',
    });
  });

  it('refuses a half-configured Firebase, naming the missing variables', () => {
    expect(() => parseEnv({ VITE_APP_FIREBASE_API_KEY: 'key' })).toThrow(/VITE_APP_FIREBASE_PROJECT_ID.*required/s);
  });

  it('refuses a timeout that is not a positive number', () => {
    expect(() => parseEnv({ VITE_APP_IDLE_TIMEOUT_MINUTES: '0' })).toThrow(/VITE_APP_IDLE_TIMEOUT_MINUTES/);
    expect(() => parseEnv({ VITE_APP_IDLE_TIMEOUT_MINUTES: 'soon' })).toThrow(/VITE_APP_IDLE_TIMEOUT_MINUTES/);
  });
});

describe('resolveEnv', () => {
  const buildFirebase = {
    VITE_APP_IDLE_TIMEOUT_MINUTES: '30',
    VITE_APP_FIREBASE_API_KEY: 'build-key',
    VITE_APP_FIREBASE_PROJECT_ID: 'build-project',
    VITE_APP_FIREBASE_AUTH_DOMAIN: 'build-project.firebaseapp.com',
  };

  it('prefers the configuration Django injected over the build-time environment', () => {
    const env = resolveEnv(
      {
        firebase: { apiKey: 'fake-api-key', authDomain: 'demo-naevus.firebaseapp.com', projectId: 'demo-naevus', emulatorUrl: 'http://127.0.0.1:9099' },
        idleTimeoutMinutes: 5,
      },
      buildFirebase,
    );
    expect(env).toEqual({
      idleTimeoutMinutes: 5,
      oidc: null,
      firebase: {
        apiKey: 'fake-api-key',
        authDomain: 'demo-naevus.firebaseapp.com',
        projectId: 'demo-naevus',
        emulatorUrl: 'http://127.0.0.1:9099',
      },
    });
  });

  it('turns Firebase off when the server says so, whatever the build had', () => {
    expect(resolveEnv({ firebase: null, idleTimeoutMinutes: 15 }, buildFirebase)).toEqual({ idleTimeoutMinutes: 15, firebase: null, oidc: null });
  });

  it('reads a production Firebase without an emulator', () => {
    const env = resolveEnv({ firebase: { apiKey: 'k', authDomain: 'p.firebaseapp.com', projectId: 'p', emulatorUrl: null }, idleTimeoutMinutes: 15 }, {});
    expect(env.firebase).toEqual({ apiKey: 'k', authDomain: 'p.firebaseapp.com', projectId: 'p', emulatorUrl: undefined });
  });

  it('reads the OpenID Connect provider the server reports, and only a same-site sign-in path', () => {
    const oidc = { providerName: 'Clinic SSO', loginUrl: '/oidc/authenticate/' };
    expect(resolveEnv({ firebase: null, oidc, idleTimeoutMinutes: 15 }, {}).oidc).toEqual(oidc);
    expect(() => resolveEnv({ firebase: null, oidc: { ...oidc, loginUrl: 'https://evil.test/' }, idleTimeoutMinutes: 15 }, {})).toThrow(/oidc\.loginUrl/);
    expect(() => resolveEnv({ firebase: null, oidc: { ...oidc, loginUrl: '//evil.test/' }, idleTimeoutMinutes: 15 }, {})).toThrow(/oidc\.loginUrl/);
  });

  it('falls back to the build-time environment under the dev server, where nothing is injected', () => {
    expect(resolveEnv(undefined, buildFirebase).firebase?.projectId).toBe('build-project');
  });

  it('refuses an injected configuration that is malformed, naming the field', () => {
    expect(() => resolveEnv({ firebase: { apiKey: '', authDomain: 'x', projectId: 'p', emulatorUrl: null }, idleTimeoutMinutes: 15 }, {})).toThrow(
      /__NAEVUS_CONFIG__[\s\S]*firebase\.apiKey/,
    );
    expect(() => resolveEnv({ firebase: null, idleTimeoutMinutes: 0 }, {})).toThrow(/idleTimeoutMinutes/);
  });
});

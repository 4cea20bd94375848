import { parseEnv } from './env';

describe('parseEnv', () => {
  it('defaults the idle timeout to 15 minutes and leaves Firebase off', () => {
    expect(parseEnv({})).toEqual({ idleTimeoutMinutes: 15, firebase: null });
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

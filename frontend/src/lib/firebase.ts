import type { Auth } from 'firebase/auth';

import { env, type FirebaseConfig } from './env';

let authPromise: Promise<Auth> | null = null;

export function isFirebaseConfigured(): boolean {
  return env.firebase !== null;
}

async function initAuth(config: FirebaseConfig): Promise<Auth> {
  // Loaded on demand so a session-only deployment never ships the Firebase SDK to the browser.
  const [{ initializeApp }, { initializeAuth, browserSessionPersistence, connectAuthEmulator }] = await Promise.all([
    import('firebase/app'),
    import('firebase/auth'),
  ]);
  const app = initializeApp({ apiKey: config.apiKey, projectId: config.projectId, authDomain: config.authDomain });
  // Session persistence: closing the tab on a shared clinic computer signs the clinician out.
  const auth = initializeAuth(app, { persistence: browserSessionPersistence });
  if (config.emulatorUrl) {
    connectAuthEmulator(auth, config.emulatorUrl, { disableWarnings: true });
  }
  await auth.authStateReady();
  return auth;
}

export function getFirebaseAuth(): Promise<Auth> {
  if (!env.firebase) {
    return Promise.reject(new Error('Firebase is not configured'));
  }
  authPromise ??= initAuth(env.firebase);
  return authPromise;
}

/** The signed-in Firebase user's ID token, refreshed by the SDK when it nears expiry; null without one. */
export async function currentIdToken(forceRefresh = false): Promise<string | null> {
  if (!env.firebase) return null;
  const auth = await getFirebaseAuth();
  return auth.currentUser ? auth.currentUser.getIdToken(forceRefresh) : null;
}

export async function firebaseSignIn(email: string, password: string): Promise<void> {
  const [auth, { signInWithEmailAndPassword }] = await Promise.all([getFirebaseAuth(), import('firebase/auth')]);
  await signInWithEmailAndPassword(auth, email, password);
}

export async function firebaseSignOut(): Promise<void> {
  if (!env.firebase) return;
  const [auth, { signOut }] = await Promise.all([getFirebaseAuth(), import('firebase/auth')]);
  await signOut(auth);
}

export async function hasFirebaseUser(): Promise<boolean> {
  if (!env.firebase) return false;
  return (await getFirebaseAuth()).currentUser !== null;
}

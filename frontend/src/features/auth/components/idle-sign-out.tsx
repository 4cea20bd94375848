import { useIdle } from '@mantine/hooks';
import { useEffect } from 'react';

import { useSignOut } from '../api/sign-out';

const ACTIVITY_EVENTS: (keyof DocumentEventMap)[] = ['mousemove', 'mousedown', 'keydown', 'touchstart', 'wheel', 'scroll'];

/** Signs the clinician out after `timeoutMs` without input, so an unattended screen stops showing patients. */
export function IdleSignOut({ timeoutMs, onSignedOut }: { timeoutMs: number; onSignedOut: () => void }) {
  const idle = useIdle(timeoutMs, { events: ACTIVITY_EVENTS, initialState: false });
  const { mutate } = useSignOut();
  useEffect(() => {
    if (idle) mutate(undefined, { onSettled: onSignedOut });
  }, [idle, mutate, onSignedOut]);
  return null;
}

import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';

const root = createRoot(document.getElementById('root')!);

// The app is imported dynamically so that an invalid environment (checked when lib/env loads) is shown
// on the page instead of leaving a blank screen.
import('./app/app')
  .then(({ App, createApp }) => {
    const { router, queryClient } = createApp();
    root.render(
      <StrictMode>
        <App router={router} queryClient={queryClient} />
      </StrictMode>,
    );
  })
  .catch((error: unknown) => {
    root.render(
      <pre role="alert" style={{ padding: 24, whiteSpace: 'pre-wrap' }}>
        {error instanceof Error ? error.message : String(error)}
      </pre>,
    );
  });

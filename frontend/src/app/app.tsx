import '@mantine/core/styles.css';
import '@mantine/dropzone/styles.css';
import '@mantine/notifications/styles.css';

import { MantineProvider, type MantineThemeOverride, mergeThemeOverrides } from '@mantine/core';
import { Notifications } from '@mantine/notifications';
import { type QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { useEffect } from 'react';
import { createBrowserRouter, type DataRouter, RouterProvider } from 'react-router';

import { meQueryKey } from '@/features/auth/api/get-me';
import { setUnauthorizedHandler } from '@/lib/api-client';
import { paths } from '@/lib/paths';
import { createQueryClient } from '@/lib/query-client';

import { routes } from './routes';
import { cssVariablesResolver, theme } from './theme';

type AppProps = { router: DataRouter; queryClient: QueryClient; themeOverride?: MantineThemeOverride };

export function App({ router, queryClient, themeOverride }: AppProps) {
  useEffect(() => {
    setUnauthorizedHandler((error) => {
      // Only a session that was live can "end"; a first visit is routed to sign-in by RequireAuth alone.
      if (!queryClient.getQueryData(meQueryKey)) return;
      queryClient.clear();
      const reason = error.code === 'not_invited' ? 'not_invited' : 'expired';
      const { pathname, search } = router.state.location;
      const params = new URLSearchParams({ reason, next: `${pathname}${search}` });
      void router.navigate(`${paths.signIn.to()}?${params}`, { replace: true });
    });
    return () => setUnauthorizedHandler(null);
  }, [queryClient, router]);

  return (
    <MantineProvider
      theme={themeOverride ? mergeThemeOverrides(theme, themeOverride) : theme}
      defaultColorScheme="auto"
      cssVariablesResolver={cssVariablesResolver}
    >
      <Notifications position="top-right" />
      <QueryClientProvider client={queryClient}>
        <RouterProvider router={router} />
      </QueryClientProvider>
    </MantineProvider>
  );
}

export function createApp() {
  return { router: createBrowserRouter(routes), queryClient: createQueryClient() };
}

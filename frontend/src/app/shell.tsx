import {
  ActionIcon,
  AppShell,
  Badge,
  Burger,
  Group,
  Menu,
  NavLink,
  Text,
  Title,
  UnstyledButton,
  useComputedColorScheme,
  useMantineColorScheme,
} from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { useCallback } from 'react';
import { Link, Outlet, useLocation, useNavigate } from 'react-router';

import { useMe } from '@/features/auth/api/get-me';
import { useSignOut } from '@/features/auth/api/sign-out';
import { IdleSignOut } from '@/features/auth/components/idle-sign-out';
import { ActiveModelIndicator } from '@/features/models/components/active-model-indicator';
import { useWorklistCounts } from '@/features/worklist/api/get-worklist';
import { env } from '@/lib/env';
import { paths } from '@/lib/paths';

import { isAdmin } from './roles';

function ThemeToggle() {
  const { setColorScheme } = useMantineColorScheme();
  const scheme = useComputedColorScheme('light');
  const next = scheme === 'dark' ? 'light' : 'dark';
  return (
    <ActionIcon variant="default" size="lg" onClick={() => setColorScheme(next)} aria-label={`Switch to ${next} theme`}>
      <span aria-hidden>{scheme === 'dark' ? '☀' : '☾'}</span>
    </ActionIcon>
  );
}

export function Shell({ idleTimeoutMs = env.idleTimeoutMinutes * 60_000 }: { idleTimeoutMs?: number }) {
  const [navOpen, { toggle, close }] = useDisclosure(false);
  const { data: me } = useMe();
  const signOut = useSignOut();
  const navigate = useNavigate();
  const location = useLocation();

  const onIdleSignedOut = useCallback(() => navigate(`${paths.signIn.to()}?reason=idle`, { replace: true }), [navigate]);

  // Only a clinic member has a worklist (a superuser without a clinic gets a 403 from it).
  const counts = useWorklistCounts({ enabled: Boolean(me?.clinic) });
  const links: { to: string; label: string; count?: number; countLabel?: string }[] = [
    ...(me?.clinic
      ? [{ to: paths.worklist.to(), label: 'Worklist', count: counts.data?.unreviewed, countLabel: 'unreviewed' }]
      : []),
    { to: paths.patients.to(), label: 'Patients' },
    { to: paths.batches.to(), label: 'Bulk analysis' },
    ...(me && isAdmin(me) ? [{ to: paths.models.to(), label: 'Models' }] : []),
  ];
  // A clinic account joins with a generated username (fb-<uid>); its e-mail is what the clinician recognises.
  const displayName = me ? [me.first_name, me.last_name].filter(Boolean).join(' ') || me.email || me.username : '';

  return (
    // The navigation folds into the burger below `md`, so a tablet held upright (820 px) gives the case history
    // the whole width instead of losing a quarter of it to a sidebar.
    <AppShell header={{ height: 56 }} navbar={{ width: 220, breakpoint: 'md', collapsed: { mobile: !navOpen } }} padding="md">
      <IdleSignOut timeoutMs={idleTimeoutMs} onSignedOut={onIdleSignedOut} />
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="sm" wrap="nowrap">
            <Burger opened={navOpen} onClick={toggle} hiddenFrom="md" size="sm" aria-label="Toggle navigation" />
            <UnstyledButton component={Link} to={paths.patients.to()}>
              <Title order={2} size="h4">
                Naevus
              </Title>
            </UnstyledButton>
            {me?.clinic ? (
              <Text size="sm" c="dimmed" visibleFrom="md">
                {me.clinic.name}
              </Text>
            ) : null}
          </Group>
          <Group gap="sm" wrap="nowrap">
            <ActiveModelIndicator />
            <ThemeToggle />
            <Menu position="bottom-end" withinPortal>
              <Menu.Target>
                <UnstyledButton aria-label={`Account menu: ${displayName}`}>
                  <Text size="sm" fw={500}>
                    {displayName}
                  </Text>
                </UnstyledButton>
              </Menu.Target>
              <Menu.Dropdown>
                <Menu.Label>{me?.email || me?.username}</Menu.Label>
                <Menu.Item
                  onClick={() =>
                    signOut.mutate(undefined, {
                      onSettled: () => navigate(`${paths.signIn.to()}?reason=signed_out`, { replace: true }),
                    })
                  }
                >
                  Sign out
                </Menu.Item>
              </Menu.Dropdown>
            </Menu>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" aria-label="Main navigation">
        {links.map((link) => (
          <NavLink
            key={link.to}
            component={Link}
            to={link.to}
            label={link.label}
            rightSection={
              link.count !== undefined ? (
                <Badge size="sm" variant={link.count > 0 ? 'outline' : 'default'} color={link.count > 0 ? 'red' : undefined} aria-label={`${link.count} ${link.countLabel ?? ''}`}>
                  {link.count}
                </Badge>
              ) : null
            }
            active={location.pathname === link.to || location.pathname.startsWith(`${link.to}/`)}
            onClick={close}
          />
        ))}
      </AppShell.Navbar>
      <AppShell.Main>
        <Outlet />
      </AppShell.Main>
    </AppShell>
  );
}

import type { Me } from '@/lib/api-types';

export const isAdmin = (me: Me) => me.is_superuser || me.role === 'clinic_admin';

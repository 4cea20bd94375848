import { http, HttpResponse } from 'msw';

import { api as route, server } from '@/test/server';

import { api, ApiError, setUnauthorizedHandler } from './api-client';

describe('api client', () => {
  it('unwraps the error shape into an ApiError with code, message and fields', async () => {
    server.use(
      http.post(route('patients/'), () =>
        HttpResponse.json({ code: 'invalid', message: 'Invalid input.', fields: { mrn: ['Required.'] } }, { status: 400 }),
      ),
    );

    const error = await api.post('patients/', {}).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 400, code: 'invalid', message: 'Invalid input.', fields: { mrn: ['Required.'] } });
  });

  it('describes a non-JSON failure by its status', async () => {
    server.use(http.get(route('health/'), () => new HttpResponse('<html>Bad gateway</html>', { status: 503 })));

    const error = await api.get('health/').catch((e: unknown) => e);

    expect(error).toMatchObject({ status: 503, code: 'http_503' });
    expect((error as Error).message).toMatch(/temporarily unavailable/);
  });

  it('fetches a CSRF token first when the cookie is missing, and sends it on unsafe requests', async () => {
    const seen: (string | null)[] = [];
    server.use(
      http.post(route('auth/logout/'), ({ request }) => {
        seen.push(request.headers.get('X-CSRFToken'));
        return new HttpResponse(null, { status: 204 });
      }),
    );

    await api.post('auth/logout/');
    await api.post('auth/logout/');

    expect(seen).toEqual(['test-csrf-token', 'test-csrf-token']);
  });

  it('does not send a CSRF header on reads', async () => {
    const seen: (string | null)[] = [];
    server.use(
      http.get(route('models/'), ({ request }) => {
        seen.push(request.headers.get('X-CSRFToken'));
        return HttpResponse.json([]);
      }),
    );

    await api.get('models/');

    expect(seen).toEqual([null]);
  });

  it('reports a 401 to the unauthorized handler, unless the caller handles it', async () => {
    server.use(http.get(route('patients/'), () => HttpResponse.json({ code: 'not_authenticated' }, { status: 401 })));
    server.use(http.post(route('auth/login/'), () => HttpResponse.json({ code: 'not_authenticated' }, { status: 401 })));
    const handler = vi.fn();
    setUnauthorizedHandler(handler);

    await expect(api.get('patients/')).rejects.toMatchObject({ status: 401 });
    await expect(api.post('auth/login/', {}, { skipUnauthorizedHandler: true })).rejects.toMatchObject({ status: 401 });

    expect(handler).toHaveBeenCalledTimes(1);
    expect(handler.mock.calls[0][0]).toMatchObject({ code: 'not_authenticated' });
  });

  it('turns a dropped connection into a network error', async () => {
    server.use(http.get(route('models/'), () => HttpResponse.error()));

    await expect(api.get('models/')).rejects.toMatchObject({ status: 0, code: 'network_error' });
  });
});

import { screen, waitFor, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';

import { admin, alice, demoModel, makeModel } from '@/test/fixtures';
import { renderApp } from '@/test/render';
import { api, server } from '@/test/server';

const localPoint = {
  id: 9,
  clinic_id: 1,
  model_version: { id: 3, name: 'effnet-lite0', version: '1', is_demo: true },
  calibration: { method: 'platt', a: 2.1, b: -0.4 },
  threshold: 0.21,
  target_sensitivity: 0.95,
  report: {
    n: 64,
    melanomas: 32,
    benign: 32,
    patients: 64,
    target_sensitivity: 0.95,
    minimum: { melanomas: 20, benign: 20 },
    global: {
      threshold: 0.35,
      roc_auc: 0.812,
      roc_auc_ci95: [0.7, 0.9],
      sensitivity: 0.75,
      sensitivity_ci95: [0.6, 0.9],
      specificity: 0.8,
      specificity_ci95: [0.65, 0.93],
      ece: 0.1,
      ece_ci95: [0.05, 0.2],
    },
    local: {
      threshold: 0.21,
      roc_auc: 0.812,
      roc_auc_ci95: [0.7, 0.9],
      sensitivity: 0.969,
      sensitivity_ci95: [0.9, 1],
      specificity: 0.5,
      specificity_ci95: [0.33, 0.67],
      ece: 0.04,
      ece_ci95: [0.02, 0.12],
    },
  },
  reliability_plot_url: '/api/v1/operating-points/9/reliability.png',
  is_active: true,
  created_at: '2026-06-01T10:00:00Z',
};

function serveModels(operatingPoints: unknown[] = []) {
  let models = [
    makeModel(),
    makeModel({ id: 4, name: 'effnet-b3', version: '2', is_active: false, is_demo: false, activated_at: null, plots: {} }),
  ];
  const activations: number[] = [];
  server.use(
    http.get(api('models/'), () => HttpResponse.json(models)),
    http.get(api('operating-points/'), () => HttpResponse.json(operatingPoints)),
    http.post(api('models/:id/activate/'), ({ params }) => {
      const id = Number(params.id);
      activations.push(id);
      models = models.map((model) => ({ ...model, is_active: model.id === id }));
      return HttpResponse.json(models.find((m) => m.id === id));
    }),
  );
  return activations;
}

describe('models', () => {
  it('shows each version’s metrics, plots, threshold, and which one is active', async () => {
    server.use(http.get(api('auth/me/'), () => HttpResponse.json(admin)));
    serveModels();
    renderApp('/models');

    const active = await screen.findByRole('region', { name: 'effnet-lite0 v1' });
    expect(within(active).getByText('active')).toBeInTheDocument();
    expect(within(active).getByText('demo — not for clinical use')).toBeInTheDocument();
    expect(active).toHaveTextContent('Referral threshold35.0%');
    const metrics = within(active).getByRole('table', { name: 'Metrics of effnet-lite0 v1' });
    expect(metrics).toHaveTextContent('test.auroc0.874');
    expect(metrics).toHaveTextContent('n_test120');
    expect(within(active).getByRole('img', { name: 'ROC curve of effnet-lite0 v1' })).toHaveAttribute('src', '/media/models/3/roc.png');
    expect(within(active).getByRole('img', { name: 'Confusion matrix of effnet-lite0 v1' })).toBeInTheDocument();

    const other = screen.getByRole('region', { name: 'effnet-b3 v2' });
    expect(within(other).queryByText('active')).not.toBeInTheDocument();
    expect(within(other).queryByText('demo — not for clinical use')).not.toBeInTheDocument();
  });

  it('shows a clinic’s local validation report next to the training metrics of its version only', async () => {
    serveModels([localPoint]);
    renderApp('/models');

    const active = await screen.findByRole('region', { name: 'effnet-lite0 v1' });
    expect(within(active).getByRole('table', { name: 'Metrics of effnet-lite0 v1' })).toBeInTheDocument();
    const local = await within(active).findByRole('table', { name: 'Local validation of effnet-lite0 v1 at clinic 1' });
    expect(local).toHaveTextContent('Referral threshold35.0%21.0%');
    expect(local).toHaveTextContent('ROC AUC (95% CI)0.812 (0.700–0.900)0.812 (0.700–0.900)');
    expect(local).toHaveTextContent('Sensitivity (95% CI)75.0% (60.0%–90.0%)96.9% (90.0%–100.0%)');
    expect(local).toHaveTextContent('Specificity (95% CI)80.0% (65.0%–93.0%)50.0% (33.0%–67.0%)');
    expect(active).toHaveTextContent('Measured on 64 confirmed outcomes (32 melanoma, 32 benign, 64 patients)');
    expect(within(active).getByRole('img', { name: 'Reliability diagram of effnet-lite0 v1 at clinic 1' })).toHaveAttribute(
      'src',
      '/api/v1/operating-points/9/reliability.png',
    );

    const other = screen.getByRole('region', { name: 'effnet-b3 v2' });
    expect(within(other).queryByRole('table', { name: /Local validation/ })).not.toBeInTheDocument();
    expect(other).toHaveTextContent('No clinic operating point: predictions use the global threshold.');
  });

  it('lets a superuser make another version active', async () => {
    server.use(http.get(api('auth/me/'), () => HttpResponse.json(admin)));
    const activations = serveModels();
    const { user } = renderApp('/models');

    const other = await screen.findByRole('region', { name: 'effnet-b3 v2' });
    await user.click(within(other).getByRole('button', { name: 'Make active' }));

    await waitFor(() => expect(within(other).getByText('active')).toBeInTheDocument());
    expect(activations).toEqual([4]);
  });

  it('offers admins the Models page in the navigation but not clinicians, who cannot activate', async () => {
    serveModels();
    server.use(http.get(api('patients/'), () => HttpResponse.json({ count: 0, next: null, previous: null, results: [] })));
    const clinician = renderApp('/models');

    const other = await screen.findByRole('region', { name: 'effnet-b3 v2' });
    expect(within(other).queryByRole('button', { name: 'Make active' })).not.toBeInTheDocument();
    const nav = screen.getByRole('navigation', { name: 'Main navigation' });
    expect(within(nav).queryByRole('link', { name: 'Models' })).not.toBeInTheDocument();
    clinician.unmount();

    server.use(http.get(api('auth/me/'), () => HttpResponse.json({ ...alice, role: 'clinic_admin' })));
    renderApp('/patients');
    const adminNav = await screen.findByRole('navigation', { name: 'Main navigation' });
    expect(await within(adminNav).findByRole('link', { name: 'Models' })).toBeInTheDocument();
  });

  it('holds the header slot while the model is being checked, then shows it with its demo badge on the Models page', async () => {
    server.use(http.get(api('auth/me/'), () => HttpResponse.json(admin)));
    serveModels();
    let answer: () => void = () => {};
    const answered = new Promise<void>((resolve) => (answer = resolve));
    server.use(
      http.get(api('health/'), async () => {
        await answered;
        return HttpResponse.json({ database: 'ok', broker: 'ok', model: demoModel });
      }),
    );
    renderApp('/models');

    // The page's own data arrives first, as it did in the e2e run whose header came out empty.
    await screen.findByRole('region', { name: 'effnet-lite0 v1' });
    const indicator = within(screen.getByRole('banner')).getByRole('status', { name: 'Active model' });
    expect(indicator).toHaveTextContent('Checking the active model…');

    answer();
    await waitFor(() => expect(indicator).toHaveTextContent('Model effnet-lite0 v1'));
    expect(within(indicator).getByText('demo — not for clinical use')).toBeInTheDocument();
  });

  it('says the model status is unknown when the health check fails, rather than showing nothing', async () => {
    server.use(
      http.get(api('patients/'), () => HttpResponse.json({ count: 0, next: null, previous: null, results: [] })),
      http.get(api('health/'), () => HttpResponse.json({ code: 'server_error' }, { status: 500 })),
    );
    renderApp('/patients');

    const banner = await screen.findByRole('banner');
    // Two retries with back-off come first: a 500 may be a worker restarting.
    expect(await within(banner).findByText('model status unknown', {}, { timeout: 6000 })).toBeInTheDocument();
  });

  it('labels a demo model in the header on every screen', async () => {
    server.use(http.get(api('patients/'), () => HttpResponse.json({ count: 0, next: null, previous: null, results: [] })));
    renderApp('/patients');

    const banner = await screen.findByRole('banner');
    expect(await within(banner).findByText('demo — not for clinical use')).toBeInTheDocument();
    expect(banner).toHaveTextContent('Model effnet-lite0 v1');
  });
});

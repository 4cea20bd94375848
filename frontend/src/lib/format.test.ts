import { formatDuration, formatPercent } from './format';

describe('formatPercent', () => {
  it('shows a probability as a percentage with one decimal', () => {
    expect(formatPercent(0.8734)).toBe('87.3%');
  });

  it('shows a dash for a missing probability', () => {
    expect(formatPercent(null)).toBe('—');
  });
});

describe('formatDuration', () => {
  it('uses seconds under a minute, minutes under an hour, then hours', () => {
    expect(formatDuration(42)).toBe('42 s');
    expect(formatDuration(125)).toBe('2 min 5 s');
    expect(formatDuration(3 * 3600 + 60 * 7)).toBe('3 h 7 min');
  });
});

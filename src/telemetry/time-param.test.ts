import { describe, expect, it } from 'vitest';
import { TIME_PARAM_HINT, TimeParam } from './time-param.ts';

describe('TimeParam (the from/to of every range filter)', () => {
  it('takes an ISO time with an offset, a date (UTC midnight) or epoch milliseconds', () => {
    expect(TimeParam.parse('2026-11-27T09:30:00Z').toISOString()).toBe('2026-11-27T09:30:00.000Z');
    expect(TimeParam.parse('2026-11-27T10:30:00.250+01:00').toISOString()).toBe('2026-11-27T09:30:00.250Z');
    expect(TimeParam.parse('2026-11-27').toISOString()).toBe('2026-11-27T00:00:00.000Z');
    expect(TimeParam.parse('1795771800000').toISOString()).toBe('2026-11-27T09:30:00.000Z');
    expect(TimeParam.parse('0').getTime()).toBe(0);
  });

  it('refuses anything else with one message saying what it takes', () => {
    // No offset: the server's time zone would decide what it means.
    for (const bad of ['2026-11-27T09:30:00', '2026-02-30', 'yesterday', '', ' 12', '1e12', '-5', 'NaN']) {
      const r = TimeParam.safeParse(bad);
      expect(r.success, bad).toBe(false);
      expect(r.error?.issues[0]?.message, bad).toBe(TIME_PARAM_HINT);
    }
  });
});

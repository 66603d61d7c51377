import { z } from 'zod';

const EPOCH_MS = /^\d{1,15}$/;
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const isoDateTime = z.iso.datetime({ offset: true });
const isoDate = z.iso.date();

export const TIME_PARAM_HINT =
  'expected an ISO 8601 time with an offset (2026-11-27T09:30:00Z), a date (2026-11-27, UTC midnight) or epoch milliseconds';

/**
 * A point in time as the HTTP API's range filters take it (`from`, `to` of usage, traces, stats,
 * feedback and trace promotion): an ISO 8601 time with an offset, a calendar date (UTC midnight)
 * or epoch milliseconds. A time without an offset is refused rather than read in the server's
 * time zone.
 */
export const TimeParam = z.string().transform((s, ctx) => {
  const t = EPOCH_MS.test(s)
    ? Number(s)
    : DATE_ONLY.test(s)
      ? isoDate.safeParse(s).success
        ? Date.parse(`${s}T00:00:00Z`)
        : Number.NaN
      : isoDateTime.safeParse(s).success
        ? Date.parse(s)
        : Number.NaN;
  if (!Number.isFinite(t)) {
    ctx.addIssue({ code: 'custom', message: TIME_PARAM_HINT });
    return z.NEVER;
  }
  return new Date(t);
});

import { describe, expect, it } from 'vitest';
import { formatLocal } from '../src/index.ts';

describe('formatLocal', () => {
  it('writes the local clock time and the offset of that instant in the zone', () => {
    expect(formatLocal(new Date('2027-01-20T08:00:00Z'), 'Europe/Paris')).toBe(
      '2027-01-20 09:00 (UTC+01:00)',
    );
    expect(formatLocal(new Date('2027-07-01T07:00:00Z'), 'Europe/Paris')).toBe(
      '2027-07-01 09:00 (UTC+02:00)',
    );
    expect(formatLocal(new Date('2027-01-20T08:00:00Z'), 'UTC')).toBe('2027-01-20 08:00 (UTC+00:00)');
  });

  it('shows seconds only when there are some', () => {
    expect(formatLocal(new Date('2027-01-20T08:00:07Z'), 'Europe/Paris')).toBe(
      '2027-01-20 09:00:07 (UTC+01:00)',
    );
    expect(formatLocal(new Date('2027-01-20T08:00:00.900Z'), 'Europe/Paris')).toBe(
      '2027-01-20 09:00 (UTC+01:00)',
    );
  });

  it('writes offsets west of Greenwich, and of half and quarter hours', () => {
    expect(formatLocal(new Date('2027-01-20T12:00:00Z'), 'America/St_Johns')).toBe(
      '2027-01-20 08:30 (UTC-03:30)',
    );
    expect(formatLocal(new Date('2027-01-20T12:00:00Z'), 'Asia/Kathmandu')).toBe(
      '2027-01-20 17:45 (UTC+05:45)',
    );
    expect(formatLocal(new Date('2027-01-20T12:00:00Z'), 'Pacific/Pago_Pago')).toBe(
      '2027-01-20 01:00 (UTC-11:00)',
    );
  });

  it('passes midnight into the local date', () => {
    expect(formatLocal(new Date('2026-12-31T23:30:00Z'), 'Europe/Paris')).toBe(
      '2027-01-01 00:30 (UTC+01:00)',
    );
  });
});

// The console's clock (dom.js): days and times on the organisation's zone, whatever zone the
// computer keeps, across daylight-saving changes. Run by scripts/test.sh with `node --test`
// under several TZ settings.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { dayAt, localDay, parseLocalInput, shiftDay, toLocalInput, toTimeInput, useTimeZone } from '../js/dom.js';

const HOUR = 3600e3;

test('a Shanghai morning is that day in Shanghai, though the day before in UTC', () => {
  useTimeZone('Asia/Shanghai');
  const at = Date.UTC(2026, 11, 6, 23, 30); // 07:30 on 7 December in Shanghai
  assert.equal(localDay(at), '2026-12-07');
  assert.equal(toLocalInput(at), '2026-12-07T07:30');
  assert.equal(dayAt('2026-12-07', 7, 30), at);
  assert.equal(parseLocalInput('2026-12-07T07:30'), at);
  assert.equal(shiftDay('2026-12-07', 1), '2026-12-08');
});

test('days across daylight-saving changes last 23 and 25 hours, and their hours stay put', () => {
  useTimeZone('America/New_York');
  assert.equal(dayAt('2026-03-08'), Date.UTC(2026, 2, 8, 5));
  assert.equal(dayAt('2026-03-09') - dayAt('2026-03-08'), 23 * HOUR);
  assert.equal(dayAt('2026-11-02') - dayAt('2026-11-01'), 25 * HOUR);
  assert.equal(toTimeInput(dayAt('2026-03-08', 9, 15)), '09:15');
  assert.equal(toTimeInput(dayAt('2026-11-01', 9, 15)), '09:15');
  assert.equal(shiftDay('2026-03-08', 1), '2026-03-09');
  assert.equal(shiftDay('2026-11-01', 1), '2026-11-02');
  assert.equal(shiftDay('2026-11-02', -1), '2026-11-01');
});

test('an unknown zone leaves the computer\'s own', () => {
  useTimeZone('Mars/Olympus');
  const now = Date.now();
  assert.equal(parseLocalInput(toLocalInput(now)), Math.floor(now / 60e3) * 60e3);
  assert.equal(parseLocalInput('not a time'), null);
});

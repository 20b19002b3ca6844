// A site's whole address (dom.js siteText), written the way its country writes it, as the
// server's service report does (protocol Site::full_address). Run by scripts/test.sh.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { siteText } from '../js/dom.js';

test('a Chinese address runs largest part first, a municipality once', () => {
  assert.equal(siteText({ province: '上海市', city: '上海市', district: '浦东新区', address: '世纪大道100号' }), '上海市浦东新区世纪大道100号');
  assert.equal(siteText({ province: '广东省', city: '广州市', district: '天河区', address: '广州市天河区天河路1号' }), '广东省广州市天河区天河路1号');
});

test('an address in Latin script runs street first, separated by commas', () => {
  assert.equal(siteText({ province: 'Scotland', city: 'Edinburgh', district: 'Leith', address: '12 Harbour Road' }), '12 Harbour Road, Leith, Edinburgh, Scotland');
  assert.equal(siteText({ city: 'Leith', address: '7 Orbit Close' }), '7 Orbit Close, Leith');
  assert.equal(siteText({ address: '1 Main Street' }), '1 Main Street');
});

test('the street may already start with the city, and a short province matches its city', () => {
  assert.equal(siteText({ province: '广东省', city: '广州市', district: '天河区', address: '广州市天河区天河路1号' }), '广东省广州市天河区天河路1号');
  assert.equal(siteText({ province: '上海', city: '上海市', district: '浦东新区', address: '世纪大道100号' }), '上海浦东新区世纪大道100号');
  assert.equal(siteText({ province: 'Bayern', city: 'München', address: 'Hauptstraße 1' }), 'Hauptstraße 1, München, Bayern');
});

import { describe, expect, it } from 'vitest';
import {
  containsPoint,
  distanceKm,
  parseCircle,
  parsePoint,
  parsePolygon,
  type CapShape,
} from './geometry.ts';
import { parseCap } from './parse.ts';

const TOURS = [47.394, 0.689] as const;
const ORLEANS = [47.903, 1.909] as const;

function polygon(text: string): CapShape {
  const read = parsePolygon(text);
  if ('problem' in read) throw new Error(read.problem);
  return read.polygon;
}

describe('CAP area geometry', () => {
  it('reads points latitude first, with spaces around the comma, and says why not', () => {
    expect(parsePoint('47.394,0.689')).toEqual([47.394, 0.689]);
    expect(parsePoint(' -33.9 , 151.2 ')).toEqual([-33.9, 151.2]);
    expect(parsePoint('91,0')).toBe('latitude 91 is outside -90…90');
    expect(parsePoint('0,-181')).toBe('longitude -181 is outside -180…180');
    expect(parsePoint('47.3;0.6')).toBe('not a lat,lon pair of decimal degrees');
    expect(parsePoint('1e3,2')).toBe('not a lat,lon pair of decimal degrees');
  });

  it('tells a point inside a polygon from one outside, closing an open ring', () => {
    const open = parsePolygon('47.35,0.62 47.45, 0.62 47.45,0.78 47.35,0.78');
    expect(open).toMatchObject({ repaired: 'its last point is not its first: closed' });
    const ring = polygon('47.35,0.62 47.45,0.62 47.45,0.78 47.35,0.78 47.35,0.62');
    expect(containsPoint(ring, TOURS)).toBe(true);
    expect(containsPoint(ring, ORLEANS)).toBe(false);
    // Just outside each edge.
    for (const p of [
      [47.34, 0.7],
      [47.46, 0.7],
      [47.4, 0.61],
      [47.4, 0.79],
    ] as const) {
      expect(containsPoint(ring, p), p.join(',')).toBe(false);
    }
    // A concave polygon: the notch between its arms is outside.
    const u = polygon('0,0 0,3 3,3 3,2 1,2 1,1 3,1 3,0 0,0');
    expect(containsPoint(u, [0.5, 1.5])).toBe(true);
    expect(containsPoint(u, [2, 1.5])).toBe(false);
    expect(containsPoint(u, [2, 0.5])).toBe(true);
  });

  it('measures circles in kilometres on the sphere', () => {
    // Tours to Orléans: 0.509° of latitude (56.6 km) and 1.22° of longitude at 47.6° N (91.4 km),
    // about 107.5 km as the crow flies.
    expect(distanceKm(TOURS, ORLEANS)).toBeGreaterThan(106.5);
    expect(distanceKm(TOURS, ORLEANS)).toBeLessThan(108.5);
    const read = parseCircle('47.903,1.909 120');
    if ('problem' in read) throw new Error(read.problem);
    expect(containsPoint(read.circle, TOURS)).toBe(true);
    const small = parseCircle('47.903,1.909 20');
    if ('problem' in small) throw new Error(small.problem);
    expect(containsPoint(small.circle, TOURS)).toBe(false);
    expect(parseCircle('47.9,1.9')).toEqual({ problem: 'not "lat,lon radius"' });
    expect(parseCircle('47.9,1.9 -5')).toEqual({ problem: 'radius: not a distance in kilometres' });
    expect(parseCircle('147.9,1.9 5')).toEqual({ problem: 'centre: latitude 147.9 is outside -90…90' });
  });

  it('refuses a polygon of fewer than three distinct corners or with a bad point', () => {
    expect(parsePolygon('47,0 47,1 47,0 47,0')).toMatchObject({
      problem: expect.stringMatching(/2 distinct/),
    });
    expect(parsePolygon('47,0 47,1 95,1 47,0')).toMatchObject({
      problem: 'point 3: latitude 95 is outside -90…90',
    });
  });

  it('keeps an alert whose geometry cannot be read, leaving the geometry out with a warning', () => {
    const alert = parseCap(`<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>PC-1</identifier>
  <sender>protection-civile@region.example</sender>
  <sent>2026-12-01T08:00:00+01:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <category>Safety</category>
    <event>Crue</event>
    <urgency>Expected</urgency>
    <severity>Severe</severity>
    <certainty>Likely</certainty>
    <area>
      <areaDesc>Loire</areaDesc>
      <polygon>47.35,0.62 47.45,0.62 47.45,0.78 47.35,0.62</polygon>
      <polygon>95,0.3 46.7,0.3 46.7,0.5 95,0.3</polygon>
      <circle>47.9,1.9 abc</circle>
      <circle>47.9,1.9 20</circle>
    </area>
  </info>
</alert>`);
    const info = alert.infos[0]!;
    expect(info.shapes.map((s) => s.kind)).toEqual(['polygon', 'circle']);
    expect(info.warnings).toEqual([
      expect.objectContaining({
        path: 'alert/info[1]/area[1]/polygon[2]',
        message: '<polygon> point 1: latitude 95 is outside -90…90: left out',
        line: 18,
      }),
      expect.objectContaining({
        path: 'alert/info[1]/area[1]/circle[1]',
        message: '<circle> radius: not a distance in kilometres: left out',
      }),
    ]);
  });
});

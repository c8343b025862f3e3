/**
 * CAP's area geometry: `<polygon>` ("lat,lon lat,lon …", WGS 84, at least four pairs, the first
 * repeated last) and `<circle>` ("lat,lon radius", the radius in kilometres), and whether a point
 * lies inside one. Publishers that give no geocode describe their areas this way only.
 */

/** A point as CAP writes it: [latitude, longitude] in decimal degrees. */
export type LatLon = readonly [number, number];

export interface CapPolygon {
  kind: 'polygon';
  /** Its corners, closed (the last is the first). */
  points: LatLon[];
}

export interface CapCircle {
  kind: 'circle';
  centre: LatLon;
  radiusKm: number;
}

export type CapShape = CapPolygon | CapCircle;

/** The most corners read of one polygon: real ones have tens to a few thousand. */
const MAX_POINTS = 20_000;
const EARTH_RADIUS_KM = 6371.0088;
const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/;

/**
 * "47.39,0.69" (spaces around the comma tolerated) as a point, or why not. Reasons quote only
 * numbers already read as such, never the sender's text.
 */
export function parsePoint(text: string): LatLon | string {
  const halves = text.split(',');
  if (halves.length !== 2) return 'not a lat,lon pair of decimal degrees';
  const [lat, lon] = halves.map((h) => h.trim());
  if (!NUMBER.test(lat!) || !NUMBER.test(lon!)) return 'not a lat,lon pair of decimal degrees';
  const point: LatLon = [Number(lat), Number(lon)];
  if (Math.abs(point[0]) > 90) return `latitude ${lat} is outside -90…90`;
  if (Math.abs(point[1]) > 180) return `longitude ${lon} is outside -180…180`;
  return point;
}

/** Pairs written "lat, lon" (a space after the comma, as some publishers do) read as one token. */
function tokens(text: string): string[] {
  return text
    .trim()
    .replace(/\s*,\s*/g, ',')
    .split(/\s+/)
    .filter((t) => t !== '');
}

/**
 * A `<polygon>`'s text as a closed polygon. An open ring is closed (some publishers leave the
 * last pair out); `repaired` says so. Fewer than three distinct corners is no area.
 */
export function parsePolygon(text: string): { polygon: CapPolygon; repaired?: string } | { problem: string } {
  const pairs = tokens(text);
  if (pairs.length > MAX_POINTS)
    return { problem: `has ${pairs.length} points; at most ${MAX_POINTS} are read` };
  const points: LatLon[] = [];
  for (const [i, pair] of pairs.entries()) {
    const point = parsePoint(pair);
    if (typeof point === 'string') return { problem: `point ${i + 1}: ${point}` };
    points.push(point);
  }
  const distinct = new Set(points.map((p) => `${p[0]},${p[1]}`));
  if (distinct.size < 3) return { problem: `has ${distinct.size} distinct points; an area needs at least 3` };
  const first = points[0]!;
  const last = points[points.length - 1]!;
  if (first[0] !== last[0] || first[1] !== last[1]) {
    return {
      polygon: { kind: 'polygon', points: [...points, first] },
      repaired: 'its last point is not its first: closed',
    };
  }
  return { polygon: { kind: 'polygon', points } };
}

/** A `<circle>`'s text ("lat,lon radius") as a circle. */
export function parseCircle(text: string): { circle: CapCircle } | { problem: string } {
  const parts = tokens(text);
  if (parts.length !== 2) return { problem: 'not "lat,lon radius"' };
  const centre = parsePoint(parts[0]!);
  if (typeof centre === 'string') return { problem: `centre: ${centre}` };
  const radius = parts[1]!;
  if (!NUMBER.test(radius) || Number(radius) < 0) {
    return { problem: 'radius: not a distance in kilometres' };
  }
  return { circle: { kind: 'circle', centre, radiusKm: Number(radius) } };
}

/**
 * Whether `point` lies inside `shape` (on its edge counts as inside for a circle). Polygons are
 * judged on the latitude/longitude plane, as CAP draws them: exact enough at the size of a
 * warning area; one that crosses the 180th meridian is not read as such.
 */
export function containsPoint(shape: CapShape, point: LatLon): boolean {
  if (shape.kind === 'circle') return distanceKm(shape.centre, point) <= shape.radiusKm;
  const [y, x] = point;
  const ring = shape.points;
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [yi, xi] = ring[i]!;
    const [yj, xj] = ring[j]!;
    // A ray from the point towards east crosses the edge from i to j.
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Great-circle distance (haversine), in kilometres. */
export function distanceKm(a: LatLon, b: LatLon): number {
  const rad = Math.PI / 180;
  const dLat = (b[0] - a[0]) * rad;
  const dLon = (b[1] - a[1]) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a[0] * rad) * Math.cos(b[0] * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

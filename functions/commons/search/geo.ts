/**
 * Geo filters of searches: a circle around a point (`geo_point` with `geo_limit`) or a box
 * between two corners (`geo_box`), as Clarifai's `Geo` message defines them.
 */
import type { GeoPoint } from '#commons/storage/inputs.ts';

/** Mean Earth radius (IUGG), the radius that the haversine distance uses. */
export const EARTH_RADIUS_KM = 6371.0088;

/** The international mile. */
export const KM_PER_MILE = 1.609344;

/** Units of `geo_limit.type`, with the central angle in radians that one unit is. */
export const GEO_LIMIT_UNITS = {
  withinKilometers: 1 / EARTH_RADIUS_KM,
  withinMiles: KM_PER_MILE / EARTH_RADIUS_KM,
  withinDegrees: Math.PI / 180,
  withinRadians: 1,
} as const;

export type GeoLimitType = keyof typeof GEO_LIMIT_UNITS;

/**
 * The area a geo filter keeps. A circle is stored as its central angle in radians, so that
 * every `geo_limit` unit compares the same way. A box does not wrap around the antimeridian:
 * it spans from the smaller to the larger longitude of its corners.
 */
export type GeoArea =
  | { kind: 'circle'; center: GeoPoint; radiusRadians: number }
  | { kind: 'box'; minLatitude: number; maxLatitude: number; minLongitude: number; maxLongitude: number };

const toRadians = (degrees: number): number => (degrees * Math.PI) / 180;

/** Returns the central angle between two points in radians (haversine formula). */
export function centralAngle(a: GeoPoint, b: GeoPoint): number {
  const dLatitude = toRadians(b.latitude - a.latitude);
  const dLongitude = toRadians(b.longitude - a.longitude);
  const h =
    Math.sin(dLatitude / 2) ** 2 +
    Math.cos(toRadians(a.latitude)) * Math.cos(toRadians(b.latitude)) * Math.sin(dLongitude / 2) ** 2;
  return 2 * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Returns the great-circle distance between two points in kilometers. */
export function distanceKm(a: GeoPoint, b: GeoPoint): number {
  return centralAngle(a, b) * EARTH_RADIUS_KM;
}

/** Returns a circle of `value` units of `type` around `center`. */
export function geoCircle(center: GeoPoint, type: GeoLimitType, value: number): GeoArea {
  return { kind: 'circle', center, radiusRadians: value * GEO_LIMIT_UNITS[type] };
}

/** Returns the box whose opposite corners are `a` and `b`. */
export function geoBox(a: GeoPoint, b: GeoPoint): GeoArea {
  return {
    kind: 'box',
    minLatitude: Math.min(a.latitude, b.latitude),
    maxLatitude: Math.max(a.latitude, b.latitude),
    minLongitude: Math.min(a.longitude, b.longitude),
    maxLongitude: Math.max(a.longitude, b.longitude),
  };
}

/** Returns whether `point` lies in `area`, its border included. */
export function isInArea(point: GeoPoint, area: GeoArea): boolean {
  if (area.kind === 'circle') {
    return centralAngle(area.center, point) <= area.radiusRadians;
  }
  return (
    point.latitude >= area.minLatitude &&
    point.latitude <= area.maxLatitude &&
    point.longitude >= area.minLongitude &&
    point.longitude <= area.maxLongitude
  );
}

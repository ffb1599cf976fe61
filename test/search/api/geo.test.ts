import { describe, expect, it } from 'vitest';
import { distanceKm, geoBox, geoCircle, isInArea } from '#commons/search/geo.ts';

const BERLIN = { longitude: 13.405, latitude: 52.52 };
const PARIS = { longitude: 2.3522, latitude: 48.8566 };
const POTSDAM = { longitude: 13.0645, latitude: 52.3906 };

describe('geo distance', () => {
  it('matches the Berlin–Paris great circle', () => {
    // About 877.5 km by the haversine formula on the mean Earth radius.
    expect(distanceKm(BERLIN, PARIS)).toBeGreaterThan(875);
    expect(distanceKm(BERLIN, PARIS)).toBeLessThan(881);
  });

  it('is zero for the same point', () => {
    expect(distanceKm(BERLIN, BERLIN)).toBe(0);
  });
});

describe('geo circle', () => {
  it('keeps points inside the radius in each unit', () => {
    const cases = [
      { type: 'withinKilometers', value: 30, potsdam: true, paris: false },
      { type: 'withinKilometers', value: 900, potsdam: true, paris: true },
      { type: 'withinMiles', value: 20, potsdam: true, paris: false },
      { type: 'withinMiles', value: 500, potsdam: true, paris: false },
      { type: 'withinDegrees', value: 1, potsdam: true, paris: false },
      { type: 'withinDegrees', value: 8, potsdam: true, paris: true },
      { type: 'withinRadians', value: 0.2, potsdam: true, paris: true },
    ] as const;
    for (const { type, value, potsdam, paris } of cases) {
      const area = geoCircle(BERLIN, type, value);
      expect(isInArea(POTSDAM, area), `${value} ${type} around Berlin holds Potsdam`).toBe(potsdam);
      expect(isInArea(PARIS, area), `${value} ${type} around Berlin holds Paris`).toBe(paris);
    }
  });

  it('converts miles to kilometers', () => {
    // Berlin to Potsdam is about 27.2 km, which is about 16.9 miles.
    expect(isInArea(POTSDAM, geoCircle(BERLIN, 'withinMiles', 17))).toBe(true);
    expect(isInArea(POTSDAM, geoCircle(BERLIN, 'withinMiles', 16.8))).toBe(false);
    expect(isInArea(POTSDAM, geoCircle(BERLIN, 'withinKilometers', 17))).toBe(false);
  });
});

describe('geo box', () => {
  it('keeps points between its corners in any corner order', () => {
    const box = geoBox({ longitude: 14, latitude: 53 }, { longitude: 12.5, latitude: 52 });

    expect(isInArea(BERLIN, box)).toBe(true);
    expect(isInArea(POTSDAM, box)).toBe(true);
    expect(isInArea(PARIS, box)).toBe(false);
  });

  it('includes its border', () => {
    const box = geoBox(BERLIN, PARIS);

    expect(isInArea(BERLIN, box)).toBe(true);
    expect(isInArea(PARIS, box)).toBe(true);
  });
});

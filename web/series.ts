// Thinning a time series for drawing: at most one point per horizontal pixel column.

/**
 * Keep the last point of each of `columns` time slices (spend only grows, so the last is the
 * highest): the drawn line is the same, the DOM stays small. The first point is kept too.
 *
 * @example
 *   thin(tenThousandPoints, 600).length // ≤ 601
 */
export function thin(points: Array<[number, number]>, columns: number): Array<[number, number]> {
  if (points.length <= columns) return points;
  const t0 = points[0]![0];
  const span = points[points.length - 1]![0] - t0 || 1;
  const out: Array<[number, number]> = [points[0]!];
  let col = -1;
  for (const p of points) {
    const c = Math.floor(((p[0] - t0) / span) * (columns - 1));
    if (c === col) out[out.length - 1] = p;
    else out.push(p), (col = c);
  }
  return out;
}

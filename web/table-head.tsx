import type { ComponentChildren } from 'preact';

/**
 * A table's header row: one column per label, numbers right-aligned as their cells are: the
 * labels from `numFrom` on, and those at the places `num` lists (a number column between text
 * ones). Every panel's tables use it so their headers read and align alike.
 * @example <TableHead cols={['Model', 'Calls', 'Cost']} numFrom={1} />
 * @example <TableHead cols={['Time', 'Call', 'Status', 'Tier']} num={[2]} />
 */
export function TableHead(p: { cols: readonly ComponentChildren[]; numFrom?: number; num?: readonly number[] }) {
  const isNum = (i: number) => (p.numFrom !== undefined && i >= p.numFrom) || p.num?.includes(i) === true;
  return (
    <thead>
      <tr>
        {p.cols.map((c, i) => (
          <th scope="col" class={isNum(i) ? 'num' : undefined}>
            {c}
          </th>
        ))}
      </tr>
    </thead>
  );
}

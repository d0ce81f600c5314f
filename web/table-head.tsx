import type { ComponentChildren } from 'preact';

/**
 * A table's header row: one column per label, the labels from `numFrom` on numbers (right-aligned,
 * as their cells are). Each panel's tables share it so their headers read and align alike.
 * @example <TableHead cols={['Model', 'Calls', 'Cost']} numFrom={1} />
 */
export function TableHead(p: { cols: readonly ComponentChildren[]; numFrom: number }) {
  return (
    <thead>
      <tr>
        {p.cols.map((c, i) => (
          <th scope="col" class={i >= p.numFrom ? 'num' : undefined}>
            {c}
          </th>
        ))}
      </tr>
    </thead>
  );
}

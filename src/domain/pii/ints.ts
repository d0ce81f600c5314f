/**
 * A growing list of integers off the heap: offsets of a long text or a list answer's hundreds of
 * thousands of values, without a JS array's per-item cost. Read `items` up to `length`.
 * @example
 * const xs = new Ints();
 * xs.push(7);
 * xs.items.subarray(0, xs.length); // Int32Array [7]
 */
export class Ints {
  items: Int32Array;
  length = 0;

  constructor(capacity = 16) {
    this.items = new Int32Array(capacity);
  }

  push(n: number): void {
    if (this.length === this.items.length) {
      const more = new Int32Array(this.length * 2);
      more.set(this.items);
      this.items = more;
    }
    this.items[this.length++] = n;
  }
}

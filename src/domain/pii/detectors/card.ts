// Payment cards: the Luhn checksum alone lets one random digit run in ten through, so the
// issuer prefix must also agree with the length (a 16-digit number starting 34 is no Amex).

// The numeric scanner keeps a run's digits as values (0-9) in a reused array, so these read
// `d[0..n)` and no string is made for the runs they turn down.

export function luhnOk(d: ArrayLike<number>, n: number): boolean {
  let sum = 0;
  let double = false;
  for (let i = n - 1; i >= 0; i--) {
    let v = d[i]!;
    if (double) {
      v *= 2;
      if (v > 9) v -= 9;
    }
    sum += v;
    double = !double;
  }
  return sum % 10 === 0;
}

/** Issuer identification number ranges and the lengths each network issues (`n`: at least four digits). */
export function issuerAccepts(d: ArrayLike<number>, n: number): boolean {
  if (d[0] === 4) return n === 13 || n === 16 || n === 19; // Visa
  const p2 = d[0]! * 10 + d[1]!;
  const p3 = p2 * 10 + d[2]!;
  const p4 = p3 * 10 + d[3]!;
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return n === 16; // Mastercard
  if (p2 === 34 || p2 === 37) return n === 15; // American Express
  const long = n >= 16 && n <= 19;
  if (p4 >= 2200 && p4 <= 2204) return long; // Mir
  if (p4 >= 3528 && p4 <= 3589) return long; // JCB
  if ((p3 >= 300 && p3 <= 305) || p2 === 36 || p2 === 38 || p2 === 39) return n >= 14 && n <= 19; // Diners
  if (p4 === 6011 || (p3 >= 644 && p3 <= 649) || p2 === 65 || p2 === 62) return long; // Discover, UnionPay
  if (p2 === 50 || (p2 >= 56 && p2 <= 69)) return n >= 13 && n <= 19; // Maestro
  return false;
}

/**
 * Whether the first `n` group lengths are a card's print: in fours (4-4-4-4, and 4-4-4-4-3 for 19
 * digits), a 15-digit Amex or 14-digit Diners also typed in fours (4-4-4-3, 4-4-4-2, as forms that
 * group every card by four print them), or the networks' own 4-6-5 (Amex) and 4-6-4 (Diners). Not
 * 4-4-4-1 (no card is printed so; a reference number in fours that passes Luhn would be one) nor
 * 4-4-4-4-1/2 (an IBAN's groups after a country code that failed its checksum).
 */
export function cardGrouping(groups: ArrayLike<number>, n = groups.length): boolean {
  if (n === 3) return groups[0] === 4 && groups[1] === 6 && (groups[2] === 5 || groups[2] === 4);
  if (n !== 4 && n !== 5) return false;
  for (let i = 0; i < n - 1; i++) if (groups[i] !== 4) return false;
  const last = groups[n - 1]!;
  return n === 4 ? last >= 2 && last <= 4 : last === 3;
}

/** `d[0..n)`: the digit values of a run. */
export function validCard(d: ArrayLike<number>, n: number): boolean {
  return n >= 13 && n <= 19 && issuerAccepts(d, n) && luhnOk(d, n);
}

import { isDigit } from '../chars.js';

// Payment cards: the Luhn checksum alone lets one random digit run in ten through, so the
// issuer prefix must also agree with the length (a 16-digit number starting 34 is no Amex).

export function luhnOk(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** Issuer identification number ranges and the lengths each network issues (`digits`: at least four). */
export function issuerAccepts(digits: string): boolean {
  const n = digits.length;
  if (digits[0] === '4') return n === 13 || n === 16 || n === 19; // Visa
  // The first two, three and four digits as numbers, without a slice for each.
  for (let i = 0; i < 4; i++) if (!isDigit(digits.charCodeAt(i))) return false; // no prefix below matches
  const p2 = (digits.charCodeAt(0) - 48) * 10 + digits.charCodeAt(1) - 48;
  const p3 = p2 * 10 + digits.charCodeAt(2) - 48;
  const p4 = p3 * 10 + digits.charCodeAt(3) - 48;
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

// How cards are printed: 4-4-4-4 (most), 4-4-4-4-3 (19 digits), 4-6-5 (Amex), 4-6-4 (Diners).
const GROUPINGS: ReadonlyArray<readonly number[]> = [
  [4, 4, 4, 4],
  [4, 4, 4, 4, 3],
  [4, 6, 5],
  [4, 6, 4],
];

export function cardGrouping(groups: readonly number[]): boolean {
  return GROUPINGS.some((g) => g.length === groups.length && g.every((n, i) => groups[i] === n));
}

export function validCard(digits: string): boolean {
  return digits.length >= 13 && digits.length <= 19 && issuerAccepts(digits) && luhnOk(digits);
}

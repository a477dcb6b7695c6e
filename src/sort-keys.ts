/**
 * Sorts an array of object keys in place by UTF-16 code units (the order of `Array.prototype.sort()` without
 * a comparator) and returns it. Insertion sort: objects have a handful of keys, and V8's built-in sort copies
 * the array into scratch space on every call, which at a few calls per event was the ingest path's largest
 * allocation.
 */
export function sortKeys(keys: string[]): string[] {
  if (keys.length > 32) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i] as string;
    let j = i - 1;
    while (j >= 0 && (keys[j] as string) > k) {
      keys[j + 1] = keys[j] as string;
      j--;
    }
    keys[j + 1] = k;
  }
  return keys;
}

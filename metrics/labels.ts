/**
 * Label values must come from small sets: a label value is a time series in Prometheus, so a
 * bucket, key or version id in a label would grow the server without bound. Values that come
 * from outside (error types, dead-letter kinds) go through a BoundedLabel.
 */

/** Most distinct values a BoundedLabel passes on; later new values become `other`. */
export const DEFAULT_MAX_LABEL_VALUES = 50;
export const OTHER_LABEL = 'other';

/** Keeps label values short and printable. */
export function cleanLabelValue(value: string, maxLength = 80): string {
  // eslint-disable-next-line no-control-regex
  const printable = value.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return (printable || 'unknown').slice(0, maxLength);
}

/**
 * A label fed by values from outside: passes the first `max` distinct values (cleaned), and
 * maps every later new value to `other`, so the number of series stays bounded whatever the
 * input.
 */
export class BoundedLabel {
  private readonly seen = new Set<string>();

  constructor(
    private readonly max = DEFAULT_MAX_LABEL_VALUES,
    private readonly clean: (value: string) => string = (v) => cleanLabelValue(v),
  ) {}

  of(value: string): string {
    const cleaned = this.clean(value);
    if (this.seen.has(cleaned)) return cleaned;
    if (this.seen.size >= this.max) return OTHER_LABEL;
    this.seen.add(cleaned);
    return cleaned;
  }
}

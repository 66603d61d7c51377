/**
 * Inline SVG icons: they render the same on every machine (emoji depend on installed fonts) and
 * take the text colour. Decorative: the control around them carries the accessible name.
 */

// Material Design "thumb_up" (Apache-2.0); thumbs-down is the same shape turned over.
const THUMB =
  'M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 7.59 7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z';

export function ThumbIcon({ down = false, size = 18 }: { down?: boolean; size?: number }) {
  return (
    <svg
      class="icon"
      width={size}
      height={size}
      viewBox="0 0 24 24"
      aria-hidden="true"
      focusable="false"
      fill="currentColor"
    >
      <path d={THUMB} transform={down ? 'rotate(180 12 12)' : undefined} />
    </svg>
  );
}

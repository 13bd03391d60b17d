const PLACEHOLDER = /\$\{([A-Za-z_][A-Za-z0-9_.-]*)(?::([^}]*))?\}/g;

/**
 * Replaces the placeholders of `text` with `values`, in one pass.
 *
 * - `${name}` becomes `values[name]`; when `name` has no value the placeholder
 *   stays as written, so a typo shows up in the result rather than vanishing.
 * - `${name:default}` becomes `values[name]`, or `default` when `name` has no
 *   value. The default is everything after the first `:` up to the first `}`:
 *   it may be empty (`${name:}`) and may contain `:` (`${url:http://host:80}`),
 *   but not `}`.
 *
 * Names match `[A-Za-z_][A-Za-z0-9_.-]*`; anything else, such as `${1x}` or
 * `$name`, is left alone. Only own properties of `values` count (`${toString}`
 * is not an inherited method). Replacements are not expanded again: a value
 * containing `${other}` is inserted as it is. There is no escape sequence:
 * `$${name}` is a `$` followed by the expansion of `${name}`.
 *
 * @example
 * ```ts
 * expandPlaceholders('${greeting:hello}, ${who}!', { who: 'world' }); // 'hello, world!'
 * ```
 */
export function expandPlaceholders(text: string, values: Readonly<Record<string, string>>): string {
  return text.replace(PLACEHOLDER, (placeholder: string, name: string, fallback: string | undefined) => {
    const value = Object.hasOwn(values, name) ? values[name] : undefined;
    if (typeof value === 'string') return value;
    return fallback ?? placeholder;
  });
}

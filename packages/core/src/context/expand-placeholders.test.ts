// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are placeholder templates, not JS templates.
import { describe, expect, it } from 'vitest';
import { expandPlaceholders } from './expand-placeholders.js';

describe('expandPlaceholders', () => {
  it('replaces ${name} with its value', () => {
    expect(expandPlaceholders('host=${host} port=${port}', { host: 'example.org', port: '80' })).toBe(
      'host=example.org port=80',
    );
  });

  it('uses the default only when the value is missing', () => {
    expect(expandPlaceholders('${a:one}/${b:two}', { a: 'A' })).toBe('A/two');
  });

  it('prefers an empty value over the default', () => {
    expect(expandPlaceholders('[${a:default}]', { a: '' })).toBe('[]');
  });

  it('accepts empty defaults', () => {
    expect(expandPlaceholders('[${a:}]', {})).toBe('[]');
  });

  it('keeps colons inside defaults', () => {
    expect(expandPlaceholders('${url:http://host:8080/a:b}', {})).toBe('http://host:8080/a:b');
    expect(expandPlaceholders('${x::}', {})).toBe(':');
    expect(expandPlaceholders('${url:http://host:8080}', { url: 'https://other' })).toBe('https://other');
  });

  it('leaves an unknown placeholder without default as written', () => {
    expect(expandPlaceholders('a ${missing} b', {})).toBe('a ${missing} b');
    expect(expandPlaceholders('${known}${missing}', { known: 'k' })).toBe('k${missing}');
  });

  it('expands adjacent placeholders', () => {
    expect(expandPlaceholders('${a}${b:2}${c}', { a: '1', c: '3' })).toBe('123');
  });

  it('does not expand values again', () => {
    expect(expandPlaceholders('${a}', { a: '${b}', b: 'no' })).toBe('${b}');
    expect(expandPlaceholders('${a:${b}}', { b: 'no' })).toBe('${b}');
  });

  it('inserts values literally, including $ sequences that String.replace would interpret', () => {
    expect(expandPlaceholders('${a}', { a: "$& $' $` $$ $1" })).toBe("$& $' $` $$ $1");
  });

  it('accepts names with digits, dots, hyphens and underscores', () => {
    const values = { _x: '1', 'vm.name': '2', 'my-var_2': '3' };
    expect(expandPlaceholders('${_x} ${vm.name} ${my-var_2}', values)).toBe('1 2 3');
  });

  it('leaves text that is not a placeholder alone', () => {
    const text = '$name ${1x} ${} ${a b} ${unclosed $ {a} ${a:no-close';
    expect(expandPlaceholders(text, { name: 'N', a: 'A', '1x': 'bad' })).toBe(text);
  });

  it('has no escape: $${a} is a dollar sign followed by the expansion', () => {
    expect(expandPlaceholders('$${a}', { a: 'A' })).toBe('$A');
  });

  it('ignores inherited properties of the values object', () => {
    expect(expandPlaceholders('${toString} ${constructor:none}', {})).toBe('${toString} none');
  });

  it('ends a default at the first }', () => {
    expect(expandPlaceholders('${a:b}c}', {})).toBe('bc}');
  });
});

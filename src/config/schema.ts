/**
 * A tiny declarative schema for Herald's config: every key is known, typed, has a default
 * (or is required), and unknown keys are an error naming their path. Parsing returns plain
 * data that the caller deep-freezes.
 */

export type Field =
  | { kind: 'string'; default?: string; nonEmpty?: boolean; pattern?: RegExp; oneOf?: readonly string[] }
  | { kind: 'int'; default?: number; min?: number; max?: number }
  | { kind: 'bool'; default?: boolean }
  | { kind: 'stringList'; default?: readonly string[]; oneOf?: readonly string[] }
  | { kind: 'stringMap'; default?: Readonly<Record<string, string>> }
  | { kind: 'object'; fields: Schema; optional?: boolean }
  | { kind: 'list'; of: Schema; default?: readonly unknown[] };

export type Schema = Readonly<Record<string, Field>>;

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly path: string,
    problem: string,
  ) {
    super(`${source}: ${path ? `"${path}" ` : ''}${problem}`);
    this.name = 'ConfigError';
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function join(path: string, key: string | number): string {
  return typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key;
}

export function parseObject(schema: Schema, input: unknown, source: string, path: string): Record<string, unknown> {
  const raw = input === undefined ? {} : input;
  if (!isPlainObject(raw)) throw new ConfigError(source, path, 'must be an object');
  for (const key of Object.keys(raw)) {
    if (!Object.hasOwn(schema, key)) {
      const known = Object.keys(schema).join(', ');
      throw new ConfigError(source, join(path, key), `is not a known setting (known here: ${known})`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(schema)) {
    const value = parseField(field, raw[key], source, join(path, key));
    if (value !== undefined) out[key] = value;
  }
  return out;
}

function parseField(field: Field, value: unknown, source: string, path: string): unknown {
  if (value === undefined || value === null) {
    if (field.kind === 'object') return field.optional ? undefined : parseObject(field.fields, {}, source, path);
    if (field.default !== undefined) return field.default;
    throw new ConfigError(source, path, 'is required');
  }
  switch (field.kind) {
    case 'string': {
      if (typeof value !== 'string') throw new ConfigError(source, path, 'must be a string');
      if (field.nonEmpty && value.length === 0) throw new ConfigError(source, path, 'must not be empty');
      if (field.pattern && !field.pattern.test(value)) {
        throw new ConfigError(source, path, `must match ${String(field.pattern)}`);
      }
      if (field.oneOf && !field.oneOf.includes(value)) {
        throw new ConfigError(source, path, `must be one of ${field.oneOf.join(', ')}`);
      }
      return value;
    }
    case 'int': {
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
        throw new ConfigError(source, path, 'must be a whole number');
      }
      if (field.min !== undefined && value < field.min) throw new ConfigError(source, path, `must be ≥ ${field.min}`);
      if (field.max !== undefined && value > field.max) throw new ConfigError(source, path, `must be ≤ ${field.max}`);
      return value;
    }
    case 'bool':
      if (typeof value !== 'boolean') throw new ConfigError(source, path, 'must be true or false');
      return value;
    case 'stringList': {
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
        throw new ConfigError(source, path, 'must be a list of strings');
      }
      const bad = field.oneOf ? value.find((v) => !field.oneOf?.includes(v as string)) : undefined;
      if (bad !== undefined) throw new ConfigError(source, path, `has "${String(bad)}"; allowed: ${field.oneOf?.join(', ')}`);
      return [...(value as string[])];
    }
    case 'stringMap': {
      if (!isPlainObject(value) || Object.values(value).some((v) => typeof v !== 'string')) {
        throw new ConfigError(source, path, 'must be an object of string values');
      }
      return { ...(value as Record<string, string>) };
    }
    case 'object':
      return parseObject(field.fields, value, source, path);
    case 'list':
      if (!Array.isArray(value)) throw new ConfigError(source, path, 'must be a list');
      return value.map((item, i) => parseObject(field.of, item, source, join(path, i)));
  }
}

export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

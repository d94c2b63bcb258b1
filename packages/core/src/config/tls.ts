import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { ConfigError } from '../errors/errors.js';

/** libpq's `sslmode` values, with libpq's meanings. */
export const TLS_MODES = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type TlsMode = (typeof TLS_MODES)[number];

/** PEM text, as a string or a Buffer read from a file. */
export type Pem = string | Buffer;

/** The `tls` option of `DatabaseConfig`. */
export interface TlsOptions {
  /**
   * `disable`: plaintext. `prefer`: TLS when the server offers it, plaintext when it says it does
   * not. `require`: TLS, the certificate is not checked (or checked against `ca` when one is given,
   * as libpq does). `verify-ca`: TLS, the certificate must be signed by `ca` (default: Node's CA
   * list). `verify-full`: as verify-ca and the certificate must also name the host.
   */
  mode: TlsMode;
  /** CA certificate(s) that sign the server's certificate; default: the CAs Node trusts. */
  ca?: Pem | readonly Pem[];
  /** Client certificate, for servers that authenticate clients by certificate (needs `key`). */
  cert?: Pem;
  /** Private key of `cert` (unencrypted PEM); never shown in `toJSON()`, `hash()` or messages. */
  key?: Pem;
  /** Name the certificate must carry under verify-full, when it is not the host connected to. */
  servername?: string;
}

const OPTION_KEYS = new Set(['mode', 'ca', 'cert', 'key', 'servername']);

/**
 * Validated TLS settings of a config. Drivers read `encrypt`, `verifyChain`, `verifyHost` and
 * `fallbackToPlain` rather than re-deriving them from `mode`.
 */
export class TlsSettings {
  readonly mode: TlsMode;
  readonly ca: string | undefined;
  readonly cert: string | undefined;
  readonly servername: string | undefined;
  /** False only for `disable`. */
  readonly encrypt: boolean;
  /** The certificate chain must lead to a trusted CA: verify-ca, verify-full, and require with a `ca` (libpq's rule). */
  readonly verifyChain: boolean;
  /** The certificate must name `servername` or the host: verify-full. */
  readonly verifyHost: boolean;
  /** `prefer`: connect in plaintext when the server answers that it has no TLS. */
  readonly fallbackToPlain: boolean;
  readonly #key: string | undefined;

  constructor(where: string, options: TlsOptions) {
    if (options === null || typeof options !== 'object' || Array.isArray(options)) {
      throw new ConfigError(`${where}: "tls" must be an object such as { mode: 'verify-full' }`);
    }
    for (const key of Object.keys(options)) {
      if (!OPTION_KEYS.has(key)) throw new ConfigError(`${where}: unknown option "tls.${key}" (known: ${[...OPTION_KEYS].join(', ')})`);
    }
    if (!TLS_MODES.includes(options.mode)) {
      throw new ConfigError(`${where}: "tls.mode" must be one of ${TLS_MODES.join(', ')}, got ${describe(options.mode)}`);
    }
    this.mode = options.mode;
    this.ca = pemText(where, 'ca', options.ca, true);
    this.cert = pemText(where, 'cert', options.cert, false);
    this.#key = pemText(where, 'key', options.key, false);
    if (options.servername !== undefined && (typeof options.servername !== 'string' || options.servername === '')) {
      throw new ConfigError(`${where}: "tls.servername" must be a non-empty string`);
    }
    this.servername = options.servername;

    // Settings the mode would not use are mistakes, not something to drop silently.
    if (this.mode === 'disable' && (this.ca ?? this.cert ?? this.#key ?? this.servername) !== undefined) {
      throw new ConfigError(`${where}: tls.mode 'disable' takes no ca, cert, key or servername`);
    }
    if (this.mode === 'prefer' && this.ca !== undefined) {
      throw new ConfigError(`${where}: tls.mode 'prefer' never checks the server's certificate, so "tls.ca" would be unused: use 'verify-full'`);
    }
    if (this.servername !== undefined && this.mode !== 'verify-full') {
      throw new ConfigError(`${where}: "tls.servername" is the name verify-full checks, so it needs tls.mode 'verify-full'`);
    }
    if ((this.cert === undefined) !== (this.#key === undefined)) {
      throw new ConfigError(`${where}: "tls.cert" and "tls.key" go together (a client certificate and its private key)`);
    }
    checkPem(where, this.ca, this.cert, this.#key);

    this.encrypt = this.mode !== 'disable';
    this.verifyChain = this.mode === 'verify-ca' || this.mode === 'verify-full' || (this.mode === 'require' && this.ca !== undefined);
    this.verifyHost = this.mode === 'verify-full';
    this.fallbackToPlain = this.mode === 'prefer';
    Object.freeze(this);
  }

  /** The client certificate's private key, for drivers only. */
  get key(): string | undefined {
    return this.#key;
  }

  /** The settings with certificates as fingerprints and the key redacted. */
  toJSON(): Record<string, unknown> {
    return {
      mode: this.mode,
      ca: fingerprint(this.ca),
      cert: fingerprint(this.cert),
      key: this.#key === undefined ? undefined : '***',
      servername: this.servername,
    };
  }

  /** Part of the config hash: two keys must not share a pool, yet the key itself is never shown. */
  hashInput(): string {
    return JSON.stringify([this.toJSON(), fingerprint(this.#key)]);
  }

  /** The options object this was built from (key included), for `DatabaseConfig.with()`. */
  toOptions(): TlsOptions {
    const options: TlsOptions = { mode: this.mode };
    if (this.ca !== undefined) options.ca = this.ca;
    if (this.cert !== undefined) options.cert = this.cert;
    if (this.#key !== undefined) options.key = this.#key;
    if (this.servername !== undefined) options.servername = this.servername;
    return options;
  }

  [inspect.custom](): string {
    return `TlsSettings ${inspect(this.toJSON())}`;
  }
}

/** `sslmode` and friends of a connection URL, libpq's names; paths are read here. */
export const TLS_URL_PARAMETERS = ['sslmode', 'ssl', 'sslrootcert', 'sslcert', 'sslkey'] as const;

/**
 * The `tls` option described by a URL's query parameters, or undefined when it names none.
 * `ssl=true` is `require`; `sslrootcert=system` means Node's own CA list.
 * @throws {ConfigError} for an unknown mode, an unreadable file or a contradiction.
 */
export function tlsFromUrlParameters(params: ReadonlyMap<string, string>): TlsOptions | undefined {
  const where = 'DatabaseConfig.fromUrl';
  if (!TLS_URL_PARAMETERS.some((name) => params.has(name))) return undefined;
  const sslmode = params.get('sslmode');
  const ssl = params.get('ssl');
  if (ssl !== undefined && ssl !== 'true' && ssl !== 'false') throw new ConfigError(`${where}: "ssl" must be true or false, got "${ssl}"`);
  if (ssl !== undefined && sslmode !== undefined) throw new ConfigError(`${where}: give either "ssl" or "sslmode", not both`);
  const mode = sslmode ?? (ssl === undefined ? undefined : ssl === 'true' ? 'require' : 'disable');
  const rootcert = params.get('sslrootcert');
  if (mode === undefined) {
    // libpq would default to prefer, which never checks the certificate the URL points at.
    throw new ConfigError(`${where}: "sslrootcert", "sslcert" and "sslkey" need "sslmode" (verify-full is the one that checks the server)`);
  }
  if (!(TLS_MODES as readonly string[]).includes(mode)) {
    throw new ConfigError(`${where}: "sslmode" must be one of ${TLS_MODES.join(', ')}, got "${mode}"`);
  }
  const options: TlsOptions = { mode: mode as TlsMode };
  if (rootcert !== undefined && rootcert !== 'system') options.ca = readPemFile('sslrootcert', rootcert);
  const cert = params.get('sslcert');
  const key = params.get('sslkey');
  if (cert !== undefined) options.cert = readPemFile('sslcert', cert);
  if (key !== undefined) options.key = readPemFile('sslkey', key);
  return options;
}

function readPemFile(parameter: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    const reason = (cause as { code?: string }).code ?? 'unreadable';
    throw new ConfigError(`DatabaseConfig.fromUrl: cannot read the "${parameter}" file ${path} (${reason})`);
  }
}

/**
 * Why a TLS connection attempt failed, when it did for a reason retrying cannot fix: the
 * certificate is not trusted, does not name the host, or the handshake itself failed.
 * Undefined for any other error. Drivers turn this into a non-retryable `ConnectionError`.
 * `inHandshake`: the caller knows the error came from the TLS handshake but the client library
 * replaced Node's error code (mysql2 does), so the reason is read from the message.
 */
export function describeTlsFailure(error: unknown, inHandshake = false): string | undefined {
  const rawCode = (error as { code?: unknown } | null)?.code;
  const code = typeof rawCode === 'string' ? rawCode : '';
  const message = error instanceof Error ? error.message : String(error);
  const known = code === 'ERR_TLS_CERT_ALTNAME_INVALID' || CERTIFICATE_CODES.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_');
  if (!known && !inHandshake) return undefined;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || (!known && message.includes("does not match certificate's altnames"))) {
    return `TLS: the server's certificate does not name the host connected to (${message}); connect by a name the certificate carries`;
  }
  if (CERTIFICATE_CODES.has(code) || (!known && /certificate/i.test(message))) {
    return `TLS: the server's certificate is not trusted (${message}); tls.ca must hold the CA that signed it`;
  }
  return `TLS handshake failed (${message})`;
}

/** OpenSSL's verification results as Node reports them in `error.code`. */
const CERTIFICATE_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'HOSTNAME_MISMATCH',
]);

function pemText(where: string, name: string, value: unknown, allowList: boolean): string | undefined {
  if (value === undefined) return undefined;
  const parts = allowList && Array.isArray(value) ? (value as unknown[]) : [value];
  if (parts.length === 0) throw new ConfigError(`${where}: "tls.${name}" must not be empty`);
  const texts = parts.map((part) => {
    if (typeof part === 'string') return part;
    if (Buffer.isBuffer(part)) return part.toString('utf8');
    throw new ConfigError(`${where}: "tls.${name}" must be PEM text (a string or Buffer${allowList ? ', or an array of them' : ''})`);
  });
  const text = texts.join('\n');
  if (!text.includes('-----BEGIN ')) {
    throw new ConfigError(`${where}: "tls.${name}" must be PEM text ("-----BEGIN ..."), not a file path: read the file, or use sslrootcert/sslcert/sslkey in a URL`);
  }
  return text;
}

/** Parse the material now, so a bad file is a ConfigError and not a failed connection later. */
function checkPem(where: string, ca: string | undefined, cert: string | undefined, key: string | undefined): void {
  if (ca !== undefined) {
    const blocks = ca.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    if (blocks.length === 0) throw new ConfigError(`${where}: "tls.ca" holds no PEM certificate ("-----BEGIN CERTIFICATE-----")`);
    for (const block of blocks) {
      try {
        new X509Certificate(block);
      } catch (cause) {
        throw new ConfigError(`${where}: "tls.ca" is not a valid PEM certificate (${reasonOf(cause)})`);
      }
    }
  }
  if (cert !== undefined && key !== undefined) {
    let matches: boolean;
    try {
      matches = new X509Certificate(cert).checkPrivateKey(createPrivateKey(key));
    } catch (cause) {
      // The reason ("unsupported", "bad decrypt", ...) never quotes the key.
      throw new ConfigError(`${where}: "tls.cert"/"tls.key" are not a valid certificate and unencrypted private key (${reasonOf(cause)})`);
    }
    if (!matches) throw new ConfigError(`${where}: "tls.key" is not the private key of "tls.cert"`);
  }
}

function reasonOf(cause: unknown): string {
  return cause instanceof Error ? cause.message : 'invalid';
}

function fingerprint(pem: string | undefined): string | undefined {
  return pem === undefined ? undefined : `sha256:${createHash('sha256').update(pem).digest('hex').slice(0, 16)}`;
}

function describe(value: unknown): string {
  return typeof value === 'string' ? `"${value}"` : String(value);
}

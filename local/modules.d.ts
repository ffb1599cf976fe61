// Type declarations for the local stand-ins, which ship none of their own.

declare module 'dynalite' {
  import type { Server } from 'node:http';
  interface DynaliteOptions {
    /** Milliseconds a new table stays CREATING. */
    createTableMs?: number;
    deleteTableMs?: number;
    updateTableMs?: number;
    /** LevelDB folder; in memory when unset. */
    path?: string;
    ssl?: boolean;
  }
  function dynalite(options?: DynaliteOptions): Server;
  export default dynalite;
}

declare module 's3rver' {
  import type { EventEmitter } from 'node:events';
  import type { AddressInfo } from 'node:net';
  interface S3rverOptions {
    address?: string;
    port?: number;
    directory: string;
    silent?: boolean;
    configureBuckets?: Array<{ name: string; configs: Array<string | Buffer> }>;
  }
  class S3rver extends EventEmitter {
    public constructor(options: S3rverOptions);
    public run(): Promise<AddressInfo>;
    public close(): Promise<void>;
  }
  export default S3rver;
}

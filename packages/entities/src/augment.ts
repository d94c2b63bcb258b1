/**
 * `import '@dal/entities'` adds the entity methods to `Connection` and `SyncConnection`
 * (prototype and TypeScript types). Each method calls the standalone function of the same name.
 */
import { Connection, SyncConnection } from '@dal/core';
import * as entities from './entities.js';
import { registerSerializer, type SerializerOptions } from './serializers.js';
import type {
  CountOptions,
  DeleteOptions,
  EntityData,
  EntityVersion,
  FindOptions,
  HistoryOptions,
  ReadOptions,
  RestoreOptions,
  SaveOptions,
  SavedEntity,
  StoredEntity,
} from './types.js';

declare module '@dal/core' {
  interface Connection {
    /** @see saveEntity */
    saveEntity<T extends object>(entity: string, data: T, options?: SaveOptions): Promise<SavedEntity<T>>;
    /** @see saveEntities */
    saveEntities<T extends object>(entity: string, data: readonly T[], options?: SaveOptions): Promise<SavedEntity<T>[]>;
    /** @see getEntity */
    getEntity<T extends object = EntityData>(entity: string, id: string, options?: ReadOptions): Promise<StoredEntity<T> | null>;
    /** @see findEntities */
    findEntities<T extends object = EntityData>(entity: string, options?: FindOptions): Promise<StoredEntity<T>[]>;
    /** @see countEntities */
    countEntities(entity: string, options?: CountOptions): Promise<number>;
    /** @see deleteEntity */
    deleteEntity(entity: string, id: string, options?: DeleteOptions): Promise<boolean>;
    /** @see restoreEntity */
    restoreEntity(entity: string, id: string, options?: RestoreOptions): Promise<boolean>;
    /** @see getEntityHistory */
    getEntityHistory<T extends object = EntityData>(entity: string, id: string, options?: HistoryOptions): Promise<EntityVersion<T>[]>;
    /** @see getEntityByVersion */
    getEntityByVersion<T extends object = EntityData>(entity: string, id: string, version: number, options?: HistoryOptions): Promise<EntityVersion<T> | null>;
    /** @see registerSerializer (process-wide) */
    registerSerializer<T>(name: string, serialize: (value: T) => string, deserialize: (text: string) => T, options?: SerializerOptions): void;
  }
  interface SyncConnection {
    /** @see saveEntity */
    saveEntity<T extends object>(entity: string, data: T, options?: SaveOptions): SavedEntity<T>;
    /** @see saveEntities */
    saveEntities<T extends object>(entity: string, data: readonly T[], options?: SaveOptions): SavedEntity<T>[];
    /** @see getEntity */
    getEntity<T extends object = EntityData>(entity: string, id: string, options?: ReadOptions): StoredEntity<T> | null;
    /** @see findEntities */
    findEntities<T extends object = EntityData>(entity: string, options?: FindOptions): StoredEntity<T>[];
    /** @see countEntities */
    countEntities(entity: string, options?: CountOptions): number;
    /** @see deleteEntity */
    deleteEntity(entity: string, id: string, options?: DeleteOptions): boolean;
    /** @see restoreEntity */
    restoreEntity(entity: string, id: string, options?: RestoreOptions): boolean;
    /** @see getEntityHistory */
    getEntityHistory<T extends object = EntityData>(entity: string, id: string, options?: HistoryOptions): EntityVersion<T>[];
    /** @see getEntityByVersion */
    getEntityByVersion<T extends object = EntityData>(entity: string, id: string, version: number, options?: HistoryOptions): EntityVersion<T> | null;
    /** @see registerSerializer (process-wide) */
    registerSerializer<T>(name: string, serialize: (value: T) => string, deserialize: (text: string) => T, options?: SerializerOptions): void;
  }
}

const methods = {
  saveEntity: entities.saveEntity,
  saveEntities: entities.saveEntities,
  getEntity: entities.getEntity,
  findEntities: entities.findEntities,
  countEntities: entities.countEntities,
  deleteEntity: entities.deleteEntity,
  restoreEntity: entities.restoreEntity,
  getEntityHistory: entities.getEntityHistory,
  getEntityByVersion: entities.getEntityByVersion,
} as const;

for (const target of [Connection.prototype, SyncConnection.prototype] as object[]) {
  for (const [name, fn] of Object.entries(methods)) {
    Object.defineProperty(target, name, {
      configurable: true,
      writable: true,
      value(this: entities.EntityConnection, ...args: unknown[]): unknown {
        return (fn as (conn: entities.EntityConnection, ...rest: unknown[]) => unknown)(this, ...args);
      },
    });
  }
  Object.defineProperty(target, 'registerSerializer', { configurable: true, writable: true, value: registerSerializer });
}

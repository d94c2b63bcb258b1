import { PoolManager } from '@dal/core';
import './augment.js';
import { entityCacheStats } from './schema-cache.js';

// The schema cache shows in every pool status (and so in @dal/metrics) as `caches.entityMetadata`.
PoolManager.registerCacheStats('entityMetadata', () => {
  const { hits, misses, evictions, size } = entityCacheStats();
  return { hits, misses, evictions, size };
});

export {
  saveEntity,
  saveEntities,
  getEntity,
  findEntities,
  countEntities,
  deleteEntity,
  restoreEntity,
  getEntityHistory,
  getEntityByVersion,
} from './entities.js';
export type { EntityConnection } from './entities.js';
export { registerSerializer, unregisterSerializer } from './serializers.js';
export { defineEntity, definedEntities, forgetEntity } from './definitions.js';
export type { DatabaseRef, DeclaredType, EntityDeclaration, EntityDefinition, FieldDeclaration, DeclaredField, DeclaredIndex } from './definitions.js';
export { planMigrations, applyMigrations, MIGRATIONS_TABLE } from './migrations.js';
export type { MigrationOptions, MigrationPlan, MigrationResult, MigrationStep, MigrationStepKind, SkippedChange } from './migrations.js';
export type { FieldType, SerializerOptions } from './serializers.js';
export { entityCacheStats, clearEntityCache, configureEntities, entitySettings } from './schema-cache.js';
export type { EntityCacheStats, EntitySettings } from './schema-cache.js';
export type {
  CountOptions,
  DeleteOptions,
  EntityCallOptions,
  EntityData,
  EntityHistoryFields,
  EntitySystemFields,
  EntityVersion,
  FindOptions,
  HistoryOptions,
  ReadOptions,
  RestoreOptions,
  SaveOptions,
  SavedEntity,
  SavedSystemFields,
  StoredEntity,
} from './types.js';
export { exportEntities } from './export-entities.js';
export type { ExportOptions, TransferProgress } from './export-entities.js';
export { importEntities } from './import-entities.js';
export type { ImportOptions, ImportResult, ImportedCounts } from './import-entities.js';
export { copyEntities, entityChecksums } from './copy-entities.js';
export type { CopyOptions, CopyResult, TableChecksum, TableVerification } from './copy-entities.js';
export { restoreEntitiesAsOf } from './restore-as-of.js';
export type { RestoreAsOfOptions, RestoreAsOfResult } from './restore-as-of.js';
export { ENTITY_EXPORT_FORMAT } from './transfer-format.js';
export type { ExportMetadata, ExportedEntity, ExportedField, ExportedRow } from './transfer-format.js';

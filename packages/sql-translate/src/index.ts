export { translate, checkParameterCount, quoteIdentifier } from './translate.js';
export { compile, translationCacheStats, configureTranslationCache, clearTranslationCache } from './cache.js';
export type { TranslationCacheStats, TranslationCacheOptions } from './cache.js';
export { TranslationError } from './translation-error.js';
export type { TranslationConstruct, TranslationErrorDetails } from './translation-error.js';
export type * from './types.js';

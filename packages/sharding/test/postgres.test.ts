import { shardingScenarios } from './scenarios.js';

shardingScenarios('postgres');

import { shardingScenarios } from './scenarios.js';

shardingScenarios('mysql');
